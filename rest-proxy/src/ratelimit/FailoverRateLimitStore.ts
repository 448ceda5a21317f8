import { LocalRateLimitStore } from './LocalRateLimitStore.js';
import type { RateLimitKey, RateLimitStore, Reservation, Ticket, UpstreamOutcome } from './RateLimitStore.js';
import type { RedisRateLimitStore } from './RedisRateLimitStore.js';

/**
 * Where the limits are kept: `standalone` in memory (no Redis configured), `shared` in Redis
 * with the other replicas, `fallback` in memory at this replica's share while Redis is away.
 */
export type LimiterMode = 'standalone' | 'shared' | 'fallback';

/** Options a {@link FailoverRateLimitStore} cannot do without. */
export interface RequiredFailoverRateLimitStoreOptions {
  /** Requests per second across non-exempt routes, for all replicas together. */
  globalLimit: number;
  /** Invalid requests per 10 minutes at which forwarding stops, for all replicas together. */
  invalidRequestLimit: number;
  /** Called when the mode changes, with the replica count the fallback divides by and the cause. */
  onModeChange?: (mode: 'shared' | 'fallback', replicas: number, error?: Error) => void;
}

/** Options of a {@link FailoverRateLimitStore} with a default in {@link DefaultFailoverRateLimitStoreOptions}. */
export interface OptionalFailoverRateLimitStoreOptions {
  /**
   * How often the replica registers itself in Redis and counts the others.
   *
   * @defaultValue `5_000`
   */
  heartbeatIntervalMs: number;
  /**
   * How often Redis is tried again while it is away.
   *
   * @defaultValue `1_000`
   */
  recoveryIntervalMs: number;
}

export type FailoverRateLimitStoreOptions = RequiredFailoverRateLimitStoreOptions &
  Partial<OptionalFailoverRateLimitStoreOptions>;

export const DefaultFailoverRateLimitStoreOptions = {
  heartbeatIntervalMs: 5_000,
  recoveryIntervalMs: 1_000,
} as const satisfies OptionalFailoverRateLimitStoreOptions;

/**
 * Keeps limits in Redis and, when Redis fails, goes on with local limits divided by the number of
 * replicas last seen alive in Redis (each replica takes its share, so together they still keep
 * to the bot's limits), until Redis answers again.
 */
export class FailoverRateLimitStore implements RateLimitStore {
  private currentMode: 'shared' | 'fallback' = 'shared';
  private knownReplicas = 1;
  private fallback: LocalRateLimitStore | null = null;
  private readonly issuers = new WeakMap<Ticket, LocalRateLimitStore>();
  /** Global slots taken in Redis and not yet settled, so a fallback can count them. */
  private readonly sharedInFlight = new Set<Ticket>();
  /** Those of them the current fallback counts. */
  private readonly handedOverTo = new Set<Ticket>();
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly options: RequiredFailoverRateLimitStoreOptions & OptionalFailoverRateLimitStoreOptions;

  public constructor(
    private readonly primary: RedisRateLimitStore,
    options: FailoverRateLimitStoreOptions,
  ) {
    this.options = { ...DefaultFailoverRateLimitStoreOptions, ...options };
  }

  public get mode(): 'shared' | 'fallback' {
    return this.currentMode;
  }

  /** Replicas alive at the last heartbeat (the fallback's divisor). */
  public get replicas(): number {
    return this.knownReplicas;
  }

  /** Registers the replica in Redis, or starts in fallback when Redis cannot be reached. */
  public async start(): Promise<void> {
    await this.beat();
  }

  public async reserve(key: RateLimitKey): Promise<Reservation> {
    if (this.currentMode === 'shared') {
      try {
        const reservation = await this.primary.reserve(key);
        if (reservation.granted && key.global) this.sharedInFlight.add(reservation.ticket);
        return reservation;
      } catch (error) {
        this.enterFallback(error as Error);
      }
    }
    const fallback = this.fallback as LocalRateLimitStore;
    const reservation = fallback.reserveNow(key, Date.now());
    if (reservation.granted) this.issuers.set(reservation.ticket, fallback);
    return reservation;
  }

  public async settle(ticket: Ticket, outcome: UpstreamOutcome | null): Promise<void> {
    const issuer = this.issuers.get(ticket);
    if (issuer !== undefined) return issuer.settleNow(ticket, outcome, Date.now());
    if (this.sharedInFlight.delete(ticket) && this.handedOverTo.delete(ticket)) {
      this.fallback?.settleHandedOver(Date.now());
    }
    try {
      await this.primary.settle(ticket, outcome);
    } catch (error) {
      // The slot expires from Redis by itself.
      this.enterFallback(error as Error);
    }
  }

  public async invalidRequests(): Promise<number> {
    if (this.currentMode === 'fallback') return (this.fallback as LocalRateLimitStore).invalidRequests();
    try {
      return await this.primary.invalidRequests();
    } catch (error) {
      this.enterFallback(error as Error);
      return (this.fallback as LocalRateLimitStore).invalidRequests();
    }
  }

  public close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  private async beat(): Promise<void> {
    try {
      this.knownReplicas = Math.max(1, await this.primary.heartbeat());
      if (this.currentMode === 'fallback') {
        this.currentMode = 'shared';
        this.options.onModeChange?.('shared', this.knownReplicas);
      }
    } catch (error) {
      this.enterFallback(error as Error);
    }
    if (this.closed) return;
    const interval =
      this.currentMode === 'shared' ? this.options.heartbeatIntervalMs : this.options.recoveryIntervalMs;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.beat(), interval);
    this.timer.unref();
  }

  private enterFallback(error: Error): void {
    if (this.currentMode === 'fallback') return;
    this.currentMode = 'fallback';
    this.fallback = new LocalRateLimitStore({
      globalLimit: this.options.globalLimit,
      invalidRequestLimit: this.options.invalidRequestLimit,
      replicas: this.knownReplicas,
    });
    this.handedOverTo.clear();
    for (const ticket of this.sharedInFlight) this.handedOverTo.add(ticket);
    this.fallback.takeOver(this.handedOverTo.size, Date.now());
    this.options.onModeChange?.('fallback', this.knownReplicas, error);
    // Try Redis again soon rather than at the next heartbeat.
    if (!this.closed) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.beat(), this.options.recoveryIntervalMs);
      this.timer.unref();
    }
  }
}
