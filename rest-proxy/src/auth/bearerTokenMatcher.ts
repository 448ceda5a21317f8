import { hash, timingSafeEqual } from 'node:crypto';

/** One-shot hashing: no `Hash` object per request. */
function digest(value: string): Buffer {
  return hash('sha256', value, 'buffer');
}

/**
 * A check of an `Authorization` header against `Bearer <token>` that takes the same time
 * whatever the header holds: both sides are hashed first, so not even the length leaks.
 */
export function bearerTokenMatcher(token: string): (authorization: string | undefined) => boolean {
  const expected = digest(`Bearer ${token}`);
  return (authorization) => authorization !== undefined && timingSafeEqual(digest(authorization), expected);
}
