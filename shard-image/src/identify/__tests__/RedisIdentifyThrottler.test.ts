import { redisKeys } from '@shardfleet/protocol';
import { RedisServer } from '@shardfleet/testing';
import { Redis } from 'ioredis';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentifyBudget } from '../IdentifyBudget.js';
import { RedisIdentifyThrottler } from '../RedisIdentifyThrottler.js';

const INTERVAL_MS = 5_000;
const MARGIN_MS = 100;
const keys = redisKeys('test.throttler');

/** Keeps the event loop busy, as a process handling a flood of events does. */
function busy(ms: number) {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

describe('RedisIdentifyThrottler', () => {
  let redisServer: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = new Redis(redisServer.url);
  }, 60_000);

  afterAll(async () => {
    redis?.disconnect();
    await redisServer?.stop();
  });

  /** A throttler on `client`; `margin` `{}` leaves the margin at its default. */
  function throttler(client: Redis, margin: { marginMs?: number } = { marginMs: MARGIN_MS }) {
    const budget = new IdentifyBudget({
      fetchLimit: async () => ({ total: 1_000, remaining: 1_000, reset_after: 0, max_concurrency: 1 }),
      reservePercent: 5,
      maxAgeMs: 60_000,
    });
    return new RedisIdentifyThrottler({
      redis: client,
      keys,
      logger: pino({ level: 'silent' }),
      budget,
      listener: { onWaiting() {}, onRefused() {}, onGranted() {} },
      maxConcurrency: 1,
      intervalMs: INTERVAL_MS,
      ...margin,
      holder: 'test',
    });
  }

  it('restarts the lock when the grant came back late, so the next identify cannot come early', async () => {
    await redis.del(keys.identify(0));
    // The lock's answer reaches the shard 400 ms after Redis set it: the interval the next shard
    // waits for would otherwise end 400 ms after this identify instead of 5 s after it.
    const slowToAnswer = new Proxy(redis, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (property !== 'set') return typeof value === 'function' ? value.bind(target) : value;
        return async (...args: unknown[]) => {
          const answer = await (value as (...a: unknown[]) => Promise<unknown>).apply(target, args);
          busy(400);
          return answer;
        };
      },
    });
    await throttler(slowToAnswer).waitForIdentify(0, new AbortController().signal);
    expect(await redis.pttl(keys.identify(0))).toBeGreaterThan(INTERVAL_MS);
  });

  it('keeps the lock a fifth of the interval longer by default, for stalls and network jitter', async () => {
    await redis.del(keys.identify(0));
    await throttler(redis, {}).waitForIdentify(0, new AbortController().signal);
    const ttl = await redis.pttl(keys.identify(0));
    expect(ttl).toBeGreaterThan(INTERVAL_MS + 900);
    expect(ttl).toBeLessThanOrEqual(INTERVAL_MS + 1_000);
  });

  it('leaves a promptly answered lock as it was set', async () => {
    await redis.del(keys.identify(0));
    let calls = 0;
    const counting = new Proxy(redis, {
      get(target, property, receiver) {
        const value = Reflect.get(target, property, receiver);
        if (typeof value !== 'function') return value;
        return (...args: unknown[]) => {
          if (property === 'set' || property === 'eval') calls++;
          return value.apply(target, args);
        };
      },
    });
    await throttler(counting).waitForIdentify(0, new AbortController().signal);
    expect(calls).toBe(1);
    expect(await redis.get(keys.identify(0))).toBe('test shard 0 #1');
  });
});
