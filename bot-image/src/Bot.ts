import { API } from '@discordjs/core/http-only';
import {
  type BotConfig,
  botEnvSchema,
  HealthServer,
  idempotencyKey,
  loadConfigOrExit,
  redisKeys,
} from '@shardfleet/protocol';
import { Redis } from 'ioredis';
import { type Logger, pino } from 'pino';
import { BotMetrics } from './BotMetrics.js';
import { ProxyRest } from './ProxyRest.js';
import {
  type Delivery,
  type OptionalStreamConsumerOptions,
  StreamConsumer,
} from './consume/StreamConsumer.js';
import type { BotEventName, EventContext, EventHandler, EventMeta } from './events.js';
import { GatewayCommands } from './gateway/GatewayCommands.js';
import { AckOnlyGuard } from './replay/AckOnlyGuard.js';
import type { IReplayGuard } from './replay/IReplayGuard.js';
import { RedisReplayGuard } from './replay/RedisReplayGuard.js';

/** Optional options of {@link createBot}; the consumer's tuning options apply too. */
export interface OptionalBotOptions extends OptionalStreamConsumerOptions {
  /** The configuration. @defaultValue parsed from `env` (exits 1 naming each bad variable) */
  config: BotConfig;
  /** The environment the configuration is read from. @defaultValue `process.env` */
  env: Readonly<Record<string, string | undefined>>;
  /** The root logger. @defaultValue a pino logger at the configured `LOG_LEVEL` */
  logger: Logger;
  /** Recognise replays of the same `s:sid:seq`. @defaultValue `true` */
  recogniseReplays: boolean;
  /** How long a handled idempotency key is remembered. @defaultValue `3_600_000` */
  replayWindowMs: number;
  /** Serve `/healthz`, `/readyz` and `/metrics` on `PORT`. @defaultValue `true` */
  healthServer: boolean;
  /** Address of the health server. @defaultValue `'0.0.0.0'` */
  host: string;
  /** How long `stop()` waits for handlers in flight. @defaultValue `20_000` */
  shutdownTimeoutMs: number;
  /** How long `requestGuildMembers` waits for every chunk. @defaultValue `10_000` */
  memberRequestTimeoutMs: number;
  /**
   * `/healthz` fails when the read loop made no turn this long (beyond one blocking read) while
   * Redis was up and there was room for more handlers. @defaultValue `60_000`
   */
  stuckAfterMs: number;
}

export type BotOptions = Partial<OptionalBotOptions>;

export const DefaultBotOptions = {
  recogniseReplays: true,
  replayWindowMs: 3_600_000,
  healthServer: true,
  host: '0.0.0.0',
  shutdownTimeoutMs: 20_000,
  memberRequestTimeoutMs: 10_000,
  stuckAfterMs: 60_000,
} as const satisfies Partial<OptionalBotOptions>;

type DefaultedBotOption = keyof typeof DefaultBotOptions;

const PROGRAM = 'shardfleet-bot';

/**
 * Creates a bot: Discord events from `sf:{bot}:events`, REST through the proxy, gateway commands
 * to the shards. Register handlers with {@link Bot.on}, then {@link Bot.start}.
 */
export function createBot(options: BotOptions = {}): Bot {
  return new Bot(options);
}

/** A bot of the shardfleet runtime; see {@link createBot}. */
export class Bot {
  public readonly config: BotConfig;
  public readonly logger: Logger;
  /** Discord's REST API through the REST proxy. */
  public readonly api: API;
  public readonly rest: ProxyRest;
  public readonly gateway: GatewayCommands;
  public readonly metrics: BotMetrics;
  private readonly redis: Redis;
  private readonly reader: Redis;
  private readonly consumer: StreamConsumer;
  private readonly handlers = new Map<string, EventHandler<BotEventName>[]>();
  private readonly options: BotOptions & Pick<OptionalBotOptions, DefaultedBotOption>;
  private health: HealthServer | undefined;
  private stopping: Promise<void> | undefined;
  /** The health server's port once started (useful with `PORT=0`). */
  public port: number | undefined;

  public constructor(options: BotOptions = {}) {
    this.options = { ...DefaultBotOptions, ...options };
    this.config = options.config ?? loadConfigOrExit(botEnvSchema, PROGRAM, options.env ?? process.env);
    const config = this.config;
    this.logger =
      options.logger ??
      pino({
        name: PROGRAM,
        level: config.logLevel,
        base: { bot: config.shardfleetBot, consumer: config.consumerName },
        redact: { paths: ['token', '*.token', 'headers.authorization'], censor: '[redacted]' },
      });
    const keys = redisKeys(config.shardfleetBot);
    const keyPrefix = keys.events.slice(0, -'events'.length);
    this.redis = this.connect('commands', { maxRetriesPerRequest: 2 });
    // Blocking reads wait for a reconnect instead of failing.
    this.reader = this.connect('reader', { maxRetriesPerRequest: null });
    this.rest = new ProxyRest(config.restProxyUrl, config.restProxyToken);
    this.api = new API(this.rest);
    this.gateway = new GatewayCommands({
      redis: this.redis,
      metaKey: keys.meta,
      commandsKey: (shard) => keys.commands(shard),
      chunkChannel: `${keyPrefix}member-chunks`,
      memberRequestTimeoutMs: this.options.memberRequestTimeoutMs,
      logger: this.logger.child({ component: 'gateway' }),
    });
    const guard: IReplayGuard = this.options.recogniseReplays
      ? new RedisReplayGuard({
          redis: this.redis,
          stream: keys.events,
          group: config.consumerGroup,
          keyPrefix,
          replayWindowMs: this.options.replayWindowMs,
        })
      : new AckOnlyGuard(this.redis, keys.events, config.consumerGroup);
    this.metrics = new BotMetrics(() => this.consumer.groupInfo());
    this.consumer = new StreamConsumer({
      ...options,
      redis: this.redis,
      reader: this.reader,
      stream: keys.events,
      deadLetterStream: keys.dlq,
      group: config.consumerGroup,
      consumer: config.consumerName,
      guard,
      handle: (delivery) => this.dispatch(delivery),
      wants: (event) =>
        this.handlers.has(event) || event === 'GUILD_MEMBERS_CHUNK' || event === 'RATE_LIMITED',
      metrics: this.metrics,
      logger: this.logger.child({ component: 'consumer' }),
    });
  }

  /** Adds a handler of an event; several handlers of one event run one after the other. */
  public on<E extends BotEventName>(event: E, handler: EventHandler<E>): this {
    const list = this.handlers.get(event) ?? [];
    list.push(handler as unknown as EventHandler<BotEventName>);
    this.handlers.set(event, list);
    return this;
  }

  /** Whether the bot reads the stream and Redis answers. */
  public get ready(): boolean {
    return (
      this.stopping === undefined &&
      this.consumer.ready &&
      this.redis.status === 'ready' &&
      this.reader.status === 'ready'
    );
  }

  /** Starts the health server and the consumer. */
  public async start(): Promise<void> {
    if (this.options.healthServer) {
      this.health = new HealthServer({
        port: this.config.port,
        host: this.options.host,
        registry: this.metrics.registry,
        liveness: () => {
          const stalledMs = this.consumer.stalledMs;
          return { ok: stalledMs < this.options.stuckAfterMs, detail: { stalledMs } };
        },
        readiness: () => ({
          ok: this.ready,
          detail: { redis: this.redis.status, inFlight: this.consumer.inFlightCount },
        }),
      });
      this.port = await this.health.listen();
    }
    await this.consumer.start();
    this.logger.info(
      { group: this.config.consumerGroup, port: this.port },
      `consuming ${redisKeys(this.config.shardfleetBot).events}`,
    );
  }

  /** Stops reading, lets the handlers in flight finish and acknowledges them, then closes everything. */
  public stop(): Promise<void> {
    this.stopping ??= (async () => {
      await this.consumer.stop(this.options.shutdownTimeoutMs);
      this.reader.disconnect();
      await this.gateway.close();
      await this.health?.close();
      if (this.redis.status === 'ready') await this.redis.quit().catch(() => this.redis.disconnect());
      else this.redis.disconnect();
      this.logger.info('stopped');
    })();
    return this.stopping;
  }

  private connect(name: string, options: { maxRetriesPerRequest: number | null }): Redis {
    const redis = new Redis(this.config.redisUrl, {
      ...options,
      connectionName: `${this.config.consumerName}:${name}`,
      retryStrategy: (attempt) => Math.min(100 * attempt, 2_000),
    });
    redis.on('error', (error: Error) => this.logger.debug({ err: error, connection: name }, 'redis error'));
    return redis;
  }

  private dispatch(delivery: Delivery): void | Promise<void> {
    const { event } = delivery;
    if (event.t === 'GUILD_MEMBERS_CHUNK' || event.t === 'RATE_LIMITED') {
      return this.gateway.observe(event.t, event.d).then(() => this.runHandlers(delivery));
    }
    return this.runHandlers(delivery);
  }

  /** Runs the handlers one after the other; stays synchronous as long as they are. */
  private runHandlers(delivery: Delivery): void | Promise<void> {
    const { event } = delivery;
    const handlers = this.handlers.get(event.t);
    if (handlers === undefined) return;
    const context = new DeliveryContext(this, delivery);
    for (let index = 0; index < handlers.length; index++) {
      const result = (handlers[index] as EventHandler<BotEventName>)(event.d as never, context);
      if (isThenable(result)) return this.continueHandlers(handlers, index + 1, result, event.d, context);
    }
  }

  private async continueHandlers(
    handlers: readonly EventHandler<BotEventName>[],
    from: number,
    pending: PromiseLike<unknown>,
    data: unknown,
    context: EventContext,
  ): Promise<void> {
    await pending;
    for (let index = from; index < handlers.length; index++) {
      await (handlers[index] as EventHandler<BotEventName>)(data as never, context);
    }
  }
}

/**
 * The context of one delivery. A class, so its parts are worked out on first use by getters of
 * the prototype: at tens of thousands of events per second, objects and closures made per event
 * for handlers that never look at them cost more than the handlers.
 */
class DeliveryContext implements EventContext {
  private child: Logger | undefined;
  private meta: EventMeta | undefined;

  public constructor(
    private readonly bot: Bot,
    private readonly delivery: Delivery,
  ) {}

  public get api(): API {
    return this.bot.api;
  }

  public get gateway(): GatewayCommands {
    return this.bot.gateway;
  }

  public get event(): EventMeta {
    const { event, id, deliveries } = this.delivery;
    this.meta ??= {
      t: event.t,
      shard: event.s,
      seq: event.seq,
      sessionId: event.sid,
      guildId: event.g,
      idempotencyKey: idempotencyKey(event),
      receivedAt: event.ts,
      entryId: id,
      deliveries,
    };
    return this.meta;
  }

  public get logger(): Logger {
    const { event, id } = this.delivery;
    this.child ??= this.bot.logger.child({ event: event.t, shard: event.s, entry: id });
    return this.child;
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (
    typeof value === 'object' && value !== null && typeof (value as { then?: unknown }).then === 'function'
  );
}
