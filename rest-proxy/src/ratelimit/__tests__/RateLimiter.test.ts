import { describe, expect, it } from 'vitest';
import { LocalRateLimitStore } from '../LocalRateLimitStore.js';
import { ProxyRateLimitError } from '../ProxyRateLimitError.js';
import { type AbortWatcher, RateLimiter } from '../RateLimiter.js';
import type { RateLimitKey, UpstreamOutcome } from '../RateLimitStore.js';

const ROUTE: RateLimitKey = { routeId: 'POST /channels/:id/messages', majorParameter: '1', global: true };

function answer(limit: number, remaining: number, resetAfterMs: number): UpstreamOutcome {
  return {
    status: 200,
    headers: {
      limit,
      remaining,
      resetEpochSeconds: (Date.now() + resetAfterMs) / 1_000,
      resetAfterMs,
      bucket: 'abcd',
      retryAfterMs: null,
      scope: null,
      global: false,
    },
  };
}

function limiter(options: { queueTimeoutMs?: number; queueLimit?: number } = {}) {
  const store = new LocalRateLimitStore({ globalLimit: 1_000, invalidRequestLimit: 1_000 });
  return new RateLimiter(store, {
    queueTimeoutMs: options.queueTimeoutMs ?? 30_000,
    queueLimit: options.queueLimit ?? 100,
    invalidRequestLimit: 1_000,
  });
}

describe('RateLimiter', () => {
  it('answers at once when the bucket frees only after the bound', async () => {
    const limits = limiter({ queueTimeoutMs: 1_000 });
    await limits.release(await limits.acquire(ROUTE), answer(1, 0, 60_000));
    const refused = await limits.acquire(ROUTE).catch((error: unknown) => error);
    expect(refused).toBeInstanceOf(ProxyRateLimitError);
    expect(refused).toMatchObject({ scope: 'bucket' });
    expect((refused as ProxyRateLimitError).retryAfterMs).toBeGreaterThan(55_000);
    expect(limits.waiting).toBe(0);
  });

  it('lets waiting requests through in arrival order as their bucket frees', async () => {
    const limits = limiter();
    await limits.release(await limits.acquire(ROUTE), answer(1, 0, 100));
    const order: number[] = [];
    const waiting = [1, 2, 3].map((index) =>
      limits.acquire(ROUTE).then(async (ticket) => {
        order.push(index);
        await limits.release(ticket, answer(1, 0, 100));
      }),
    );
    await Promise.all(waiting);
    expect(order).toEqual([1, 2, 3]);
  });

  it('refuses past the queue limit and drops a waiter whose caller went away', async () => {
    const limits = limiter({ queueLimit: 1 });
    const probe = await limits.acquire(ROUTE);
    let abort: ((reason: Error) => void) | undefined;
    const watch: AbortWatcher = (callback) => {
      abort = callback;
      return () => undefined;
    };
    const first = limits.acquire(ROUTE, watch);
    await expect(limits.acquire(ROUTE)).rejects.toMatchObject({ scope: 'queue' });
    expect(limits.waiting).toBe(1);
    abort?.(new Error('gone'));
    await expect(first).rejects.toThrow('gone');
    expect(limits.waiting).toBe(0);
    await limits.release(probe, answer(5, 4, 5_000));
    await limits.release(await limits.acquire(ROUTE), answer(5, 3, 5_000));
  });
});
