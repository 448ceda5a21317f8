import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { RedisKeys } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { IShardLease, LeaseLostListener } from './IShardLease.js';

/** Required options of a {@link RedisShardLease}. */
export interface RequiredRedisShardLeaseOptions {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  /**
   * The worker's stable name, its pod name. A lease held by an earlier process of the same pod
   * is taken over at once: a StatefulSet runs at most one pod of a name, so that process is gone.
   */
  holderName: string;
  onLost: LeaseLostListener;
}

/** Optional options of a {@link RedisShardLease}; defaults in {@link DefaultRedisShardLeaseOptions}. */
export interface OptionalRedisShardLeaseOptions {
  /**
   * How long a lease lives without renewal; a crashed worker's shards are free after it.
   *
   * @defaultValue `15_000`
   */
  ttlMs: number;
  /**
   * How often held leases are renewed.
   *
   * @defaultValue `5_000`
   */
  renewIntervalMs: number;
}

export const DefaultRedisShardLeaseOptions = {
  ttlMs: 15_000,
  renewIntervalMs: 5_000,
} as const satisfies OptionalRedisShardLeaseOptions;

export type RedisShardLeaseOptions = RequiredRedisShardLeaseOptions & Partial<OptionalRedisShardLeaseOptions>;

const RETRY_AFTER_ERROR_MS = 1_000;
const MAX_WAIT_MS = 2_000;

/** Returns 1 when taken, else the holder: free keys and keys of the same pod are taken. */
const ACQUIRE_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] or string.sub(holder, 1, string.len(ARGV[3])) == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return holder`;

/** Returns 1 when renewed (or re-taken after Redis lost it), else the new holder. */
const RENEW_SCRIPT = `
local holder = redis.call('GET', KEYS[1])
if holder == false or holder == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return 1
end
return holder`;

const RELEASE_SCRIPT = `
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`;

/**
 * Shard leases in Redis: `sf:{bot}:lease:<shard>` holds `<pod>#<random>` with a PX TTL, renewed
 * while the shard runs. A second claimant waits until the lease is free; a worker that finds its
 * lease held by someone else closes that shard. While Redis is unreachable leases are kept: the
 * gateway stays up, and renewal resumes when Redis is back.
 */
export class RedisShardLease implements IShardLease {
  private readonly options: RequiredRedisShardLeaseOptions & OptionalRedisShardLeaseOptions;
  /** This process's lease value. */
  public readonly holder: string;
  private readonly held = new Set<number>();
  private timer: NodeJS.Timeout | null = null;

  public constructor(options: RedisShardLeaseOptions) {
    this.options = { ...DefaultRedisShardLeaseOptions, ...options };
    this.holder = `${options.holderName}#${randomBytes(6).toString('hex')}`;
  }

  public async acquire(shardId: number, signal: AbortSignal): Promise<void> {
    const key = this.options.keys.lease(shardId);
    let reportedHolder: string | null = null;
    for (;;) {
      signal.throwIfAborted();
      let waitMs = RETRY_AFTER_ERROR_MS;
      try {
        const answer = (await this.options.redis.eval(
          ACQUIRE_SCRIPT,
          1,
          key,
          this.holder,
          String(this.options.ttlMs),
          `${this.options.holderName}#`,
        )) as number | string;
        if (answer === 1) {
          this.held.add(shardId);
          this.startRenewing();
          return;
        }
        if (answer !== reportedHolder) {
          reportedHolder = String(answer);
          this.options.logger.warn(
            { shard: shardId, holder: reportedHolder },
            'shard lease held by another worker: waiting for it',
          );
        }
        const ttl = await this.options.redis.pttl(key);
        waitMs = Math.min(Math.max(ttl, 50), MAX_WAIT_MS);
      } catch (error) {
        signal.throwIfAborted();
        this.options.logger.warn({ err: error, shard: shardId }, 'could not claim the shard lease; retrying');
      }
      await sleep(waitMs, undefined, { signal });
    }
  }

  public async release(shardId: number): Promise<void> {
    if (!this.held.delete(shardId)) return;
    try {
      await this.options.redis.eval(RELEASE_SCRIPT, 1, this.options.keys.lease(shardId), this.holder);
    } catch (error) {
      this.options.logger.warn({ err: error, shard: shardId }, 'could not release the shard lease');
    }
  }

  /** Releases every lease and stops renewing. */
  public async releaseAll(): Promise<void> {
    this.stop();
    await Promise.all([...this.held].map((shardId) => this.release(shardId)));
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private startRenewing(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.renew(), this.options.renewIntervalMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const redis = this.options.redis;
    if (redis.status !== 'ready' || this.held.size === 0) return;
    const shardIds = [...this.held];
    const pipeline = redis.pipeline();
    for (const shardId of shardIds) {
      pipeline.eval(
        RENEW_SCRIPT,
        1,
        this.options.keys.lease(shardId),
        this.holder,
        String(this.options.ttlMs),
      );
    }
    try {
      const results = (await pipeline.exec()) ?? [];
      shardIds.forEach((shardId, index) => {
        const [error, answer] = results[index] ?? [null, 1];
        if (error || answer === 1 || !this.held.has(shardId)) return;
        this.held.delete(shardId);
        this.options.onLost(shardId, String(answer));
      });
    } catch (error) {
      this.options.logger.warn({ err: error }, 'could not renew shard leases; will retry');
    }
  }
}
