import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { LimiterMode } from './ratelimit/FailoverRateLimitStore.js';

/** Route labels kept before new ones are counted as `other`, so a stray path cannot flood Prometheus. */
const MAX_ROUTE_LABELS = 1_000;
const LIMITER_MODES: readonly LimiterMode[] = ['standalone', 'shared', 'fallback'];

/**
 * Why a request was rate limited, as the `scope` label of `shardfleet_rest_ratelimited_total`:
 * the proxy's own 429s (`global`, `bucket`, `queue`) and Discord's (`discord_user`,
 * `discord_global`, `discord_shared`).
 */
export type RateLimitedScope = (typeof RATE_LIMITED_SCOPES)[number];
const RATE_LIMITED_SCOPES = [
  'global',
  'bucket',
  'queue',
  'discord_user',
  'discord_global',
  'discord_shared',
] as const;
const UPSTREAM_ERROR_REASONS = ['timeout', 'error'] as const;

/** The proxy's Prometheus metrics, in their own registry. */
export class ProxyMetrics {
  public readonly registry: Registry;
  private readonly requests: Counter<'method' | 'route' | 'status'>;
  private readonly duration: Histogram<'route'>;
  private readonly queueWait: Histogram<'route'>;
  private readonly queueWaitByRoute = new Map<string, ReturnType<ProxyMetrics['queueWait']['labels']>>();
  private readonly rateLimited: Counter<'scope'>;
  private readonly limiterMode: Gauge<'mode'>;
  private readonly upstreamErrors: Counter<'reason'>;
  private readonly routes = new Set<string>();
  private readonly children = new Map<
    string,
    {
      requests: ReturnType<ProxyMetrics['requests']['labels']>;
      duration: ReturnType<ProxyMetrics['duration']['labels']>;
    }
  >();

  public constructor(options: {
    registry?: Registry;
    invalidRequests: () => Promise<number>;
    waiting: () => number;
  }) {
    this.registry = options.registry ?? new Registry();
    const registers = [this.registry];
    this.requests = new Counter({
      name: 'shardfleet_rest_requests_total',
      help: 'Requests answered, by method, route template and status (the proxy’s own answers included).',
      labelNames: ['method', 'route', 'status'],
      registers,
    });
    this.duration = new Histogram({
      name: 'shardfleet_rest_request_duration_seconds',
      help: 'Time from a request’s arrival to its answer’s headers, waiting for rate limits included.',
      labelNames: ['route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.queueWait = new Histogram({
      name: 'shardfleet_rest_queue_wait_seconds',
      help: 'Time a request waited for its rate-limit slot (global and its bucket) before it was sent.',
      labelNames: ['route'],
      buckets: [0.001, 0.005, 0.025, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.rateLimited = new Counter({
      name: 'shardfleet_rest_ratelimited_total',
      help: 'Requests answered 429: by the proxy (global, bucket, queue) or by Discord (discord_user, discord_global, discord_shared).',
      labelNames: ['scope'],
      registers,
    });
    new Gauge({
      name: 'shardfleet_rest_invalid_requests',
      help: 'Invalid requests (401, 403, 429 except scope shared) in the last 10 minutes, all replicas together when shared.',
      registers,
      async collect() {
        this.set(await options.invalidRequests());
      },
    });
    this.limiterMode = new Gauge({
      name: 'shardfleet_rest_limiter_mode',
      help: 'Where rate limits are kept: 1 for the current mode (standalone, shared through Redis, fallback at this replica’s share while Redis is away).',
      labelNames: ['mode'],
      registers,
    });
    new Gauge({
      name: 'shardfleet_rest_queued_requests',
      help: 'Requests waiting for a rate-limit slot.',
      registers,
      collect() {
        this.set(options.waiting());
      },
    });
    this.upstreamErrors = new Counter({
      name: 'shardfleet_rest_upstream_errors_total',
      help: 'Requests that got no answer from Discord, by reason (timeout, error).',
      labelNames: ['reason'],
      registers,
    });
    // Every series from the start, at 0: a panel or alert then sees "none yet", not "no data".
    for (const scope of RATE_LIMITED_SCOPES) this.rateLimited.inc({ scope }, 0);
    for (const reason of UPSTREAM_ERROR_REASONS) this.upstreamErrors.inc({ reason }, 0);
  }

  public observe(method: string, route: string, status: number, seconds: number): void {
    // Children are cached per label set: hashing labels on every request costs more than the rest.
    const key = `${method} ${status} ${route}`;
    let children = this.children.get(key);
    if (children === undefined) {
      const label = this.routeLabel(route);
      children = {
        requests: this.requests.labels({ method, route: label, status: String(status) }),
        duration: this.duration.labels({ route: label }),
      };
      if (this.children.size < MAX_ROUTE_LABELS * 10) this.children.set(key, children);
    }
    children.requests.inc();
    children.duration.observe(seconds);
  }

  /** A request got its rate-limit slot after `seconds` in the queue. */
  public observeQueueWait(route: string, seconds: number): void {
    let child = this.queueWaitByRoute.get(route);
    if (child === undefined) {
      child = this.queueWait.labels({ route: this.routeLabel(route) });
      if (this.queueWaitByRoute.size < MAX_ROUTE_LABELS) this.queueWaitByRoute.set(route, child);
    }
    child.observe(seconds);
  }

  public rateLimitedBy(scope: RateLimitedScope): void {
    this.rateLimited.inc({ scope });
  }

  public upstreamError(reason: (typeof UPSTREAM_ERROR_REASONS)[number]): void {
    this.upstreamErrors.inc({ reason });
  }

  public setMode(mode: LimiterMode): void {
    for (const each of LIMITER_MODES) this.limiterMode.set({ mode: each }, each === mode ? 1 : 0);
  }

  private routeLabel(route: string): string {
    if (this.routes.has(route)) return route;
    if (this.routes.size >= MAX_ROUTE_LABELS) return 'other';
    this.routes.add(route);
    return route;
  }
}
