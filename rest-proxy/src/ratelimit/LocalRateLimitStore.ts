import {
  ESTIMATED_RESET_TOLERANCE_SECONDS,
  GLOBAL_WINDOW_MS,
  INVALID_REQUEST_WINDOW_MS,
  isGlobal429,
  isInvalidRequest,
  type RateLimitHeaders,
  type RateLimitKey,
  type RateLimitStore,
  type Reservation,
  RESET_HEADER_TOLERANCE_SECONDS,
  shareOf,
  type Ticket,
  type UpstreamOutcome,
} from './RateLimitStore.js';
import { TimeWindowLog } from './TimeWindowLog.js';

/** Options a {@link LocalRateLimitStore} cannot do without. */
export interface RequiredLocalRateLimitStoreOptions {
  /** Requests per second across non-exempt routes. */
  globalLimit: number;
  /** Invalid requests per 10 minutes at which forwarding stops. */
  invalidRequestLimit: number;
}

/** Options of a {@link LocalRateLimitStore} with a default in {@link DefaultLocalRateLimitStoreOptions}. */
export interface OptionalLocalRateLimitStoreOptions {
  /**
   * Replicas sharing Discord's limits without coordination: every limit (global, buckets,
   * invalid requests) is divided by it.
   *
   * @defaultValue `1`
   */
  replicas: number;
}

export type LocalRateLimitStoreOptions = RequiredLocalRateLimitStoreOptions &
  Partial<OptionalLocalRateLimitStoreOptions>;

export const DefaultLocalRateLimitStoreOptions = {
  replicas: 1,
} as const satisfies OptionalLocalRateLimitStoreOptions;

/** A bucket as far as this process knows it. */
interface Bucket {
  /** `X-RateLimit-Limit`; -1 while unknown (then one request at a time). */
  limit: number;
  /** Requests that may still be sent in the current window. */
  remaining: number;
  /** When the window ends (local ms); Infinity while a new window's first answer is awaited. */
  resetAt: number;
  /** `X-RateLimit-Reset` of the window the state describes; null before the first answer. */
  windowId: number | null;
  /** The longest window seen, used when a request of a new window gets no answer. */
  windowMs: number;
  inFlight: number;
  /** Set by a Discord 429: nothing is sent before. */
  blockedUntil: number;
}

/** Buckets idle this long are forgotten (they start unknown again). */
const IDLE_BUCKET_MS = 300_000;
/** Every this many reservations the idle buckets are swept. */
const SWEEP_EVERY = 10_000;

/**
 * Rate-limit state in this process's memory: correct for one replica alone, or for several that
 * each keep to their share ({@link OptionalLocalRateLimitStoreOptions.replicas}).
 *
 * A bucket lets requests run in parallel while its known `remaining` allows: a reservation takes
 * one, an answer's headers correct it (never upwards within a window, since requests still in
 * flight may not be counted in it yet). Requests in flight when a window ends are counted against
 * the next one, as they may arrive after Discord's reset. The global window counts a request from
 * its reservation until one second after its answer, the latest moment it can have reached
 * Discord, so no second on Discord's clock ever holds more than the limit.
 */
export class LocalRateLimitStore implements RateLimitStore {
  private readonly routeHashes = new Map<string, string>();
  private readonly buckets = new Map<string, Bucket>();
  private readonly globalDone = new TimeWindowLog(GLOBAL_WINDOW_MS);
  private readonly invalid = new TimeWindowLog(INVALID_REQUEST_WINDOW_MS);
  private readonly replicas: number;
  private readonly globalCap: number;
  private readonly invalidCap: number;
  private globalInFlight = 0;
  private globalBlockedUntil = 0;
  private nextTicket = 0;
  private reservations = 0;

  public constructor(options: LocalRateLimitStoreOptions) {
    this.replicas = options.replicas ?? DefaultLocalRateLimitStoreOptions.replicas;
    this.globalCap = shareOf(options.globalLimit, this.replicas);
    this.invalidCap = shareOf(options.invalidRequestLimit, this.replicas);
  }

  public async reserve(key: RateLimitKey): Promise<Reservation> {
    return this.reserveNow(key, Date.now());
  }

  public async settle(ticket: Ticket, outcome: UpstreamOutcome | null): Promise<void> {
    this.settleNow(ticket, outcome, Date.now());
  }

  public async invalidRequests(): Promise<number> {
    return this.invalid.size(Date.now());
  }

  /**
   * Takes over from a shared store that failed: `inFlight` requests it let through are still on
   * their way (they count until {@link LocalRateLimitStore.settleHandedOver}), and what the
   * other replicas sent in the last second is unknown, so no request counted against the global
   * limit starts for one window.
   */
  public takeOver(inFlight: number, now: number): void {
    this.globalInFlight += inFlight;
    this.globalBlockedUntil = Math.max(this.globalBlockedUntil, now + GLOBAL_WINDOW_MS);
  }

  /** One of the requests of {@link LocalRateLimitStore.takeOver} got its answer (or none). */
  public settleHandedOver(now: number): void {
    this.globalInFlight--;
    this.globalDone.push(now);
  }

  /** {@link LocalRateLimitStore.reserve} at `now`, synchronously. */
  public reserveNow(key: RateLimitKey, now: number): Reservation {
    if (++this.reservations % SWEEP_EVERY === 0) this.sweep(now);
    const invalid = this.invalid.size(now);
    if (invalid >= this.invalidCap) {
      const oldestCounted = this.invalid.at(invalid - this.invalidCap);
      return {
        granted: false,
        reason: 'invalid',
        retryAfterMs: oldestCounted + INVALID_REQUEST_WINDOW_MS - now,
      };
    }
    if (key.global) {
      if (now < this.globalBlockedUntil) {
        return { granted: false, reason: 'global', retryAfterMs: this.globalBlockedUntil - now };
      }
      const done = this.globalDone.size(now);
      if (this.globalInFlight + done >= this.globalCap) {
        return {
          granted: false,
          reason: 'global',
          retryAfterMs: done > 0 ? this.globalDone.at(0) + GLOBAL_WINDOW_MS - now : null,
        };
      }
    }
    const bucketKey = this.bucketKey(key);
    const bucket = this.bucketAt(bucketKey);
    if (now < bucket.blockedUntil) {
      return { granted: false, reason: 'bucket', retryAfterMs: bucket.blockedUntil - now };
    }
    if (bucket.limit === -1) {
      if (bucket.inFlight > 0) return { granted: false, reason: 'bucket', retryAfterMs: null };
    } else {
      if (now >= bucket.resetAt) {
        bucket.remaining = shareOf(bucket.limit, this.replicas) - bucket.inFlight;
        bucket.resetAt = Infinity;
      }
      if (bucket.remaining <= 0) {
        if (bucket.resetAt === Infinity && bucket.inFlight === 0) {
          // No answer in flight can date the new window any more: it began by now at the latest.
          bucket.resetAt = now + bucket.windowMs;
        }
        const retryAfterMs = bucket.resetAt === Infinity ? null : bucket.resetAt - now;
        return { granted: false, reason: 'bucket', retryAfterMs };
      }
      bucket.remaining--;
    }
    bucket.inFlight++;
    if (key.global) this.globalInFlight++;
    return { granted: true, ticket: { id: String(this.nextTicket++), key, bucketKey } };
  }

  /** {@link LocalRateLimitStore.settle} at `now`, synchronously. */
  public settleNow(ticket: Ticket, outcome: UpstreamOutcome | null, now: number): void {
    if (ticket.key.global) {
      this.globalInFlight--;
      this.globalDone.push(now);
    }
    const bucket = this.buckets.get(ticket.bucketKey);
    if (bucket !== undefined) bucket.inFlight--;
    if (outcome !== null && isInvalidRequest(outcome)) this.invalid.push(now);
    const global429 = outcome !== null && isGlobal429(outcome);
    if (global429) {
      this.globalBlockedUntil = Math.max(
        this.globalBlockedUntil,
        now + (outcome.headers.retryAfterMs ?? GLOBAL_WINDOW_MS),
      );
    }
    const target =
      (outcome === null ? undefined : this.learnBucket(ticket, outcome.headers.bucket)) ?? bucket;
    if (target === undefined) return;
    if (outcome === null || !this.applyWindow(target, outcome.headers, now)) {
      // Without a window in the answer a new window's end stays unknown: assume it began now.
      if (target.resetAt === Infinity && target.limit !== -1) target.resetAt = now + target.windowMs;
    }
    if (outcome?.status === 429 && !global429 && outcome.headers.retryAfterMs !== null) {
      target.blockedUntil = Math.max(target.blockedUntil, now + outcome.headers.retryAfterMs);
    }
  }

  private bucketKey(key: RateLimitKey): string {
    const hash = this.routeHashes.get(key.routeId);
    return hash === undefined
      ? `route:${key.routeId}:${key.majorParameter}`
      : `${hash}:${key.majorParameter}`;
  }

  /** Records the route's bucket hash; returns the hash's bucket when it differs from the ticket's. */
  private learnBucket(ticket: Ticket, hash: string | null): Bucket | undefined {
    if (hash === null) return undefined;
    this.routeHashes.set(ticket.key.routeId, hash);
    const key = `${hash}:${ticket.key.majorParameter}`;
    if (key === ticket.bucketKey) return undefined;
    const previous = this.buckets.get(ticket.bucketKey);
    if (previous !== undefined && previous.inFlight === 0) this.buckets.delete(ticket.bucketKey);
    return this.bucketAt(key);
  }

  /** The bucket under `key`; a new one, unknown until an answer tells its limit, when none is. */
  private bucketAt(key: string): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = {
        limit: -1,
        remaining: 1,
        resetAt: Infinity,
        windowId: null,
        windowMs: 0,
        inFlight: 0,
        blockedUntil: 0,
      };
      this.buckets.set(key, bucket);
    }
    return bucket;
  }

  /** Updates the bucket from the answer's window; false when the answer has none. */
  private applyWindow(bucket: Bucket, headers: RateLimitHeaders, now: number): boolean {
    const { limit, remaining, resetAfterMs } = headers;
    if (limit === null || remaining === null || resetAfterMs === null) return false;
    const windowId = headers.resetEpochSeconds ?? (now + resetAfterMs) / 1_000;
    const tolerance =
      headers.resetEpochSeconds === null ? ESTIMATED_RESET_TOLERANCE_SECONDS : RESET_HEADER_TOLERANCE_SECONDS;
    const cap = shareOf(limit, this.replicas);
    const reported = Math.min(remaining, cap - 1) - bucket.inFlight;
    // After our own rollover, our count since then holds until the new window's first answer.
    const rolledOver = bucket.limit !== -1 && bucket.resetAt === Infinity;
    bucket.windowMs = Math.max(bucket.windowMs, resetAfterMs);
    if (bucket.windowId === null || windowId > bucket.windowId + tolerance) {
      bucket.remaining = rolledOver ? Math.min(bucket.remaining, reported) : reported;
      bucket.limit = limit;
      bucket.windowId = windowId;
      bucket.resetAt = now + resetAfterMs;
    } else if (rolledOver) {
      // A request in flight at the rollover landed in the old window: its slot in the new one is free.
      bucket.remaining = Math.min(bucket.remaining + 1, cap - bucket.inFlight);
    } else if (windowId >= bucket.windowId - tolerance) {
      bucket.limit = limit;
      bucket.remaining = Math.min(bucket.remaining, reported);
      bucket.resetAt = Math.min(bucket.resetAt, now + resetAfterMs);
    }
    // Otherwise an older window's answer, arriving late: it says nothing about the current one.
    return true;
  }

  private sweep(now: number): void {
    for (const [key, bucket] of this.buckets) {
      const idleSince = Math.max(Number.isFinite(bucket.resetAt) ? bucket.resetAt : 0, bucket.blockedUntil);
      if (bucket.inFlight === 0 && now - idleSince > IDLE_BUCKET_MS) this.buckets.delete(key);
    }
  }
}
