import { createHash } from 'node:crypto';
import {
  isRestRouteTemplate,
  type RestRouteSpec,
  RestRouteTable,
  type RestRouteTemplate,
  RestRouteTemplates,
  type RouteLimit,
} from './restRouteTable.js';
import { SlidingWindowLog } from './SlidingWindowLog.js';

/** `X-RateLimit-Scope` of a 429: the bot's own bucket, the bot's global limit, or a shared resource. */
export type RateLimitScope = 'user' | 'global' | 'shared';

/** Window of the global limit. */
const GLOBAL_WINDOW_MS = 1_000;
/** Window over which invalid requests are counted towards the Cloudflare ban. */
const INVALID_WINDOW_MS = 600_000;
/** A route's bucket map is swept of expired buckets whenever it grows past this (then twice its size). */
const BUCKET_SWEEP_THRESHOLD = 1_024;

export interface RestRateLimiterOptions {
  /** Requests per second across all non-exempt routes (Discord: 50 per bot). */
  globalLimit: number;
  /** Invalid requests (401, 403, 429 except scope `shared`) per 10 minutes that trigger the Cloudflare ban. */
  invalidRequestLimit: number;
}

export interface Force429Options {
  /** How many matching requests answer 429. */
  count: number;
  /** `retry_after` of each of them. */
  retryAfterMs: number;
  scope: RateLimitScope;
  /** Only this route template; without it, every route that counts against the global limit. */
  route?: string;
}

/** The bucket state a response reports in its `X-RateLimit-*` headers. */
export interface BucketSnapshot {
  /** Opaque bucket hash (`X-RateLimit-Bucket`), stable per route. */
  hash: string;
  limit: number;
  remaining: number;
  /** Epoch ms when the bucket refills. */
  resetAt: number;
}

export type RateLimitDecision =
  | { limited: false; bucket: BucketSnapshot }
  | { limited: true; scope: RateLimitScope; retryAfterMs: number; bucket: BucketSnapshot };

export interface RestRateLimitStats {
  /** Every request that reached the REST API, whatever its answer. */
  requests: number;
  /** JSON 429 answers (bucket, global, shared or forced); the Cloudflare ban is counted in `banned`. */
  ratelimited: number;
  /** Invalid requests (401, 403, 429 except scope shared) since the start or the last reset. */
  invalid: number;
  /** Requests answered with the Cloudflare ban (429 `error code: 1015`). */
  banned: number;
  /**
   * Most requests to non-exempt routes (everything but interaction callbacks and GET /gateway, unknown
   * routes included) that arrived within one 1000 ms window, whatever their answer: a client that honours
   * the global limit keeps it at or below {@link RestRateLimiter.globalLimit}.
   */
  peakPerSecond: number;
  byRoute: Record<string, { requests: number; ratelimited: number }>;
}

interface Bucket {
  remaining: number;
  resetAt: number;
}

interface RouteState extends RestRouteSpec {
  readonly template: RestRouteTemplate;
  readonly hash: string;
  buckets: Map<string, Bucket>;
  sweepThreshold: number;
  requests: number;
  ratelimited: number;
}

interface Forced {
  remaining: number;
  retryAfterMs: number;
  scope: RateLimitScope;
  route: RestRouteTemplate | null;
}

/**
 * Discord's REST rate limits: per-route buckets split by major parameter, the global per-second limit,
 * forced 429s for tests, and the Cloudflare ban after too many invalid requests. Every method is O(1) per
 * request (amortised), since benchmarks push thousands of requests per second through it.
 *
 * The global limit is a sliding window: at most {@link RestRateLimiter.globalLimit} non-exempt requests are
 * admitted within any 1000 ms; a request it refuses (429, scope `global`) consumes nothing. A request that
 * any check refuses consumes neither its bucket nor the global window.
 */
export class RestRateLimiter {
  private readonly routes = new Map<RestRouteTemplate, RouteState>();
  private readonly admitted = new SlidingWindowLog(GLOBAL_WINDOW_MS);
  private readonly arrivals = new SlidingWindowLog(GLOBAL_WINDOW_MS);
  private readonly invalidLog = new SlidingWindowLog(INVALID_WINDOW_MS);
  private forced: Forced[] = [];
  private globalPerSecond: number;
  private requests = 0;
  private ratelimited = 0;
  private invalid = 0;
  private banned = 0;
  private peakPerSecond = 0;

  public constructor(private readonly options: RestRateLimiterOptions) {
    this.globalPerSecond = options.globalLimit;
    for (const template of RestRouteTemplates) {
      const spec: RestRouteSpec = RestRouteTable[template];
      this.routes.set(template, {
        ...spec,
        template,
        hash: createHash('sha256').update(template).digest('hex').slice(0, 32),
        buckets: new Map(),
        sweepThreshold: BUCKET_SWEEP_THRESHOLD,
        requests: 0,
        ratelimited: 0,
      });
    }
  }

  /** Requests per second admitted across non-exempt routes. */
  public get globalLimit(): number {
    return this.globalPerSecond;
  }

  public setGlobalLimit(limit: number): void {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`global limit must be a positive integer, got ${limit}`);
    this.globalPerSecond = limit;
  }

  /** Changes a route's bucket size at run time; its current buckets start afresh. */
  public setRouteLimit(route: string, { limit, windowMs }: RouteLimit): void {
    const state = this.route(route);
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    if (!Number.isFinite(windowMs) || windowMs <= 0)
      throw new RangeError(`windowMs must be positive, got ${windowMs}`);
    state.limit = limit;
    state.windowMs = windowMs;
    state.buckets.clear();
  }

  /** The current limits: the global one and each route's. */
  public limits(): { global: number; routes: Record<string, RouteLimit> } {
    const routes: Record<string, RouteLimit> = {};
    for (const state of this.routes.values())
      routes[state.template] = { limit: state.limit, windowMs: state.windowMs };
    return { global: this.globalPerSecond, routes };
  }

  /** The next `count` matching requests answer 429 with `retryAfterMs`, as Discord would in that scope. */
  public force429({ count, retryAfterMs, scope, route }: Force429Options): void {
    if (!Number.isInteger(count) || count < 1)
      throw new RangeError(`count must be a positive integer, got ${count}`);
    if (!Number.isFinite(retryAfterMs) || retryAfterMs < 0)
      throw new RangeError(`retryAfterMs must be >= 0, got ${retryAfterMs}`);
    this.forced.push({
      remaining: count,
      retryAfterMs,
      scope,
      route: route === undefined ? null : this.route(route).template,
    });
  }

  /** Forced 429s not yet served. */
  public get pendingForced429s(): number {
    let pending = 0;
    for (const forced of this.forced) pending += forced.remaining;
    return pending;
  }

  /**
   * Records a request's arrival, before anything else is checked (`route` null: no such route). Returns
   * how long the Cloudflare ban still lasts, in ms; 0 when there is none and the request goes on.
   */
  public arrive(route: RestRouteTemplate | null, now = Date.now()): number {
    this.requests++;
    const state = route === null ? undefined : this.routes.get(route);
    if (state) state.requests++;
    if (!state || state.global) {
      this.arrivals.evict(now);
      this.arrivals.push(now);
      if (this.arrivals.size > this.peakPerSecond) this.peakPerSecond = this.arrivals.size;
    }
    this.invalidLog.evict(now);
    const excess = this.invalidLog.size - this.options.invalidRequestLimit;
    if (excess < 0) return 0;
    this.banned++;
    // Banned until the invalid request that reached the limit leaves the window.
    return Math.max(1, this.invalidLog.at(excess) + INVALID_WINDOW_MS - now);
  }

  /**
   * Decides an authorised request to `route` whose major parameters are `major` (joined): a forced 429,
   * then the global limit, then the route's bucket. Only an admitted request consumes anything.
   */
  public acquire(route: RestRouteTemplate, major: string, now = Date.now()): RateLimitDecision {
    const state = this.route(route);
    if (this.forced.length > 0) {
      const forced = this.takeForced(state);
      if (forced) {
        const bucket =
          forced.scope === 'user'
            ? { hash: state.hash, limit: state.limit, remaining: 0, resetAt: now + forced.retryAfterMs }
            : this.peek(state, major, now);
        return this.refuse(state, forced.scope, forced.retryAfterMs, bucket, now);
      }
    }
    if (state.global) {
      this.admitted.evict(now);
      if (this.admitted.size >= this.globalPerSecond) {
        const retryAfterMs =
          this.admitted.at(this.admitted.size - this.globalPerSecond) + GLOBAL_WINDOW_MS - now;
        return this.refuse(state, 'global', retryAfterMs, this.peek(state, major, now), now);
      }
    }
    const bucket = this.bucket(state, major, now);
    if (bucket.remaining <= 0) {
      const snapshot = { hash: state.hash, limit: state.limit, remaining: 0, resetAt: bucket.resetAt };
      return this.refuse(state, 'user', bucket.resetAt - now, snapshot, now);
    }
    bucket.remaining--;
    if (state.global) this.admitted.push(now);
    return {
      limited: false,
      bucket: { hash: state.hash, limit: state.limit, remaining: bucket.remaining, resetAt: bucket.resetAt },
    };
  }

  /** Counts an invalid request the routes answered (401, 403) towards the ban. */
  public recordInvalid(now = Date.now()): void {
    this.invalid++;
    this.invalidLog.push(now);
  }

  public stats(): RestRateLimitStats {
    const byRoute: RestRateLimitStats['byRoute'] = {};
    for (const state of this.routes.values()) {
      byRoute[state.template] = { requests: state.requests, ratelimited: state.ratelimited };
    }
    return {
      requests: this.requests,
      ratelimited: this.ratelimited,
      invalid: this.invalid,
      banned: this.banned,
      peakPerSecond: this.peakPerSecond,
      byRoute,
    };
  }

  /** Back to the start state: default limits, no buckets, no forced 429s, no ban, counters at zero. */
  public reset(): void {
    this.globalPerSecond = this.options.globalLimit;
    for (const state of this.routes.values()) {
      const spec: RestRouteSpec = RestRouteTable[state.template];
      state.limit = spec.limit;
      state.windowMs = spec.windowMs;
      state.buckets.clear();
      state.sweepThreshold = BUCKET_SWEEP_THRESHOLD;
      state.requests = 0;
      state.ratelimited = 0;
    }
    this.forced = [];
    this.admitted.clear();
    this.arrivals.clear();
    this.invalidLog.clear();
    this.requests = 0;
    this.ratelimited = 0;
    this.invalid = 0;
    this.banned = 0;
    this.peakPerSecond = 0;
  }

  private route(route: string): RouteState {
    const state = isRestRouteTemplate(route) ? this.routes.get(route) : undefined;
    if (!state)
      throw new RangeError(`unknown route "${route}"; expected one of: ${RestRouteTemplates.join(', ')}`);
    return state;
  }

  private takeForced(state: RouteState): Forced | undefined {
    const index = this.forced.findIndex((forced) =>
      forced.route === null ? state.global : forced.route === state.template,
    );
    if (index === -1) return undefined;
    const forced = this.forced[index] as Forced;
    forced.remaining--;
    if (forced.remaining === 0) this.forced.splice(index, 1);
    return forced;
  }

  private refuse(
    state: RouteState,
    scope: RateLimitScope,
    retryAfterMs: number,
    bucket: BucketSnapshot,
    now: number,
  ): RateLimitDecision {
    this.ratelimited++;
    state.ratelimited++;
    if (scope !== 'shared') this.recordInvalid(now);
    return { limited: true, scope, retryAfterMs, bucket };
  }

  /** The bucket of `major`, refilled if its window has passed. */
  private bucket(state: RouteState, major: string, now: number): Bucket {
    let bucket = state.buckets.get(major);
    if (!bucket) {
      if (state.buckets.size >= state.sweepThreshold) this.sweep(state, now);
      bucket = { remaining: state.limit, resetAt: now + state.windowMs };
      state.buckets.set(major, bucket);
    } else if (now >= bucket.resetAt) {
      bucket.remaining = state.limit;
      bucket.resetAt = now + state.windowMs;
    }
    return bucket;
  }

  /** What the bucket would report without taking from it. */
  private peek(state: RouteState, major: string, now: number): BucketSnapshot {
    const bucket = state.buckets.get(major);
    return bucket && now < bucket.resetAt
      ? { hash: state.hash, limit: state.limit, remaining: bucket.remaining, resetAt: bucket.resetAt }
      : { hash: state.hash, limit: state.limit, remaining: state.limit, resetAt: now + state.windowMs };
  }

  /** Forgets expired buckets (a fresh bucket is the same as an expired one). */
  private sweep(state: RouteState, now: number): void {
    for (const [major, bucket] of state.buckets) {
      if (now >= bucket.resetAt) state.buckets.delete(major);
    }
    state.sweepThreshold = Math.max(BUCKET_SWEEP_THRESHOLD, state.buckets.size * 2);
  }
}
