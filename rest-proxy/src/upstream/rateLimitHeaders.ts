import type { IncomingHttpHeaders } from 'node:http';
import type { RateLimitHeaders } from '../ratelimit/RateLimitStore.js';

function header(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function number(headers: IncomingHttpHeaders, name: string): number | null {
  const value = header(headers, name);
  if (value === undefined || value.trim() === '') return null;
  const parsed = Number(value);
  return Number.isFinite(parsed) ? parsed : null;
}

function milliseconds(headers: IncomingHttpHeaders, name: string): number | null {
  const seconds = number(headers, name);
  return seconds === null ? null : Math.ceil(seconds * 1_000);
}

/** Reads Discord's `X-RateLimit-*` and `Retry-After` headers. */
export function parseRateLimitHeaders(headers: IncomingHttpHeaders): RateLimitHeaders {
  return {
    limit: number(headers, 'x-ratelimit-limit'),
    remaining: number(headers, 'x-ratelimit-remaining'),
    resetEpochSeconds: number(headers, 'x-ratelimit-reset'),
    resetAfterMs: milliseconds(headers, 'x-ratelimit-reset-after'),
    bucket: header(headers, 'x-ratelimit-bucket') ?? null,
    retryAfterMs: milliseconds(headers, 'retry-after'),
    scope: header(headers, 'x-ratelimit-scope') ?? null,
    global: header(headers, 'x-ratelimit-global')?.toLowerCase() === 'true',
  };
}
