import type { RedisKeys } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type ShardMetrics, ShardStatusValue } from '../ShardMetrics.js';

/** Where a shard is; the `status` field of `sf:{bot}:shard:<shard>`. */
export type ShardStatus =
  | 'idle'
  | 'waiting_lease'
  | 'waiting_identify'
  | 'waiting_budget'
  | 'connecting'
  | 'resuming'
  | 'ready'
  | 'stopped';

/** What the worker knows about one of its shards. */
export interface ShardState {
  readonly id: number;
  status: ShardStatus;
  /** Why the shard is stopped or waiting, for people. */
  reason: string | null;
  /** When `status` last changed, ms since the epoch. */
  since: number;
  latencyMs: number | null;
  lastEventAt: number;
  readonly guilds: Set<string>;
}

/** Required options of a {@link ShardStatusBoard}. */
export interface ShardStatusBoardOptions {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  metrics: ShardMetrics;
  shardIds: readonly number[];
  /** Named in each hash so people can tell which pod runs a shard. */
  workerName: string;
  /** How often every hash is rewritten (latency and last event move without a status change). */
  refreshIntervalMs: number;
}

const GAUGE_VALUE: Record<ShardStatus, number> = {
  idle: ShardStatusValue.idle,
  waiting_lease: ShardStatusValue.waiting,
  waiting_identify: ShardStatusValue.waiting,
  waiting_budget: ShardStatusValue.waiting,
  connecting: ShardStatusValue.connecting,
  resuming: ShardStatusValue.resuming,
  ready: ShardStatusValue.ready,
  stopped: ShardStatusValue.stopped,
};

/**
 * The worker's shard states, mirrored to the `shardfleet_shard_status` gauge and to the status
 * hashes `sf:{bot}:shard:<shard>` (`status, latency_ms, last_event_at, guilds, reason, worker,
 * updated_at`) for the operator and tools. A hash expires when its worker stops refreshing it.
 */
export class ShardStatusBoard {
  public readonly states = new Map<number, ShardState>();
  private readonly changed = new Set<number>();
  /** Shards another worker holds: their hashes are that worker's to write. */
  private readonly foreign = new Set<number>();
  private writeScheduled = false;
  private timer: NodeJS.Timeout | null = null;

  public constructor(private readonly options: ShardStatusBoardOptions) {
    for (const id of options.shardIds) {
      this.states.set(id, {
        id,
        status: 'idle',
        reason: null,
        since: Date.now(),
        latencyMs: null,
        lastEventAt: 0,
        guilds: new Set(),
      });
      options.metrics.shardStatus.set({ shard: String(id) }, GAUGE_VALUE.idle);
    }
  }

  public state(shardId: number): ShardState {
    const state = this.states.get(shardId);
    if (state === undefined) throw new RangeError(`shard ${shardId} is not run by this worker`);
    return state;
  }

  /** Moves a shard to `status`; a shard stopped for good stays stopped. */
  public set(shardId: number, status: ShardStatus, reason: string | null = null): void {
    const state = this.state(shardId);
    if (state.status === 'stopped' && status !== 'stopped') return;
    if (state.status === status && state.reason === reason) return;
    state.status = status;
    state.reason = reason;
    state.since = Date.now();
    this.options.metrics.shardStatus.set({ shard: String(shardId) }, GAUGE_VALUE[status]);
    this.changed.add(shardId);
    this.scheduleWrite();
  }

  /** Stops writing a shard's hash: another worker took the shard. */
  public disown(shardId: number): void {
    this.foreign.add(shardId);
  }

  /** True when every shard is ready. */
  public allReady(): boolean {
    for (const state of this.states.values()) if (state.status !== 'ready') return false;
    return true;
  }

  public start(): void {
    this.timer = setInterval(() => {
      for (const id of this.states.keys()) this.changed.add(id);
      void this.write();
    }, this.options.refreshIntervalMs);
    this.timer.unref();
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Writes every hash now. */
  public async writeAll(): Promise<void> {
    for (const id of this.states.keys()) this.changed.add(id);
    await this.write();
  }

  private scheduleWrite(): void {
    if (this.writeScheduled) return;
    this.writeScheduled = true;
    setImmediate(() => {
      this.writeScheduled = false;
      void this.write();
    });
  }

  private async write(): Promise<void> {
    const redis = this.options.redis;
    if (redis.status !== 'ready' || this.changed.size === 0) return;
    const ids = [...this.changed];
    this.changed.clear();
    const pipeline = redis.pipeline();
    const ttlMs = this.options.refreshIntervalMs * 3;
    for (const id of ids) {
      const state = this.state(id);
      // Until this worker holds a shard's lease, the hash is another worker's (or nobody's).
      const unclaimed =
        state.status === 'waiting_lease' || (state.status === 'idle' && state.reason === null);
      if (unclaimed || this.foreign.has(id)) continue;
      const key = this.options.keys.shardStatus(id);
      pipeline.hset(key, {
        status: state.status,
        reason: state.reason ?? '',
        latency_ms: state.latencyMs === null ? '' : String(state.latencyMs),
        last_event_at: state.lastEventAt === 0 ? '' : String(state.lastEventAt),
        guilds: String(state.guilds.size),
        worker: this.options.workerName,
        updated_at: String(Date.now()),
      });
      pipeline.pexpire(key, ttlMs);
    }
    try {
      await pipeline.exec();
    } catch (error) {
      for (const id of ids) this.changed.add(id);
      this.options.logger.debug({ err: error }, 'could not write shard status; will retry');
    }
  }
}
