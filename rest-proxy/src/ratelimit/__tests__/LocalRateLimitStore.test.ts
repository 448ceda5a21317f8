import { describe, expect, it } from 'vitest';
import { LocalRateLimitStore } from '../LocalRateLimitStore.js';
import type {
  RateLimitHeaders,
  RateLimitKey,
  Reservation,
  Ticket,
  UpstreamOutcome,
} from '../RateLimitStore.js';

const ROUTE: RateLimitKey = { routeId: 'POST /channels/1/messages', majorParameter: '1', global: true };
const T0 = 1_000_000;

function headers(fields: Partial<RateLimitHeaders>): RateLimitHeaders {
  return {
    limit: null,
    remaining: null,
    resetEpochSeconds: null,
    resetAfterMs: null,
    bucket: null,
    retryAfterMs: null,
    scope: null,
    global: false,
    ...fields,
  };
}

/** An answer from a bucket of `limit` whose window ends at `resetAt` (ms), seen at `now`. */
function answer(
  limit: number,
  remaining: number,
  resetAt: number,
  now: number,
  status = 200,
): UpstreamOutcome {
  return {
    status,
    headers: headers({
      limit,
      remaining,
      resetEpochSeconds: resetAt / 1_000,
      resetAfterMs: resetAt - now,
      bucket: 'abc',
    }),
  };
}

function ticketOf(reservation: Reservation): Ticket {
  if (!reservation.granted) throw new Error(`denied: ${reservation.reason}`);
  return reservation.ticket;
}

function store(overrides: Partial<ConstructorParameters<typeof LocalRateLimitStore>[0]> = {}) {
  return new LocalRateLimitStore({ globalLimit: 1_000, invalidRequestLimit: 1_000, ...overrides });
}

describe('LocalRateLimitStore', () => {
  it('sends one request at a time while a bucket is unknown', () => {
    const limits = store();
    ticketOf(limits.reserveNow(ROUTE, T0));
    expect(limits.reserveNow(ROUTE, T0)).toEqual({ granted: false, reason: 'bucket', retryAfterMs: null });
  });

  it('sends in parallel while the known remaining allows, and never more', () => {
    const limits = store();
    const first = ticketOf(limits.reserveNow(ROUTE, T0));
    limits.settleNow(first, answer(5, 4, T0 + 5_000, T0 + 10), T0 + 10);
    for (let index = 0; index < 4; index++) ticketOf(limits.reserveNow(ROUTE, T0 + 20));
    const denied = limits.reserveNow(ROUTE, T0 + 20);
    expect(denied).toMatchObject({ granted: false, reason: 'bucket' });
    expect((denied as { retryAfterMs: number }).retryAfterMs).toBeGreaterThanOrEqual(4_980);
  });

  it('counts requests still in flight at a reset against the next window', () => {
    const limits = store();
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), answer(5, 4, T0 + 1_000, T0 + 10), T0 + 10);
    const inFlight = [1, 2, 3, 4].map(() => ticketOf(limits.reserveNow(ROUTE, T0 + 500)));
    expect(inFlight).toHaveLength(4);
    // The window is over, but the four may still reach Discord in the next one.
    ticketOf(limits.reserveNow(ROUTE, T0 + 1_100));
    expect(limits.reserveNow(ROUTE, T0 + 1_100)).toMatchObject({ granted: false, reason: 'bucket' });
  });

  it('frees the slot of a request in flight at a reset that landed in the old window', () => {
    const limits = store();
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), answer(2, 1, T0 + 1_000, T0 + 10), T0 + 10);
    const late = ticketOf(limits.reserveNow(ROUTE, T0 + 500));
    // The window is over: the late request may still count in the new one, so one slot is left.
    ticketOf(limits.reserveNow(ROUTE, T0 + 1_100));
    expect(limits.reserveNow(ROUTE, T0 + 1_100)).toEqual({
      granted: false,
      reason: 'bucket',
      retryAfterMs: null,
    });
    // It was counted in the old window after all.
    limits.settleNow(late, answer(2, 0, T0 + 1_000, T0 + 1_150), T0 + 1_150);
    ticketOf(limits.reserveNow(ROUTE, T0 + 1_160));
    expect(limits.reserveNow(ROUTE, T0 + 1_160)).toMatchObject({ granted: false });
  });

  it('tells windows a quarter second apart by their reset header', () => {
    const limits = store();
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), answer(1, 0, T0 + 250, T0 + 10), T0 + 10);
    const next = ticketOf(limits.reserveNow(ROUTE, T0 + 260));
    limits.settleNow(next, answer(1, 0, T0 + 510, T0 + 270), T0 + 270);
    expect(limits.reserveNow(ROUTE, T0 + 300)).toEqual({
      granted: false,
      reason: 'bucket',
      retryAfterMs: 210,
    });
    ticketOf(limits.reserveNow(ROUTE, T0 + 540));
  });

  it('ignores a late answer from an older window', () => {
    const limits = store();
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), answer(5, 4, T0 + 1_000, T0 + 10), T0 + 10);
    const late = ticketOf(limits.reserveNow(ROUTE, T0 + 900));
    // A new window begins and is learned from a fresh answer.
    const fresh = ticketOf(limits.reserveNow(ROUTE, T0 + 1_100));
    limits.settleNow(fresh, answer(5, 4, T0 + 2_100, T0 + 1_110), T0 + 1_110);
    // The late answer reports the old window's 0 remaining; 3 slots are still free now.
    limits.settleNow(late, answer(5, 0, T0 + 1_000, T0 + 1_120), T0 + 1_120);
    for (let index = 0; index < 3; index++) ticketOf(limits.reserveNow(ROUTE, T0 + 1_130));
    expect(limits.reserveNow(ROUTE, T0 + 1_130)).toMatchObject({ granted: false });
  });

  it('does not wedge a bucket whose new window got an answer without rate-limit headers', () => {
    const limits = store();
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), answer(1, 0, T0 + 1_000, T0 + 10), T0 + 10);
    // The window is over; the next request starts a new one but Discord answers 502 bare.
    const bare = ticketOf(limits.reserveNow(ROUTE, T0 + 1_100));
    limits.settleNow(bare, { status: 502, headers: headers({}) }, T0 + 1_150);
    expect(limits.reserveNow(ROUTE, T0 + 1_200)).toMatchObject({ granted: false, reason: 'bucket' });
    ticketOf(limits.reserveNow(ROUTE, T0 + 1_150 + 990));
  });

  it('holds a request for a second after its answer against the global limit', () => {
    const limits = store({ globalLimit: 2 });
    const keys = ['1', '2', '3'].map((major) => ({
      ...ROUTE,
      routeId: `GET /channels/${major}`,
      majorParameter: major,
    }));
    const first = ticketOf(limits.reserveNow(keys[0] as RateLimitKey, T0));
    ticketOf(limits.reserveNow(keys[1] as RateLimitKey, T0));
    expect(limits.reserveNow(keys[2] as RateLimitKey, T0)).toEqual({
      granted: false,
      reason: 'global',
      retryAfterMs: null,
    });
    limits.settleNow(first, answer(50, 49, T0 + 1_000, T0 + 300), T0 + 300);
    expect(limits.reserveNow(keys[2] as RateLimitKey, T0 + 1_299)).toEqual({
      granted: false,
      reason: 'global',
      retryAfterMs: 1,
    });
    ticketOf(limits.reserveNow(keys[2] as RateLimitKey, T0 + 1_300));
  });

  it('lets exempt routes pass a full global window', () => {
    const limits = store({ globalLimit: 1 });
    ticketOf(limits.reserveNow(ROUTE, T0));
    ticketOf(
      limits.reserveNow(
        { routeId: 'POST /interactions/:id/:token/callback', majorParameter: '9', global: false },
        T0,
      ),
    );
  });

  it('stops everything at the invalid-request limit until the oldest leaves the 10 minutes', () => {
    const limits = store({ invalidRequestLimit: 2 });
    const forbidden = { status: 403, headers: headers({}) };
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), forbidden, T0);
    const shared = { status: 429, headers: headers({ scope: 'shared', retryAfterMs: 1 }) };
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0 + 10)), shared, T0 + 10);
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0 + 20)), forbidden, T0 + 20);
    expect(limits.reserveNow(ROUTE, T0 + 30)).toEqual({
      granted: false,
      reason: 'invalid',
      retryAfterMs: 600_000 - 30,
    });
    ticketOf(limits.reserveNow(ROUTE, T0 + 600_000));
  });

  it('waits out a Discord 429 on the bucket, and a global 429 everywhere', () => {
    const limits = store();
    const limited = answer(5, 0, T0 + 3_000, T0, 429);
    limits.settleNow(
      ticketOf(limits.reserveNow(ROUTE, T0)),
      { ...limited, headers: { ...limited.headers, retryAfterMs: 3_000 } },
      T0,
    );
    expect(limits.reserveNow(ROUTE, T0 + 2_000)).toMatchObject({
      granted: false,
      reason: 'bucket',
      retryAfterMs: 1_000,
    });
    const other = { ...ROUTE, routeId: 'GET /users/@me', majorParameter: 'global' };
    const global429 = { status: 429, headers: headers({ global: true, retryAfterMs: 500 }) };
    limits.settleNow(ticketOf(limits.reserveNow(other, T0)), global429, T0);
    expect(limits.reserveNow({ ...other, routeId: 'GET /gateway/bot' }, T0 + 100)).toMatchObject({
      reason: 'global',
    });
  });

  it('keeps to its share of every limit when replicas cannot coordinate', () => {
    const limits = store({ globalLimit: 10, replicas: 2 });
    limits.settleNow(ticketOf(limits.reserveNow(ROUTE, T0)), answer(10, 9, T0 + 10_000, T0 + 10), T0 + 10);
    // 5 of the bucket's 10 per window, the first one included.
    for (let index = 0; index < 4; index++) ticketOf(limits.reserveNow(ROUTE, T0 + 20));
    expect(limits.reserveNow(ROUTE, T0 + 20)).toMatchObject({ granted: false });
  });
});
