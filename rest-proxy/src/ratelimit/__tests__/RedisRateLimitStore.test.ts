import { RedisServer } from '@shardfleet/testing';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RateLimitKey, Reservation, Ticket, UpstreamOutcome } from '../RateLimitStore.js';
import { RedisRateLimitStore } from '../RedisRateLimitStore.js';

let server: RedisServer;
let redis: Redis;
let testIndex = 0;

beforeAll(async () => {
  server = await RedisServer.start();
  redis = new Redis(server.url);
});

afterAll(async () => {
  redis.disconnect();
  await server.stop();
});

/** A store with its own key prefix, and a second one sharing it (another replica). */
function replicas(options: { globalLimit?: number; invalidRequestLimit?: number } = {}) {
  const prefix = `sf:{test.store-${testIndex++}}:rest:`;
  const make = () =>
    new RedisRateLimitStore(redis, {
      prefix,
      globalLimit: options.globalLimit ?? 1_000,
      invalidRequestLimit: options.invalidRequestLimit ?? 1_000,
      inFlightTtlMs: 30_000,
    });
  return [make(), make()] as const;
}

const ROUTE: RateLimitKey = { routeId: 'POST /channels/:id/messages', majorParameter: '1', global: true };

function ticketOf(reservation: Reservation): Ticket {
  if (!reservation.granted) throw new Error(`denied: ${reservation.reason}`);
  return reservation.ticket;
}

function answer(limit: number, remaining: number, status = 200): UpstreamOutcome {
  return {
    status,
    headers: {
      limit,
      remaining,
      resetEpochSeconds: Date.now() / 1_000 + 60,
      resetAfterMs: 60_000,
      bucket: 'abcd',
      retryAfterMs: null,
      scope: null,
      global: false,
    },
  };
}

describe('RedisRateLimitStore', () => {
  it('lets one request of an unknown bucket through across replicas, then as many as remain', async () => {
    const [first, second] = replicas();
    const probe = ticketOf(await first.reserve(ROUTE));
    expect(await second.reserve(ROUTE)).toEqual({ granted: false, reason: 'bucket', retryAfterMs: null });
    await first.settle(probe, answer(5, 4));
    const granted = await Promise.all(
      [1, 2, 3, 4, 5, 6].map((index) => (index % 2 ? first : second).reserve(ROUTE)),
    );
    expect(granted.filter((reservation) => reservation.granted)).toHaveLength(4);
    const denied = granted.find((reservation) => !reservation.granted);
    expect(denied).toMatchObject({ reason: 'bucket' });
    expect((denied as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(50_000);
  });

  it('holds the global limit across replicas', async () => {
    const [first, second] = replicas({ globalLimit: 3 });
    const keys = [1, 2, 3, 4].map((major) => ({
      ...ROUTE,
      routeId: `GET /guilds/:id`,
      majorParameter: String(major),
    }));
    ticketOf(await first.reserve(keys[0] as RateLimitKey));
    ticketOf(await second.reserve(keys[1] as RateLimitKey));
    const third = ticketOf(await first.reserve(keys[2] as RateLimitKey));
    expect(await second.reserve(keys[3] as RateLimitKey)).toMatchObject({ granted: false, reason: 'global' });
    await first.settle(third, answer(50, 49));
    const waiting = await second.reserve(keys[3] as RateLimitKey);
    expect(waiting).toMatchObject({ granted: false, reason: 'global' });
    expect((waiting as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(900);
  });

  it('shares the invalid-request count and stops both replicas at the limit', async () => {
    const [first, second] = replicas({ invalidRequestLimit: 2 });
    const other = { ...ROUTE, majorParameter: '2' };
    await first.settle(ticketOf(await first.reserve(ROUTE)), answer(5, 4, 403));
    await second.settle(ticketOf(await second.reserve(other)), answer(5, 4, 401));
    expect(await first.invalidRequests()).toBe(2);
    for (const store of [first, second]) {
      const stopped = await store.reserve({ ...ROUTE, majorParameter: '3' });
      expect(stopped).toMatchObject({ granted: false, reason: 'invalid' });
      expect((stopped as { retryAfterMs: number }).retryAfterMs).toBeGreaterThan(590_000);
    }
  });

  it('counts live replicas through heartbeats', async () => {
    const [first, second] = replicas();
    expect(await first.heartbeat()).toBe(1);
    expect(await second.heartbeat()).toBe(2);
    expect(await first.heartbeat()).toBe(2);
  });
});
