import { InvalidRequestLimitError } from './InvalidRequestLimitError.js';
import { ProxyRateLimitError } from './ProxyRateLimitError.js';
import type { RateLimitKey, RateLimitStore, Reservation, Ticket, UpstreamOutcome } from './RateLimitStore.js';

/** Options a {@link RateLimiter} cannot do without. */
export interface RequiredRateLimiterOptions {
  /** Longest wait for a slot; a request that would wait longer is answered 429 at once. */
  queueTimeoutMs: number;
  /** Requests waiting per bucket; one more is answered 429. */
  queueLimit: number;
  /** The invalid-request limit, for the error. */
  invalidRequestLimit: number;
}

/** Options of a {@link RateLimiter} with a default in {@link DefaultRateLimiterOptions}. */
export interface OptionalRateLimiterOptions {
  /**
   * How often a waiter looks again when only other replicas' answers can free its slot.
   *
   * @defaultValue `25`
   */
  pollIntervalMs: number;
}

export type RateLimiterOptions = RequiredRateLimiterOptions & Partial<OptionalRateLimiterOptions>;

export const DefaultRateLimiterOptions = { pollIntervalMs: 25 } as const satisfies OptionalRateLimiterOptions;

interface Waiter {
  readonly key: RateLimitKey;
  readonly deadline: number;
  readonly resolve: (ticket: Ticket) => void;
  readonly reject: (error: Error) => void;
  /** Stops watching for the caller going away. */
  unwatch: () => void;
}

/**
 * Watches for the caller going away while it waits: calls `abort` then, and returns a function
 * that stops watching. Only called for a request that has to wait.
 */
export type AbortWatcher = (abort: (reason: Error) => void) => () => void;

/** Requests to one bucket waiting in order, and the wake-up of the one at the head. */
interface Lane {
  readonly waiters: Waiter[];
  running: boolean;
  wake: (() => void) | null;
}

/** What a request refused for a full queue is told: the queue moves on within about a second. */
const QUEUE_FULL_RETRY_AFTER_MS = 1_000;

/**
 * Hands out rate-limit slots from a {@link RateLimitStore}. A request whose slot is free goes at
 * once, in parallel with others; otherwise it waits in its bucket's lane, first come first
 * served, until the store grants it or its wait would pass the bound, when it gets a
 * {@link ProxyRateLimitError} with the time to retry.
 */
export class RateLimiter {
  private readonly lanes = new Map<string, Lane>();
  private readonly options: RequiredRateLimiterOptions & OptionalRateLimiterOptions;

  public constructor(
    private readonly store: RateLimitStore,
    options: RateLimiterOptions,
  ) {
    this.options = { ...DefaultRateLimiterOptions, ...options };
  }

  /** Requests waiting for a slot. */
  public get waiting(): number {
    let waiting = 0;
    for (const lane of this.lanes.values()) waiting += lane.waiters.length;
    return waiting;
  }

  /**
   * Waits for a slot for a request.
   *
   * @param watchAbort - Ends the wait early (the caller went away).
   * @throws {@link ProxyRateLimitError} when the wait would pass the bound or the lane is full.
   * @throws {@link InvalidRequestLimitError} while forwarding is suspended.
   */
  public async acquire(key: RateLimitKey, watchAbort?: AbortWatcher): Promise<Ticket> {
    const laneKey = `${key.routeId} ${key.majorParameter}`;
    const lane = this.lanes.get(laneKey);
    if (lane === undefined || lane.waiters.length === 0) {
      const reservation = await this.store.reserve(key);
      if (reservation.granted) return reservation.ticket;
      this.throwIfFinal(reservation, Date.now() + this.options.queueTimeoutMs);
    }
    return this.enqueue(laneKey, key, watchAbort);
  }

  /** Gives the slot back with Discord's answer and lets the next waiter of its bucket try. */
  public async release(ticket: Ticket, outcome: UpstreamOutcome | null): Promise<void> {
    try {
      await this.store.settle(ticket, outcome);
    } finally {
      this.lanes.get(`${ticket.key.routeId} ${ticket.key.majorParameter}`)?.wake?.();
    }
  }

  private enqueue(laneKey: string, key: RateLimitKey, watchAbort: AbortWatcher | undefined): Promise<Ticket> {
    let lane = this.lanes.get(laneKey);
    if (lane === undefined) {
      lane = { waiters: [], running: false, wake: null };
      this.lanes.set(laneKey, lane);
    }
    if (lane.waiters.length >= this.options.queueLimit) {
      return Promise.reject(new ProxyRateLimitError('queue', QUEUE_FULL_RETRY_AFTER_MS));
    }
    const current = lane;
    return new Promise<Ticket>((resolve, reject) => {
      const waiter: Waiter = {
        key,
        deadline: Date.now() + this.options.queueTimeoutMs,
        resolve,
        reject,
        unwatch: () => undefined,
      };
      if (watchAbort !== undefined) {
        waiter.unwatch = watchAbort((reason) => {
          const index = current.waiters.indexOf(waiter);
          if (index === -1) return;
          current.waiters.splice(index, 1);
          reject(reason);
          if (index === 0) current.wake?.();
        });
      }
      current.waiters.push(waiter);
      if (!current.running) void this.drain(laneKey, current);
    });
  }

  /** Serves a lane's waiters in order until it is empty. */
  private async drain(laneKey: string, lane: Lane): Promise<void> {
    lane.running = true;
    try {
      for (let head = lane.waiters[0]; head !== undefined; head = lane.waiters[0]) {
        let reservation: Reservation;
        try {
          reservation = await this.store.reserve(head.key);
        } catch (error) {
          if (lane.waiters[0] === head) this.finish(lane, head, (waiter) => waiter.reject(error as Error));
          continue;
        }
        if (lane.waiters[0] !== head) {
          // Aborted while reserving: give the slot straight back.
          if (reservation.granted) await this.store.settle(reservation.ticket, null);
          continue;
        }
        if (reservation.granted) {
          this.finish(lane, head, (waiter) => waiter.resolve(reservation.ticket));
          continue;
        }
        const now = Date.now();
        try {
          this.throwIfFinal(reservation, head.deadline, now);
        } catch (error) {
          this.finish(lane, head, (waiter) => waiter.reject(error as Error));
          continue;
        }
        const remainingWait = head.deadline - now;
        if (remainingWait <= 0) {
          const retryAfterMs = reservation.retryAfterMs ?? this.options.pollIntervalMs;
          const scope = reservation.reason === 'global' ? 'global' : 'bucket';
          this.finish(lane, head, (waiter) => waiter.reject(new ProxyRateLimitError(scope, retryAfterMs)));
          continue;
        }
        await this.sleep(
          lane,
          Math.min(reservation.retryAfterMs ?? this.options.pollIntervalMs, remainingWait),
        );
      }
    } finally {
      lane.running = false;
      if (lane.waiters.length === 0) this.lanes.delete(laneKey);
    }
  }

  /** Throws when waiting cannot help: forwarding is suspended, or the slot frees after the deadline. */
  private throwIfFinal(
    reservation: Reservation & { granted: false },
    deadline: number,
    now = Date.now(),
  ): void {
    const { reason, retryAfterMs } = reservation;
    if (reason === 'invalid') {
      throw new InvalidRequestLimitError(this.options.invalidRequestLimit, retryAfterMs ?? 0);
    }
    if (retryAfterMs !== null && now + retryAfterMs > deadline) {
      throw new ProxyRateLimitError(reason, retryAfterMs);
    }
  }

  private finish(lane: Lane, waiter: Waiter, settle: (waiter: Waiter) => void): void {
    lane.waiters.shift();
    waiter.unwatch();
    settle(waiter);
  }

  /** Sleeps up to `ms`, or until a request of the lane settles. */
  private sleep(lane: Lane, ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(1, ms));
      function done(): void {
        clearTimeout(timer);
        lane.wake = null;
        resolve();
      }
      lane.wake = done;
    });
  }
}
