/** What the proxy knows about a request before it is sent. */
export interface RateLimitKey {
  /** See `RouteData.routeId`. */
  readonly routeId: string;
  /** See `RouteData.majorParameter`. */
  readonly majorParameter: string;
  /** Counts against the global limit (everything but interaction callbacks). */
  readonly global: boolean;
}

/** Why a request may not be sent yet. */
export type DenialReason = 'global' | 'bucket' | 'invalid';

/** A reserved slot; give it back with {@link RateLimitStore.settle}. */
export interface Ticket {
  readonly id: string;
  readonly key: RateLimitKey;
  /** The bucket the slot was taken from (the route's hash, or the route itself while unknown). */
  readonly bucketKey: string;
}

export type Reservation =
  | { readonly granted: true; readonly ticket: Ticket }
  | {
      readonly granted: false;
      readonly reason: DenialReason;
      /** When to try again; null: when a request in flight settles (its answer tells more). */
      readonly retryAfterMs: number | null;
    };

/** The rate-limit headers of Discord's answer, parsed. */
export interface RateLimitHeaders {
  /** `X-RateLimit-Limit`. */
  readonly limit: number | null;
  /** `X-RateLimit-Remaining`. */
  readonly remaining: number | null;
  /** `X-RateLimit-Reset` (epoch seconds): identifies the bucket's window. */
  readonly resetEpochSeconds: number | null;
  /** `X-RateLimit-Reset-After`, in ms. */
  readonly resetAfterMs: number | null;
  /** `X-RateLimit-Bucket`. */
  readonly bucket: string | null;
  /** `Retry-After`, in ms. */
  readonly retryAfterMs: number | null;
  /** `X-RateLimit-Scope`. */
  readonly scope: string | null;
  /** `X-RateLimit-Global`. */
  readonly global: boolean;
}

/** How a sent request ended: Discord's status and headers, or null when no answer came. */
export interface UpstreamOutcome {
  readonly status: number;
  readonly headers: RateLimitHeaders;
}

/**
 * Where the proxy keeps rate-limit state: buckets, the global window and the invalid-request
 * count. {@link LocalRateLimitStore} keeps it in memory for one replica; `RedisRateLimitStore`
 * shares it between replicas.
 */
export interface RateLimitStore {
  /** Takes a slot for a request, or says why not and for how long. */
  reserve(key: RateLimitKey): Promise<Reservation>;
  /** Gives a slot back with what Discord answered (null: no answer), updating the state. */
  settle(ticket: Ticket, outcome: UpstreamOutcome | null): Promise<void>;
  /** Invalid requests (401, 403, 429 except scope `shared`) in the last 10 minutes. */
  invalidRequests(): Promise<number>;
}

/** Window over which Discord counts invalid requests. */
export const INVALID_REQUEST_WINDOW_MS = 600_000;
/** Window of the global limit. */
export const GLOBAL_WINDOW_MS = 1_000;
/**
 * Two answers whose `X-RateLimit-Reset` differ by at most this belong to the same window: the
 * header is the window's fixed end, written with millisecond precision.
 */
export const RESET_HEADER_TOLERANCE_SECONDS = 0.001;
/**
 * The same for an answer without `X-RateLimit-Reset`, whose window end is estimated from
 * `X-RateLimit-Reset-After` and so moves with the answer's latency.
 */
export const ESTIMATED_RESET_TOLERANCE_SECONDS = 0.05;

/** Whether Discord counts the answer towards its invalid-request ban. */
export function isInvalidRequest(outcome: UpstreamOutcome): boolean {
  return (
    outcome.status === 401 ||
    outcome.status === 403 ||
    (outcome.status === 429 && outcome.headers.scope !== 'shared')
  );
}

/** Whether the answer is a 429 of the global limit. */
export function isGlobal429(outcome: UpstreamOutcome): boolean {
  return outcome.status === 429 && (outcome.headers.global || outcome.headers.scope === 'global');
}

/** The share of a limit one of `replicas` replicas may use: at least one request. */
export function shareOf(limit: number, replicas: number): number {
  return Math.max(1, Math.floor(limit / replicas));
}
