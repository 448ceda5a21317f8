import { Collection } from '@discordjs/collection';
import {
  type IShardingStrategy,
  managerToFetchingStrategyOptions,
  SimpleContextFetchingStrategy,
  type WebSocketManager,
  WebSocketShard,
  type WebSocketShardDestroyOptions,
  WebSocketShardEvents,
  type WebSocketShardStatus,
} from '@discordjs/ws';
import type { GatewaySendPayload } from 'discord-api-types/v10';

/**
 * Runs the shards in this process like @discordjs/ws's SimpleShardingStrategy, but connects
 * and stops them one at a time: the worker connects a shard only once it holds the shard's
 * lease, and stops a single shard when its lease is lost or Discord refuses it for good.
 */
export class LeasedShardingStrategy implements IShardingStrategy {
  private readonly shards = new Collection<number, WebSocketShard>();

  public constructor(private readonly manager: WebSocketManager) {}

  public async spawn(shardIds: number[]): Promise<void> {
    const strategyOptions = await managerToFetchingStrategyOptions(this.manager);
    for (const shardId of shardIds) {
      const shard = new WebSocketShard(
        new SimpleContextFetchingStrategy(this.manager, strategyOptions),
        shardId,
      );
      for (const event of Object.values(WebSocketShardEvents)) {
        shard.on(event, (...args: unknown[]) =>
          (this.manager.emit as (event: string, ...args: unknown[]) => boolean)(event, ...args, shardId),
        );
      }
      this.shards.set(shardId, shard);
    }
  }

  public async connect(): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.connect()));
  }

  /**
   * Starts one shard's connection without waiting for READY: a shard Discord refuses never
   * becomes ready, and the worker follows each shard through its events instead.
   */
  public connectShard(shardId: number): void {
    // connect() rejects when the shard emits `error` before READY; the worker has that event already.
    this.shardOf(shardId)
      .connect()
      .catch(() => undefined);
  }

  /** Closes one shard; the session stays resumable unless `code` is 1000 or 1001. */
  public async destroyShard(
    shardId: number,
    options: Omit<WebSocketShardDestroyOptions, 'recover'>,
  ): Promise<void> {
    await this.shardOf(shardId).destroy(options);
  }

  public async destroy(options: Omit<WebSocketShardDestroyOptions, 'recover'> = {}): Promise<void> {
    await Promise.all(this.shards.map((shard) => shard.destroy(options)));
    this.shards.clear();
  }

  public async send(shardId: number, payload: GatewaySendPayload): Promise<void> {
    await this.shardOf(shardId).send(payload);
  }

  public fetchStatus(): Collection<number, WebSocketShardStatus> {
    return this.shards.mapValues((shard) => shard.status);
  }

  private shardOf(shardId: number): WebSocketShard {
    const shard = this.shards.get(shardId);
    if (shard === undefined) throw new RangeError(`shard ${shardId} is not spawned`);
    return shard;
  }
}
