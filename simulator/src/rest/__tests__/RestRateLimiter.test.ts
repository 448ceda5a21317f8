import { describe, expect, it } from 'vitest';
import { RestRateLimiter } from '../RestRateLimiter.js';
import { RestRouteTable } from '../restRouteTable.js';

const MESSAGES = 'POST /channels/{channel_id}/messages';
const ME = 'GET /users/@me';
const CALLBACK = 'POST /interactions/{interaction_id}/{interaction_token}/callback';

function limiter(globalLimit = 50, invalidRequestLimit = 10_000): RestRateLimiter {
  return new RestRateLimiter({ globalLimit, invalidRequestLimit });
}

describe('RestRateLimiter buckets', () => {
  it('counts down a bucket per major parameter, refuses when empty and refills when the window ends', () => {
    const rl = limiter();
    rl.setRouteLimit(MESSAGES, { limit: 2, windowMs: 1_000 });

    const first = rl.acquire(MESSAGES, 'A', 0);
    expect(first).toMatchObject({ limited: false, bucket: { limit: 2, remaining: 1, resetAt: 1_000 } });
    expect(rl.acquire(MESSAGES, 'A', 10)).toMatchObject({
      limited: false,
      bucket: { remaining: 0, resetAt: 1_000 },
    });
    const refused = rl.acquire(MESSAGES, 'A', 20);
    expect(refused).toMatchObject({
      limited: true,
      scope: 'user',
      retryAfterMs: 980,
      bucket: { remaining: 0 },
    });
    expect(refused.bucket.hash).toBe(first.bucket.hash);

    expect(rl.acquire(MESSAGES, 'B', 20)).toMatchObject({ limited: false, bucket: { remaining: 1 } });
    expect(rl.acquire(MESSAGES, 'A', 1_000)).toMatchObject({
      limited: false,
      bucket: { remaining: 1, resetAt: 2_000 },
    });
    expect(rl.stats().byRoute[MESSAGES]).toEqual({ requests: 0, ratelimited: 1 });
  });

  it('gives each route its own stable bucket hash', () => {
    const rl = limiter();
    const messages = rl.acquire(MESSAGES, '1', 0).bucket.hash;
    expect(rl.acquire(ME, '', 0).bucket.hash).not.toBe(messages);
    expect(limiter().acquire(MESSAGES, '2', 0).bucket.hash).toBe(messages);
    expect(messages).toMatch(/^[0-9a-f]{32}$/);
  });

  it('rejects unknown routes and bad limits, and starts a changed route afresh', () => {
    const rl = limiter();
    expect(() => rl.setRouteLimit('GET /nope', { limit: 1, windowMs: 1 })).toThrow(
      /unknown route "GET \/nope"/,
    );
    expect(() => rl.setRouteLimit(MESSAGES, { limit: 0, windowMs: 1_000 })).toThrow(RangeError);
    rl.setRouteLimit(MESSAGES, { limit: 1, windowMs: 60_000 });
    rl.acquire(MESSAGES, 'A', 0);
    expect(rl.acquire(MESSAGES, 'A', 1).limited).toBe(true);
    rl.setRouteLimit(MESSAGES, { limit: 3, windowMs: 60_000 });
    expect(rl.acquire(MESSAGES, 'A', 2)).toMatchObject({
      limited: false,
      bucket: { limit: 3, remaining: 2 },
    });
  });
});

describe('RestRateLimiter global limit', () => {
  it('admits at most globalLimit requests in any 1000 ms, refusing without consuming anything', () => {
    const rl = limiter(3);
    for (const [index, now] of [0, 100, 200].entries()) {
      expect(rl.acquire(ME, '', now).limited, `request ${index}`).toBe(false);
    }
    expect(rl.acquire(ME, '', 300)).toMatchObject({ limited: true, scope: 'global', retryAfterMs: 700 });
    expect(rl.acquire(ME, '', 999).limited).toBe(true);
    expect(rl.acquire(ME, '', 1_000).limited).toBe(false);
    expect(rl.acquire(ME, '', 1_050)).toMatchObject({ limited: true, scope: 'global', retryAfterMs: 50 });
    expect(rl.acquire(ME, '', 1_100).limited).toBe(false);
  });

  it('takes nothing from the bucket when it refuses a request', () => {
    const rl = limiter(1);
    expect(rl.acquire(ME, '', 0)).toMatchObject({ limited: false, bucket: { remaining: 49 } });
    expect(rl.acquire(ME, '', 1)).toMatchObject({
      limited: true,
      scope: 'global',
      bucket: { remaining: 49 },
    });
    rl.setGlobalLimit(2);
    expect(rl.acquire(ME, '', 2)).toMatchObject({ limited: false, bucket: { remaining: 48 } });
  });

  it('does not apply to interaction callbacks', () => {
    const rl = limiter(1);
    expect(rl.acquire(ME, '', 0).limited).toBe(false);
    expect(rl.acquire(ME, '', 1).limited).toBe(true);
    expect(rl.acquire(CALLBACK, '1:token', 2).limited).toBe(false);
  });

  it('changes at run time', () => {
    const rl = limiter(1);
    rl.acquire(ME, '', 0);
    expect(rl.acquire(ME, '', 1).limited).toBe(true);
    rl.setGlobalLimit(2);
    expect(rl.globalLimit).toBe(2);
    expect(rl.acquire(ME, '', 2).limited).toBe(false);
    expect(() => rl.setGlobalLimit(0)).toThrow(RangeError);
  });

  it('reports the peak arrivals of non-exempt requests in any 1000 ms, whatever their answer', () => {
    const rl = limiter(2);
    for (let index = 0; index < 5; index++) rl.arrive(ME, 0);
    for (let index = 0; index < 3; index++) rl.arrive(null, 999);
    for (let index = 0; index < 20; index++) rl.arrive(CALLBACK, 999);
    rl.arrive(ME, 1_000);
    expect(rl.stats()).toMatchObject({ requests: 29, peakPerSecond: 8 });
  });
});

describe('RestRateLimiter forced 429s', () => {
  it('answers the next count matching requests with the forced scope and retry', () => {
    const rl = limiter();
    rl.force429({ count: 2, retryAfterMs: 1_500, scope: 'shared', route: MESSAGES });
    expect(rl.pendingForced429s).toBe(2);
    expect(rl.acquire(ME, '', 0).limited).toBe(false);
    expect(rl.acquire(MESSAGES, 'A', 0)).toMatchObject({
      limited: true,
      scope: 'shared',
      retryAfterMs: 1_500,
    });
    expect(rl.acquire(MESSAGES, 'B', 0)).toMatchObject({ limited: true, scope: 'shared' });
    expect(rl.acquire(MESSAGES, 'A', 0)).toMatchObject({ limited: false, bucket: { remaining: 4 } });
    expect(rl.stats()).toMatchObject({ ratelimited: 2, invalid: 0 });
  });

  it('reports an empty bucket for a forced user 429 and counts it invalid', () => {
    const rl = limiter();
    rl.force429({ count: 1, retryAfterMs: 700, scope: 'user' });
    const decision = rl.acquire(ME, '', 100);
    expect(decision).toMatchObject({ limited: true, scope: 'user', bucket: { remaining: 0, resetAt: 800 } });
    expect(rl.stats()).toMatchObject({ ratelimited: 1, invalid: 1 });
  });

  it('without a route, hits only routes under the global limit', () => {
    const rl = limiter();
    rl.force429({ count: 1, retryAfterMs: 100, scope: 'global' });
    expect(rl.acquire(CALLBACK, '1:t', 0).limited).toBe(false);
    expect(rl.acquire(ME, '', 0)).toMatchObject({ limited: true, scope: 'global' });
    expect(rl.pendingForced429s).toBe(0);
  });
});

describe('RestRateLimiter invalid requests', () => {
  it('bans once the invalid requests of the last 10 minutes reach the limit, until the oldest leave', () => {
    const rl = limiter(50, 3);
    rl.recordInvalid(0);
    rl.recordInvalid(1_000);
    expect(rl.arrive(ME, 1_500)).toBe(0);
    rl.recordInvalid(2_000);
    expect(rl.arrive(ME, 2_500)).toBe(600_000 - 2_500);
    expect(rl.arrive(null, 599_999)).toBe(1);
    expect(rl.arrive(ME, 600_000)).toBe(0);
    expect(rl.stats()).toMatchObject({ invalid: 3, banned: 2, requests: 4 });
  });

  it('counts 429s of scope user and global, not shared', () => {
    const rl = limiter(1, 2);
    rl.acquire(ME, '', 0);
    expect(rl.acquire(ME, '', 1).limited).toBe(true);
    rl.force429({ count: 5, retryAfterMs: 10, scope: 'shared' });
    for (let index = 0; index < 5; index++) rl.acquire(ME, '', 2);
    expect(rl.arrive(ME, 3)).toBe(0);
    rl.setRouteLimit(MESSAGES, { limit: 1, windowMs: 1_000 });
    rl.setGlobalLimit(10);
    rl.acquire(MESSAGES, 'A', 4);
    expect(rl.acquire(MESSAGES, 'A', 5)).toMatchObject({ scope: 'user' });
    expect(rl.arrive(ME, 6)).toBeGreaterThan(0);
  });
});

describe('RestRateLimiter.reset', () => {
  it('restores the default limits and forgets buckets, forced 429s, the ban and the counters', () => {
    const rl = limiter(5, 1);
    rl.setRouteLimit(MESSAGES, { limit: 1, windowMs: 60_000 });
    rl.setGlobalLimit(1);
    rl.force429({ count: 3, retryAfterMs: 10, scope: 'user' });
    rl.recordInvalid(0);
    rl.arrive(ME, 0);
    rl.reset();
    expect(rl.globalLimit).toBe(5);
    expect(rl.limits().routes[MESSAGES]).toEqual({
      limit: RestRouteTable[MESSAGES].limit,
      windowMs: RestRouteTable[MESSAGES].windowMs,
    });
    expect(rl.pendingForced429s).toBe(0);
    expect(rl.arrive(ME, 1)).toBe(0);
    expect(rl.acquire(MESSAGES, 'A', 1)).toMatchObject({ limited: false, bucket: { remaining: 4 } });
    expect(rl.stats()).toMatchObject({
      requests: 1,
      ratelimited: 0,
      invalid: 0,
      banned: 0,
      peakPerSecond: 1,
    });
  });
});
