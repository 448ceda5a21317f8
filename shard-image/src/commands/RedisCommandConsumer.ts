import { setTimeout as sleep } from 'node:timers/promises';
import { decodeCommandEntry, type RedisKeys } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ShardMetrics } from '../ShardMetrics.js';
import type { CommandSender, GatewayCommand, ICommandConsumer } from './ICommandConsumer.js';

/** Required options of a {@link RedisCommandConsumer}. */
export interface RequiredRedisCommandConsumerOptions {
  /** For acks; the consumer opens its own blocking connection from it. */
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
  metrics: ShardMetrics;
  send: CommandSender;
  /** The consumer name in the group: stable per worker, so a restarted worker re-reads what it had not acked. */
  consumerName: string;
}

/** Optional options of a {@link RedisCommandConsumer}; defaults in {@link DefaultRedisCommandConsumerOptions}. */
export interface OptionalRedisCommandConsumerOptions {
  /**
   * The consumer group on every command stream.
   *
   * @defaultValue `'shard'`
   */
  group: string;
  /**
   * Commands held per shard before its stream is read again (the gateway takes about 2 per second).
   *
   * @defaultValue `20`
   */
  maxQueuedPerShard: number;
  /**
   * How long one blocking read waits.
   *
   * @defaultValue `2_000`
   */
  blockMs: number;
}

export const DefaultRedisCommandConsumerOptions = {
  group: 'shard',
  maxQueuedPerShard: 20,
  blockMs: 2_000,
} as const satisfies OptionalRedisCommandConsumerOptions;

export type RedisCommandConsumerOptions = RequiredRedisCommandConsumerOptions &
  Partial<OptionalRedisCommandConsumerOptions>;

/** Discord closes the connection (4002) on a larger payload. */
const MAX_PAYLOAD_BYTES = 4_096;
const RETRY_AFTER_ERROR_MS = 1_000;

type StreamReply = [key: string, entries: [id: string, fields: string[]][]][] | null;

interface ShardQueue {
  shardId: number;
  key: string;
  entries: [id: string, fields: string[]][];
  sending: Promise<void> | null;
  /** Pending (delivered but unacked) entries are read first, from this id on; then `>`: new ones. */
  cursor: string;
}

/**
 * Reads `sf:{bot}:commands:<shard>` of the worker's shards with one blocking `XREADGROUP`, keeps
 * a short queue per shard and sends each command on its shard's connection, acking it after the
 * send. The gateway's 120 sends per 60 s are kept by @discordjs/ws, which holds sends at 115
 * per minute and leaves the rest to heartbeats; a shard waiting on that limit holds up only
 * its own queue.
 */
export class RedisCommandConsumer implements ICommandConsumer {
  private readonly options: RequiredRedisCommandConsumerOptions & OptionalRedisCommandConsumerOptions;
  private readonly reader: Redis;
  private readonly queues = new Map<number, ShardQueue>();
  private readonly groupsReady = new Set<string>();
  private stopping = false;
  private loop: Promise<void> | null = null;

  public constructor(options: RedisCommandConsumerOptions) {
    this.options = { ...DefaultRedisCommandConsumerOptions, ...options };
    this.reader = options.redis.duplicate({ enableOfflineQueue: true, maxRetriesPerRequest: null });
    this.reader.on('error', () => undefined);
  }

  public start(shardIds: readonly number[]): void {
    for (const shardId of shardIds) {
      this.queues.set(shardId, {
        shardId,
        key: this.options.keys.commands(shardId),
        entries: [],
        sending: null,
        cursor: '0',
      });
    }
    this.loop ??= this.readLoop();
  }

  public remove(shardId: number): void {
    this.queues.delete(shardId);
  }

  public async stop(timeoutMs: number): Promise<void> {
    this.stopping = true;
    this.reader.disconnect();
    const sending = [...this.queues.values()].map((queue) => queue.sending).filter((p) => p !== null);
    await Promise.race([Promise.all([this.loop, ...sending]), sleep(timeoutMs)]);
  }

  private async readLoop(): Promise<void> {
    while (!this.stopping) {
      const readable = [...this.queues.values()].filter(
        (queue) => queue.entries.length < this.options.maxQueuedPerShard,
      );
      try {
        if (readable.length === 0) {
          await sleep(this.options.blockMs);
          continue;
        }
        await this.ensureGroups(readable);
        const reply = (await this.reader.xreadgroup(
          'GROUP',
          this.options.group,
          this.options.consumerName,
          'COUNT',
          this.options.maxQueuedPerShard,
          'BLOCK',
          this.options.blockMs,
          'STREAMS',
          ...readable.map((queue) => queue.key),
          ...readable.map((queue) => queue.cursor),
        )) as StreamReply;
        this.take(readable, reply);
      } catch (error) {
        if (this.stopping) return;
        if (String(error).includes('NOGROUP')) this.groupsReady.clear();
        this.options.logger.warn({ err: error }, 'could not read the command streams; retrying');
        await sleep(RETRY_AFTER_ERROR_MS);
      }
    }
  }

  private async ensureGroups(queues: ShardQueue[]): Promise<void> {
    for (const queue of queues) {
      if (this.groupsReady.has(queue.key)) continue;
      try {
        await this.reader.xgroup('CREATE', queue.key, this.options.group, '0', 'MKSTREAM');
      } catch (error) {
        if (!String(error).includes('BUSYGROUP')) throw error;
      }
      this.groupsReady.add(queue.key);
      queue.cursor = '0';
    }
  }

  private take(readable: ShardQueue[], reply: StreamReply): void {
    const byKey = new Map((reply ?? []).map(([key, entries]) => [key, entries]));
    for (const queue of readable) {
      const entries = byKey.get(queue.key) ?? [];
      if (queue.cursor !== '>') {
        // A short page of pending entries is the last one: from now on only new entries.
        const last = entries.at(-1);
        queue.cursor = last === undefined || entries.length < this.options.maxQueuedPerShard ? '>' : last[0];
      }
      const fresh = entries.filter(([, fields]) => fields !== null);
      if (fresh.length === 0) continue;
      queue.entries.push(...fresh);
      queue.sending ??= this.drain(queue).finally(() => {
        queue.sending = null;
      });
    }
  }

  private async drain(queue: ShardQueue): Promise<void> {
    while (!this.stopping && queue.entries.length > 0 && this.queues.has(queue.shardId)) {
      const [id, fields] = queue.entries[0] as [string, string[]];
      const command = this.decode(queue.shardId, id, fields);
      if (command !== null) {
        try {
          await this.options.send(queue.shardId, command);
          this.options.metrics.commands.inc({ op: String(command.op), result: 'sent' });
        } catch (error) {
          this.options.logger.warn(
            { err: error, shard: queue.shardId, id },
            'could not send a gateway command; retrying',
          );
          await sleep(RETRY_AFTER_ERROR_MS);
          continue;
        }
      }
      queue.entries.shift();
      try {
        await this.options.redis.xack(queue.key, this.options.group, id);
      } catch (error) {
        // Unacked, it is sent again after a restart: commands are idempotent enough for that.
        this.options.logger.warn({ err: error, shard: queue.shardId, id }, 'could not ack a command');
      }
    }
  }

  private decode(shardId: number, id: string, fields: string[]): GatewayCommand | null {
    try {
      const entry = decodeCommandEntry(fields);
      const size = Buffer.byteLength(JSON.stringify({ op: entry.op, d: entry.d }));
      if (size > MAX_PAYLOAD_BYTES) {
        throw new RangeError(`payload is ${size} bytes; the gateway takes at most ${MAX_PAYLOAD_BYTES}`);
      }
      return { op: entry.op, d: entry.d };
    } catch (error) {
      this.options.metrics.commands.inc({ op: 'invalid', result: 'invalid' });
      this.options.logger.warn(
        { err: error, shard: shardId, id },
        'dropped an invalid command entry (acked so it is not read again)',
      );
      return null;
    }
  }
}
