import { setTimeout as sleep } from 'node:timers/promises';
import type { IIdentifyThrottler } from '@discordjs/ws';
import { identifyBucket, type RedisKeys } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BudgetRefusal, IdentifyBudget } from './IdentifyBudget.js';

/** What the throttler tells the worker about a shard on its way to identify. */
export interface IdentifyThrottlerListener {
  /** The shard waits for its bucket's turn. */
  onWaiting(shardId: number): void;
  /** The shard is refused: the budget is down to the reserve. Called once per wait. */
  onRefused(shardId: number, refusal: BudgetRefusal): void;
  /** The shard may identify now. */
  onGranted(shardId: number): void;
}

/** Required options of a {@link RedisIdentifyThrottler}. */
export interface RequiredRedisIdentifyThrottlerOptions {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  budget: IdentifyBudget;
  listener: IdentifyThrottlerListener;
  /** `session_start_limit.max_concurrency`. */
  maxConcurrency: number;
  /** One identify per bucket per this interval (Discord: 5 s). */
  intervalMs: number;
  /** This process's name in the lock, for people reading Redis. */
  holder: string;
}

/** Optional options of a {@link RedisIdentifyThrottler}; defaults in {@link DefaultRedisIdentifyThrottlerOptions}. */
export interface OptionalRedisIdentifyThrottlerOptions {
  /**
   * Added to the lock's lifetime. Discord times identifies by when they arrive: a pod that stalls
   * between its grant and the send (CPU throttling, a busy node, GC) or a slower network path makes
   * the gap to the next identify of the bucket shorter than the interval.
   *
   * @defaultValue a fifth of `intervalMs`, at least 100 ms (1 s at Discord's 5 s; a fleet starting on
   * a busy two-core node was seen 510 ms short with 100 ms)
   */
  marginMs: number;
  /**
   * Longest sleep while the budget is down to the reserve before checking it again.
   *
   * @defaultValue `60_000`
   */
  maxBudgetWaitMs: number;
}

export const DefaultRedisIdentifyThrottlerOptions = {
  maxBudgetWaitMs: 60_000,
} as const satisfies Partial<OptionalRedisIdentifyThrottlerOptions>;

/** The default {@link OptionalRedisIdentifyThrottlerOptions.marginMs} for an interval. */
export function defaultIdentifyMarginMs(intervalMs: number): number {
  return Math.max(100, Math.round(intervalMs / 5));
}

export type RedisIdentifyThrottlerOptions = RequiredRedisIdentifyThrottlerOptions &
  Partial<OptionalRedisIdentifyThrottlerOptions>;

const RETRY_AFTER_ERROR_MS = 1_000;
/**
 * Restarts the lock's lifetime when this process still holds it: `PEXPIRE` only for the holder's own
 * grant, so a lock that expired and went to another shard is never extended.
 */
const RESTART_LOCK_SCRIPT = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`;
const MIN_POLL_MS = 5;
const POLL_JITTER_MS = 20;

/**
 * Identify throttling for a whole fleet: a shard identifies only after it set the bucket's lock
 * `sf:{bot}:identify:<shard % max_concurrency>` with `SET NX PX <interval + margin>`, so every
 * worker of a bot together sends at most one identify per bucket per interval. Before that it
 * checks the daily budget and, at the reserve, waits for the reset instead of spending the rest.
 */
export class RedisIdentifyThrottler implements IIdentifyThrottler {
  private readonly options: RequiredRedisIdentifyThrottlerOptions & OptionalRedisIdentifyThrottlerOptions;
  private grants = 0;

  public constructor(options: RedisIdentifyThrottlerOptions) {
    this.options = {
      ...DefaultRedisIdentifyThrottlerOptions,
      ...options,
      marginMs: options.marginMs ?? defaultIdentifyMarginMs(options.intervalMs),
    };
  }

  public async waitForIdentify(shardId: number, signal: AbortSignal): Promise<void> {
    const { redis, keys, budget, listener, logger } = this.options;
    const key = keys.identify(identifyBucket(shardId, this.options.maxConcurrency));
    const lockMs = String(this.options.intervalMs + this.options.marginMs);
    let refused = false;
    listener.onWaiting(shardId);
    for (;;) {
      signal.throwIfAborted();
      await budget.refresh(refused);
      const refusal = budget.check();
      if (refusal !== null) {
        if (!refused) listener.onRefused(shardId, refusal);
        refused = true;
        await sleep(
          Math.min(Math.max(refusal.resetAfterMs, RETRY_AFTER_ERROR_MS), this.options.maxBudgetWaitMs),
          undefined,
          { signal },
        );
        continue;
      }
      if (refused) {
        refused = false;
        listener.onWaiting(shardId);
      }
      let waitMs = RETRY_AFTER_ERROR_MS;
      // Each grant its own value, so only this grant's holder can restart the lock's lifetime.
      const grant = `${this.options.holder} shard ${shardId} #${++this.grants}`;
      try {
        const requestedAt = performance.now();
        if (
          (await redis.set(key, grant, 'PX', lockMs, 'NX')) === 'OK' &&
          (await this.restartWhileLate(key, grant, lockMs, requestedAt))
        ) {
          signal.throwIfAborted();
          budget.spend();
          listener.onGranted(shardId);
          return;
        }
        const ttl = await redis.pttl(key);
        waitMs = Math.max(ttl, MIN_POLL_MS) + Math.random() * POLL_JITTER_MS;
      } catch (error) {
        signal.throwIfAborted();
        logger.warn({ err: error, shard: shardId }, 'identify lock unavailable (Redis?); retrying');
      }
      await sleep(waitMs, undefined, { signal });
    }
  }

  /**
   * The identify leaves right after the grant, and must reach Discord no sooner than the interval
   * after the previous one of its bucket, which the lock measures from when Redis set it. An answer
   * that took longer than the margin (this process's event loop was busy, say) used up that much of
   * the interval: restart the lock's lifetime until an answer comes back within the margin. False
   * when the lock expired meanwhile and another shard may have it.
   */
  private async restartWhileLate(key: string, grant: string, lockMs: string, requestedAt: number) {
    let askedAt = requestedAt;
    while (performance.now() - askedAt > this.options.marginMs) {
      askedAt = performance.now();
      if ((await this.options.redis.eval(RESTART_LOCK_SCRIPT, 1, key, grant, lockMs)) !== 1) return false;
    }
    return true;
  }
}
