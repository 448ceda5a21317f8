import { randomBytes } from 'node:crypto';
import { type CommandEntry, encodeCommandEntry, GatewayCommandOp, shardForGuild } from '@shardfleet/protocol';
import type {
  APIGuildMember,
  GatewayGuildMembersChunkDispatchData,
  GatewayPresenceUpdateData,
  GatewayRateLimitedDispatchData,
} from 'discord-api-types/v10';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';

/** A member request that got no complete answer in time. */
export class GuildMembersTimeoutError extends Error {
  public constructor(
    public readonly guildId: string,
    public readonly nonce: string,
    public readonly receivedChunks: number,
    public readonly chunkCount: number | null,
  ) {
    super(
      `requestGuildMembers(${guildId}) timed out with ${receivedChunks} of ${chunkCount ?? 'unknown'} chunks (nonce ${nonce})`,
    );
    this.name = 'GuildMembersTimeoutError';
  }
}

/** Discord refused a member request (dispatch RATE_LIMITED, op 8): retry after `retryAfterMs`. */
export class GuildMembersRateLimitedError extends Error {
  public constructor(
    public readonly guildId: string,
    public readonly retryAfterMs: number,
  ) {
    super(`requestGuildMembers(${guildId}) was rate limited; retry after ${retryAfterMs} ms`);
    this.name = 'GuildMembersRateLimitedError';
  }
}

/** The meta hash has no shard count yet: no shard worker or operator has written it. */
export class ShardCountUnknownError extends Error {
  public constructor(public readonly metaKey: string) {
    super(`no shard_count in ${metaKey}: is a shard worker running?`);
    this.name = 'ShardCountUnknownError';
  }
}

/** What {@link GatewayCommands.requestGuildMembers} asks for; without `query` and `userIds`, every member. */
export interface GuildMembersRequest {
  query?: string;
  /** Members at most (0: no limit, only with an empty query). @defaultValue `0` */
  limit?: number;
  userIds?: string[];
  presences?: boolean;
  /** How long to wait for every chunk. @defaultValue the bot's `memberRequestTimeoutMs` */
  timeoutMs?: number;
}

/** What {@link GatewayCommands.updateVoiceState} sends. */
export interface VoiceStateRequest {
  /** The voice channel to join, `null` to leave. */
  channelId: string | null;
  /** @defaultValue `false` */
  selfMute?: boolean;
  /** @defaultValue `false` */
  selfDeaf?: boolean;
}

/** Required options of {@link GatewayCommands}. */
export interface GatewayCommandsOptions {
  redis: Redis;
  /** `sf:{bot}:meta`. */
  metaKey: string;
  /** `sf:{bot}:commands:<shard>`. */
  commandsKey: (shard: number) => string;
  /** The pub/sub channel that carries member chunks to the pod that asked for them. */
  chunkChannel: string;
  /** @defaultValue `10_000` */
  memberRequestTimeoutMs?: number;
  logger: Logger;
}

/** Commands per shard stream kept at most; a shard that reads them is never that far behind. */
const COMMAND_STREAM_MAX_LENGTH = 10_000;
const SHARD_COUNT_TTL_MS = 5_000;
/** Prefix of the nonces this runtime makes, so chunks of other requests are left alone. */
const NONCE_PREFIX = 'sf';

interface Collector {
  readonly guildId: string;
  readonly chunks: Map<number, APIGuildMember[]>;
  chunkCount: number | null;
  readonly resolve: (members: APIGuildMember[]) => void;
  readonly reject: (error: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Gateway commands of the bot, written to the command stream of the shard that owns the guild
 * (`(guild_id >> 22) % shard_count`, the count read from `sf:{bot}:meta`).
 *
 * Member chunks come back as GUILD_MEMBERS_CHUNK events in the event stream, which the consumer
 * group spreads over every bot pod: a pod that gets a chunk of a nonce it did not ask for
 * publishes it on a Redis channel, where the asking pod collects it.
 */
export class GatewayCommands {
  private readonly collectors = new Map<string, Collector>();
  private shardCount: { value: number; at: number } | undefined;
  private subscriber: Promise<Redis> | undefined;
  private readonly timeoutMs: number;

  public constructor(private readonly options: GatewayCommandsOptions) {
    this.timeoutMs = options.memberRequestTimeoutMs ?? 10_000;
  }

  /** Sets the bot's presence on every shard (op 3). */
  public async setPresence(presence: GatewayPresenceUpdateData): Promise<void> {
    const count = await this.getShardCount();
    const pipeline = this.options.redis.pipeline();
    for (let shard = 0; shard < count; shard++) {
      pipeline.xadd(...this.commandArgs(shard, GatewayCommandOp.UpdatePresence, { ...presence }));
    }
    const results = await pipeline.exec();
    const failed = results?.find(([error]) => error !== null);
    if (failed) throw failed[0] as Error;
  }

  /** Joins, moves in or leaves a voice channel of a guild (op 4). */
  public async updateVoiceState(guildId: string, request: VoiceStateRequest): Promise<void> {
    await this.send(guildId, GatewayCommandOp.VoiceStateUpdate, {
      guild_id: guildId,
      channel_id: request.channelId,
      self_mute: request.selfMute ?? false,
      self_deaf: request.selfDeaf ?? false,
    });
  }

  /**
   * Requests guild members (op 8) and resolves with all of them once every GUILD_MEMBERS_CHUNK
   * of the request has arrived; rejects on timeout or when Discord rate limits the request.
   */
  public async requestGuildMembers(
    guildId: string,
    request: GuildMembersRequest = {},
  ): Promise<APIGuildMember[]> {
    await this.subscribe();
    const nonce = `${NONCE_PREFIX}${randomBytes(15).toString('hex')}`;
    const timeoutMs = request.timeoutMs ?? this.timeoutMs;
    let settle!: Pick<Collector, 'resolve' | 'reject'>;
    const result = new Promise<APIGuildMember[]>((resolve, reject) => (settle = { resolve, reject }));
    const collector: Collector = {
      guildId,
      chunks: new Map(),
      chunkCount: null,
      ...settle,
      timer: undefined,
    };
    this.collectors.set(nonce, collector);
    const data: Record<string, unknown> = { guild_id: guildId, nonce, limit: request.limit ?? 0 };
    if (request.userIds !== undefined) data.user_ids = request.userIds;
    else data.query = request.query ?? '';
    if (request.presences !== undefined) data.presences = request.presences;
    try {
      await this.send(guildId, GatewayCommandOp.RequestGuildMembers, data);
    } catch (error) {
      this.collectors.delete(nonce);
      throw error;
    }
    if (this.collectors.has(nonce)) {
      collector.timer = setTimeout(() => {
        this.collectors.delete(nonce);
        collector.reject(
          new GuildMembersTimeoutError(guildId, nonce, collector.chunks.size, collector.chunkCount),
        );
      }, timeoutMs);
    }
    return result;
  }

  /**
   * Takes a GUILD_MEMBERS_CHUNK or RATE_LIMITED event from the stream: feeds the local request of
   * its nonce, or publishes it for the pod that made the request.
   */
  public async observe(event: string, data: unknown): Promise<void> {
    const nonce = nonceOf(event, data);
    if (nonce === undefined || !nonce.startsWith(NONCE_PREFIX)) return;
    if (this.collectors.has(nonce)) {
      this.feed(event, data, nonce);
      return;
    }
    await this.options.redis.publish(this.options.chunkChannel, JSON.stringify({ t: event, d: data }));
  }

  /** Rejects pending member requests and closes the subscriber connection. */
  public async close(): Promise<void> {
    for (const [nonce, collector] of this.collectors) {
      clearTimeout(collector.timer);
      collector.reject(new Error(`bot stopping; member request ${nonce} abandoned`));
    }
    this.collectors.clear();
    const subscriber = await this.subscriber?.catch(() => undefined);
    subscriber?.disconnect();
  }

  /** The shard count from `sf:{bot}:meta`, cached a few seconds (a reshard changes it). */
  public async getShardCount(): Promise<number> {
    const cached = this.shardCount;
    if (cached && Date.now() - cached.at < SHARD_COUNT_TTL_MS) return cached.value;
    const raw = await this.options.redis.hget(this.options.metaKey, 'shard_count');
    const value = Number(raw);
    if (raw === null || !Number.isSafeInteger(value) || value < 1) {
      throw new ShardCountUnknownError(this.options.metaKey);
    }
    this.shardCount = { value, at: Date.now() };
    return value;
  }

  private async send(guildId: string, op: GatewayCommandOp, d: Record<string, unknown>): Promise<void> {
    const shard = shardForGuild(guildId, await this.getShardCount());
    await this.options.redis.xadd(...this.commandArgs(shard, op, d));
  }

  private commandArgs(
    shard: number,
    op: GatewayCommandOp,
    d: Record<string, unknown>,
  ): [string, 'MAXLEN', '~', number, '*', ...string[]] {
    const command: CommandEntry = { op, d, id: randomBytes(8).toString('hex'), ts: Date.now() };
    return [
      this.options.commandsKey(shard),
      'MAXLEN',
      '~',
      COMMAND_STREAM_MAX_LENGTH,
      '*',
      ...encodeCommandEntry(command),
    ];
  }

  private subscribe(): Promise<Redis> {
    this.subscriber ??= (async () => {
      const subscriber = this.options.redis.duplicate();
      subscriber.on('error', (error: Error) =>
        this.options.logger.debug({ err: error }, 'chunk subscriber error'),
      );
      subscriber.on('message', (_channel: string, message: string) => {
        try {
          const { t, d } = JSON.parse(message) as { t: string; d: unknown };
          const nonce = nonceOf(t, d);
          if (nonce !== undefined && this.collectors.has(nonce)) this.feed(t, d, nonce);
        } catch (error) {
          this.options.logger.warn({ err: error }, 'bad member chunk message');
        }
      });
      await subscriber.subscribe(this.options.chunkChannel);
      return subscriber;
    })();
    return this.subscriber;
  }

  private feed(event: string, data: unknown, nonce: string): void {
    const collector = this.collectors.get(nonce);
    if (!collector) return;
    if (event === 'RATE_LIMITED') {
      const limited = data as GatewayRateLimitedDispatchData;
      this.finish(nonce, collector);
      collector.reject(
        new GuildMembersRateLimitedError(collector.guildId, Math.ceil(limited.retry_after * 1_000)),
      );
      return;
    }
    const chunk = data as GatewayGuildMembersChunkDispatchData;
    collector.chunkCount = chunk.chunk_count;
    // A replayed chunk (same index) replaces the first copy.
    collector.chunks.set(chunk.chunk_index, chunk.members);
    if (collector.chunks.size < chunk.chunk_count) return;
    this.finish(nonce, collector);
    const members: APIGuildMember[] = [];
    for (let index = 0; index < chunk.chunk_count; index++)
      members.push(...(collector.chunks.get(index) ?? []));
    collector.resolve(members);
  }

  private finish(nonce: string, collector: Collector): void {
    clearTimeout(collector.timer);
    this.collectors.delete(nonce);
  }
}

function nonceOf(event: string, data: unknown): string | undefined {
  if (typeof data !== 'object' || data === null) return undefined;
  if (event === 'GUILD_MEMBERS_CHUNK') {
    const nonce = (data as { nonce?: unknown }).nonce;
    return typeof nonce === 'string' ? nonce : undefined;
  }
  if (event === 'RATE_LIMITED') {
    const meta = (data as { opcode?: unknown; meta?: { nonce?: unknown } }).meta;
    return typeof meta?.nonce === 'string' ? meta.nonce : undefined;
  }
  return undefined;
}
