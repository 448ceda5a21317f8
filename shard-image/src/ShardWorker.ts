import { setTimeout as sleep } from 'node:timers/promises';
import type { REST } from '@discordjs/rest';
import { CloseCodes, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import { HealthServer, type ProbeResult, type RedisKeys, redisKeys } from '@shardfleet/protocol';
import type {
  APIGatewayBotInfo,
  GatewayDispatchPayload,
  GatewayReadyDispatchData,
  GatewaySendPayload,
} from 'discord-api-types/v10';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { GatewayCommand } from './commands/ICommandConsumer.js';
import { RedisCommandConsumer } from './commands/RedisCommandConsumer.js';
import type { ShardWorkerConfig } from './config.js';
import { closeCodeHandling } from './gateway/closeCodes.js';
import { LeasedShardingStrategy } from './gateway/LeasedShardingStrategy.js';
import { IdentifyBudget } from './identify/IdentifyBudget.js';
import { RedisIdentifyThrottler } from './identify/RedisIdentifyThrottler.js';
import { RedisShardLease } from './lease/RedisShardLease.js';
import { RedisEventPublisher } from './publish/RedisEventPublisher.js';
import { RedisSessionStore } from './session/RedisSessionStore.js';
import { DiscordHttpError, GatewayInfoClient } from './rest/GatewayInfoClient.js';
import { ShardMetrics } from './ShardMetrics.js';
import { type ShardState, ShardStatusBoard } from './status/ShardStatusBoard.js';

/** Optional settings of a {@link ShardWorker}; defaults in {@link DefaultShardWorkerOptions}. */
export interface OptionalShardWorkerOptions {
  /**
   * Address of the health and metrics server.
   *
   * @defaultValue `'0.0.0.0'`
   */
  host: string;
  /**
   * Longest shutdown: sockets, buffer flush and session writes together.
   *
   * @defaultValue `20_000`
   */
  shutdownTimeoutMs: number;
  /**
   * How often the status hashes are rewritten.
   *
   * @defaultValue `5_000`
   */
  statusIntervalMs: number;
}

export const DefaultShardWorkerOptions = {
  host: '0.0.0.0',
  shutdownTimeoutMs: 20_000,
  statusIntervalMs: 5_000,
} as const satisfies OptionalShardWorkerOptions;

/** Dispatches whose guild id is the data's `id`, not its `guild_id`. */
const GUILD_ID_IS_ID = new Set(['GUILD_CREATE', 'GUILD_UPDATE', 'GUILD_DELETE']);
const GATEWAY_RETRY_MS = 5_000;
const BUDGET_MAX_AGE_MS = 30_000;
const REDIS_RETRY_MAX_MS = 1_000;
const REST_TIMEOUT_MS = 15_000;
const REDIS_ERROR_LOG_INTERVAL_MS = 10_000;

/** Thrown by {@link ShardWorker.start} when Discord rejects the token. */
export class TokenRejectedError extends Error {
  public constructor(public readonly status: number) {
    super(`Discord rejected DISCORD_TOKEN (HTTP ${status} on GET /gateway/bot)`);
    this.name = 'TokenRejectedError';
  }
}

/**
 * The shard worker: runs its shards on @discordjs/ws, publishes their dispatches to the event
 * stream, sends the bots' gateway commands, and keeps sessions, leases, identify locks and
 * status in Redis so the fleet resumes across restarts and never identifies too fast.
 */
export class ShardWorker {
  private readonly options: OptionalShardWorkerOptions;
  private readonly keys: RedisKeys;
  private readonly redis: Redis;
  private readonly metrics: ShardMetrics;
  private readonly publisher: RedisEventPublisher;
  private readonly sessions: RedisSessionStore;
  private readonly leases: RedisShardLease;
  private readonly budget: IdentifyBudget;
  private readonly board: ShardStatusBoard;
  private readonly commands: RedisCommandConsumer;
  private readonly health: HealthServer;
  private readonly rest: GatewayInfoClient;
  private readonly eventFilter: ReadonlySet<string> | null;
  private readonly workerName: string;
  private manager: WebSocketManager | null = null;
  private strategy: LeasedShardingStrategy | null = null;
  private gateway: APIGatewayBotInfo | null = null;
  private readonly connecting = new AbortController();
  /** When each shard last completed a heartbeat (or became ready). */
  /** Per shard, the session and the highest sequence number of the dispatches this process got. */
  private readonly highestSeq = new Map<number, { sid: string; seq: number }>();
  private readonly heartbeatAt = new Map<number, number>();
  private stopping = false;
  private redisErrorLoggedAt = 0;

  public constructor(
    private readonly config: ShardWorkerConfig,
    private readonly logger: Logger,
    options: Partial<OptionalShardWorkerOptions> = {},
  ) {
    this.options = { ...DefaultShardWorkerOptions, ...options };
    this.keys = redisKeys(config.shardfleetBot);
    this.workerName = config.podName ?? `worker-${config.workerId}`;
    this.eventFilter = config.events.length === 0 ? null : new Set(config.events);
    this.redis = new Redis(config.redisUrl, {
      // Writes fail at once while Redis is down: the worker buffers and retries on its own terms.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      autoResendUnfulfilledCommands: false,
      lazyConnect: true,
      retryStrategy: (attempt) => Math.min(attempt * 100, REDIS_RETRY_MAX_MS),
    });
    this.redis.on('error', (error) => this.onRedisError(error));
    this.redis.on('ready', () => this.onRedisReady());
    this.metrics = new ShardMetrics(() => this.publisher.buffered);
    this.sessions = new RedisSessionStore({
      redis: this.redis,
      keys: this.keys,
      logger: logger.child({ component: 'sessions' }),
    });
    this.publisher = new RedisEventPublisher({
      redis: this.redis,
      streamKey: this.keys.events,
      maxLength: config.streamMaxLength,
      bufferLimit: config.eventBufferLimit,
      metrics: this.metrics,
      logger: logger.child({ component: 'publisher' }),
      onConfirmed: (shard, sid, seq) => this.sessions.confirm(shard, sid, seq),
    });
    this.leases = new RedisShardLease({
      redis: this.redis,
      keys: this.keys,
      logger: logger.child({ component: 'lease' }),
      holderName: this.workerName,
      onLost: (shardId, holder) => void this.onLeaseLost(shardId, holder),
    });
    this.budget = new IdentifyBudget({
      fetchLimit: async () => (await this.fetchGatewayBot()).session_start_limit,
      reservePercent: config.identifyReservePercent,
      maxAgeMs: BUDGET_MAX_AGE_MS,
    });
    this.board = new ShardStatusBoard({
      redis: this.redis,
      keys: this.keys,
      logger: logger.child({ component: 'status' }),
      metrics: this.metrics,
      shardIds: config.shardIds,
      workerName: this.workerName,
      refreshIntervalMs: this.options.statusIntervalMs,
    });
    this.commands = new RedisCommandConsumer({
      redis: this.redis,
      keys: this.keys,
      logger: logger.child({ component: 'commands' }),
      metrics: this.metrics,
      consumerName: this.workerName,
      send: (shardId, command) => this.sendCommand(shardId, command),
    });
    this.health = new HealthServer({
      port: config.port,
      host: this.options.host,
      registry: this.metrics.registry,
      liveness: () => this.liveness(),
      readiness: () => this.readiness(),
    });
    this.rest = new GatewayInfoClient({
      apiUrl: config.discordApiUrl,
      token: config.discordToken,
      timeoutMs: REST_TIMEOUT_MS,
    });
  }

  /**
   * Starts the health server, waits for Redis and Discord, and connects every shard once it
   * holds the shard's lease. Resolves when the shards are on their way, not when they are
   * ready; `/readyz` tells that.
   */
  public async start(): Promise<void> {
    const port = await this.health.listen();
    this.logger.info({ port, shards: this.config.shardIds }, 'health and metrics listening');
    await this.connectRedis();
    await this.sessions.load(this.config.shardIds);
    this.board.start();
    try {
      this.gateway = await this.fetchGatewayInformation();
    } catch (error) {
      if (error instanceof TokenRejectedError) {
        this.stopAll(`authentication failed: ${error.message}`);
        return;
      }
      throw error;
    }
    if (this.stopping) return;
    const { max_concurrency: maxConcurrency } = this.gateway.session_start_limit;
    this.budget.set(this.gateway.session_start_limit);
    this.metrics.identifyBudgetRemaining.set(this.gateway.session_start_limit.remaining);
    await this.writeMeta();

    const throttler = new RedisIdentifyThrottler({
      redis: this.redis,
      keys: this.keys,
      logger: this.logger.child({ component: 'identify' }),
      budget: this.budget,
      maxConcurrency,
      intervalMs: this.config.identifyIntervalMs,
      holder: this.leases.holder,
      listener: {
        onWaiting: (shardId) => this.board.set(shardId, 'waiting_identify'),
        onRefused: (shardId, refusal) => {
          const reason =
            `identify budget at its reserve: ${refusal.remaining} of ${refusal.total} left, ` +
            `${refusal.reserve} kept back; waiting ${Math.ceil(refusal.resetAfterMs / 1_000)} s for the reset`;
          this.metrics.identifies.inc({ result: 'refused_budget' });
          this.metrics.identifyBudgetRemaining.set(refusal.remaining);
          this.logger.error({ shard: shardId, ...refusal }, `identify refused: ${reason}`);
          this.board.set(shardId, 'waiting_budget', reason);
        },
        onGranted: (shardId) => {
          this.metrics.identifies.inc({ result: 'sent' });
          this.metrics.identifyBudgetRemaining.set(this.budget.remaining ?? 0);
          this.logger.info({ shard: shardId }, 'identifying');
          this.board.set(shardId, 'connecting');
        },
      },
    });
    const manager = new WebSocketManager({
      token: this.config.discordToken,
      intents: this.config.intents,
      // Only `get('/gateway/bot')` is used by the manager.
      rest: this.rest as unknown as REST,
      shardCount: this.config.shardCount,
      shardIds: [...this.config.shardIds],
      initialPresence: this.config.presence ?? null,
      buildIdentifyThrottler: () => throttler,
      buildStrategy: (created) => {
        this.strategy = new LeasedShardingStrategy(created);
        return this.strategy;
      },
      retrieveSessionInfo: (shardId) => this.sessions.retrieve(shardId),
      updateSessionInfo: (shardId, info) => this.sessions.update(shardId, info),
    });
    this.manager = manager;
    this.listen(manager);
    // Spawns the shards without connecting them (and without the library's budget check, which
    // would refuse to start even when every shard could resume).
    await manager.updateShardCount(this.config.shardCount);
    this.commands.start(this.config.shardIds);
    for (const shardId of this.config.shardIds) void this.connectShard(shardId);
  }

  /**
   * Shuts down so the next worker resumes: stops taking commands, closes the sockets with a
   * resumable code, writes out the event buffer, stores the sessions, gives up the leases.
   */
  public async stop(): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    const deadline = Date.now() + this.options.shutdownTimeoutMs;
    const left = () => Math.max(0, deadline - Date.now());
    this.connecting.abort();
    await this.commands.stop(Math.min(2_000, left()));
    this.sessions.freeze();
    if (this.manager) {
      // 4200 (not 1000/1001): Discord and the simulator keep the session resumable.
      await Promise.race([
        this.manager.destroy({ code: CloseCodes.Resuming, reason: 'shard worker shutting down' }),
        sleep(Math.min(5_000, left())),
      ]);
    }
    await this.publisher.flush(left());
    if (this.publisher.buffered > 0) {
      this.metrics.countDropped('shutdown', this.publisher.buffered);
      this.logger.error(
        { lost: this.publisher.buffered },
        'Redis unreachable at shutdown: buffered events are not in the stream; the stored seq is older, so the next resume replays them while the session lives',
      );
    }
    this.sessions.stop();
    await this.sessions.persist();
    for (const state of this.board.states.values()) {
      // A shard still waiting for its lease is another worker's: its hash is not ours to write.
      if (state.status !== 'waiting_lease') this.board.set(state.id, 'idle', 'worker shut down');
    }
    this.board.stop();
    await Promise.race([Promise.all([this.leases.releaseAll(), this.board.writeAll()]), sleep(left())]);
    this.redis.disconnect();
    await this.health.close();
    this.logger.info('shut down: sessions stored for resuming');
  }

  private async connectRedis(): Promise<void> {
    this.redis.connect().catch(() => undefined);
    while (this.redis.status !== 'ready') {
      if (this.stopping) throw new Error('stopped before Redis was reachable');
      await sleep(100);
    }
  }

  private onRedisError(error: Error): void {
    // ioredis reports every reconnect attempt; one line per interval says enough.
    const now = Date.now();
    if (now - this.redisErrorLoggedAt < REDIS_ERROR_LOG_INTERVAL_MS) return;
    this.redisErrorLoggedAt = now;
    this.logger.warn({ err: error.message }, 'Redis connection error; reconnecting');
  }

  private onRedisReady(): void {
    this.logger.info('Redis connected');
    // Redis may have come back empty: restore what the worker owns there.
    this.sessions.markAllDirty();
    void this.sessions.persist();
    void this.board.writeAll();
    if (this.gateway) void this.writeMeta();
  }

  private async fetchGatewayBot(): Promise<APIGatewayBotInfo> {
    try {
      return (
        (await this.manager?.fetchGatewayInformation(true)) ??
        ((await this.rest.get('/gateway/bot')) as APIGatewayBotInfo)
      );
    } catch (error) {
      if (error instanceof DiscordHttpError && (error.status === 401 || error.status === 403)) {
        throw new TokenRejectedError(error.status);
      }
      throw error;
    }
  }

  /** GET /gateway/bot, retried until it answers; a rejected token ends the attempts. */
  private async fetchGatewayInformation(): Promise<APIGatewayBotInfo> {
    for (;;) {
      try {
        return await this.fetchGatewayBot();
      } catch (error) {
        if (error instanceof TokenRejectedError || this.stopping) throw error;
        this.logger.warn({ err: error }, 'GET /gateway/bot failed; retrying');
        await sleep(GATEWAY_RETRY_MS);
      }
    }
  }

  private async writeMeta(): Promise<void> {
    const gateway = this.gateway;
    if (gateway === null) return;
    try {
      await this.redis.hset(this.keys.meta, {
        shard_count: String(this.config.shardCount),
        max_concurrency: String(gateway.session_start_limit.max_concurrency),
        updated_at: String(Date.now()),
      });
    } catch (error) {
      this.logger.warn({ err: error }, 'could not write the bot meta hash; will retry when Redis is back');
    }
  }

  private async connectShard(shardId: number): Promise<void> {
    this.board.set(shardId, 'waiting_lease');
    try {
      await this.leases.acquire(shardId, this.connecting.signal);
    } catch {
      return;
    }
    if (this.stopping || this.board.state(shardId).status === 'stopped') {
      await this.leases.release(shardId);
      return;
    }
    try {
      await this.sessions.reload(shardId);
    } catch (error) {
      this.logger.warn(
        { err: error, shard: shardId },
        'could not reread the stored session; using the one read at start',
      );
    }
    this.board.set(shardId, this.sessions.retrieve(shardId) ? 'resuming' : 'connecting');
    this.strategy?.connectShard(shardId);
  }

  private listen(manager: WebSocketManager): void {
    manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => this.onDispatch(payload, shardId));
    manager.on(WebSocketShardEvents.Ready, (data, shardId) => this.onReady(data, shardId));
    manager.on(WebSocketShardEvents.Resumed, (shardId) => {
      this.metrics.resumes.inc();
      this.logger.info({ shard: shardId }, 'resumed');
      this.board.set(shardId, 'ready');
    });
    manager.on(WebSocketShardEvents.Closed, (code, shardId) => this.onClosed(code, shardId));
    manager.on(WebSocketShardEvents.HeartbeatComplete, ({ latency }, shardId) => {
      const state = this.board.state(shardId);
      state.latencyMs = latency;
      this.metrics.shardLatency.set({ shard: String(shardId) }, latency / 1_000);
      this.heartbeatAt.set(shardId, Date.now());
    });
    manager.on(WebSocketShardEvents.Error, (error, shardId) =>
      this.logger.error({ shard: shardId, err: error }, 'shard error'),
    );
    manager.on(WebSocketShardEvents.SocketError, (error, shardId) =>
      this.logger.warn({ shard: shardId, err: error.message }, 'gateway socket error'),
    );
    manager.on(WebSocketShardEvents.Debug, (message, shardId) =>
      this.logger.debug({ shard: shardId }, message),
    );
  }

  private onDispatch(payload: GatewayDispatchPayload, shardId: number): void {
    const state = this.board.state(shardId);
    const receivedAt = Date.now();
    state.lastEventAt = receivedAt;
    const t = payload.t;
    this.metrics.countEvent(shardId, t);
    const sid = this.sessions.retrieve(shardId)?.sessionId;
    if (sid === undefined) return;
    const data = payload.d as { guild_id?: string; id?: string; unavailable?: boolean };
    const guildId = data.guild_id ?? (GUILD_ID_IS_ID.has(t) ? (data.id ?? null) : null);
    if (t === 'GUILD_CREATE' && guildId !== null) state.guilds.add(guildId);
    else if (t === 'GUILD_DELETE' && guildId !== null && data.unavailable !== true)
      state.guilds.delete(guildId);
    if (this.eventFilter !== null && !this.eventFilter.has(t)) {
      this.publisher.skip(shardId, sid, payload.s);
      return;
    }
    this.publisher.publish(
      {
        t,
        s: shardId,
        seq: payload.s,
        sid,
        g: guildId,
        ts: receivedAt,
        r: this.mayRepeat(state, sid, payload.s),
      },
      JSON.stringify(payload.d),
    );
  }

  /**
   * Whether a dispatch may already be in the stream: until READY or RESUMED a resumed session
   * replays what it missed, which an earlier process may have written; and a sequence number this
   * process has passed already is a replay whatever the connection's state (the library resumes
   * on its own, for instance after an invalid session that may be resumed).
   */
  private mayRepeat(state: ShardState, sid: string, seq: number): boolean {
    const highest = this.highestSeq.get(state.id);
    if (highest === undefined) this.highestSeq.set(state.id, { sid, seq });
    else if (highest.sid !== sid || seq > highest.seq) {
      highest.sid = sid;
      highest.seq = seq;
    } else return true;
    return state.status !== 'ready';
  }

  private onReady(data: GatewayReadyDispatchData, shardId: number): void {
    const state = this.board.state(shardId);
    state.guilds.clear();
    for (const guild of data.guilds) state.guilds.add(guild.id);
    this.heartbeatAt.set(shardId, Date.now());
    this.logger.info({ shard: shardId, session: data.session_id, guilds: data.guilds.length }, 'ready');
    this.board.set(shardId, 'ready');
  }

  private onClosed(code: number, shardId: number): void {
    this.metrics.shardCloses.inc({ code: String(code) });
    if (this.stopping) return;
    const { action, meaning } = closeCodeHandling(code);
    if (action === 'stop') {
      this.logger.error(
        { shard: shardId, code, meaning },
        `gateway closed shard ${shardId} with ${code} (${meaning}): the shard is stopped for good`,
      );
      this.stopShard(shardId, `closed by Discord with ${code}: ${meaning}`);
      return;
    }
    this.logger.warn(
      { shard: shardId, code, meaning, action },
      `gateway connection closed (${code}: ${meaning})`,
    );
    this.board.set(shardId, action === 'resume' ? 'resuming' : 'connecting');
  }

  /** Stops a shard for good: no reconnects, no commands, readiness false, the reason everywhere. */
  private stopShard(shardId: number, reason: string): void {
    this.board.set(shardId, 'stopped', reason);
    this.commands.remove(shardId);
    void this.leases.release(shardId);
  }

  private stopAll(reason: string): void {
    this.logger.error({ reason }, `${reason}: every shard is stopped for good`);
    for (const shardId of this.config.shardIds) this.stopShard(shardId, reason);
  }

  private async onLeaseLost(shardId: number, holder: string): Promise<void> {
    this.logger.error(
      { shard: shardId, holder },
      'shard lease taken by another worker: closing the shard here',
    );
    this.sessions.forget(shardId);
    this.stopShard(shardId, `lease taken by ${holder}`);
    this.board.disown(shardId);
    try {
      await this.strategy?.destroyShard(shardId, { code: CloseCodes.Resuming, reason: 'shard lease lost' });
    } catch (error) {
      this.logger.warn({ err: error, shard: shardId }, 'could not close the shard');
    }
  }

  private async sendCommand(shardId: number, command: GatewayCommand): Promise<void> {
    const state = this.board.state(shardId);
    if (state.status !== 'ready') throw new Error(`shard ${shardId} is ${state.status}, not ready`);
    await this.manager?.send(shardId, command as unknown as GatewaySendPayload);
  }

  private liveness(): ProbeResult {
    const now = Date.now();
    const stuck: { shard: number; status: string; forMs: number }[] = [];
    for (const state of this.board.states.values()) {
      const forMs = now - this.lastProgress(state);
      if (
        (state.status === 'connecting' || state.status === 'resuming' || state.status === 'ready') &&
        forMs > this.config.shardStuckAfterMs
      ) {
        stuck.push({ shard: state.id, status: state.status, forMs });
      }
    }
    return { ok: stuck.length === 0, detail: stuck.length === 0 ? 'alive' : { stuck } };
  }

  /** When a shard last showed it is alive: a heartbeat ack when ready, else its last status change. */
  private lastProgress(state: ShardState): number {
    if (state.status !== 'ready') return state.since;
    return Math.max(state.since, this.heartbeatAt.get(state.id) ?? 0, state.lastEventAt);
  }

  private readiness(): ProbeResult {
    const shards: Record<string, string> = {};
    for (const state of this.board.states.values()) {
      shards[state.id] = state.reason === null ? state.status : `${state.status}: ${state.reason}`;
    }
    return { ok: !this.stopping && this.board.allReady(), detail: shards };
  }
}
