import { fileURLToPath } from 'node:url';
import { type BotConfig, encodeEventEntry, type EventEntry, redisKeys } from '@shardfleet/protocol';
import { freePort, ProgramProcess, waitUntil } from '@shardfleet/testing';
import { Redis } from 'ioredis';
// The shard worker's own test harness starts it the way every test needs.
import { WorkerProcess } from '../../../shard-image/src/__tests__/workerHarness.js';
import { pino } from 'pino';
import { type Bot, type BotOptions, createBot } from '../index.js';

export const BOT_BIN = fileURLToPath(new URL('../../bin/shardfleet-bot.js', import.meta.url));
export const SLOW_BOT = fileURLToPath(new URL('./fixtures/slowBot.mjs', import.meta.url));
export const PROXY_BIN = fileURLToPath(
  new URL('../../../rest-proxy/bin/shardfleet-rest-proxy.js', import.meta.url),
);
export const PROXY_TOKEN = 'bot-test-proxy-token-0123456789';

export function botConfig(bot: string, redisUrl: string, overrides: Partial<BotConfig> = {}): BotConfig {
  return {
    shardfleetBot: bot,
    redisUrl,
    // Nothing listens there: these bots make no REST call.
    restProxyUrl: 'http://127.0.0.1:9',
    restProxyToken: PROXY_TOKEN,
    consumerGroup: 'bot',
    consumerName: 'consumer-a',
    port: 0,
    logLevel: 'silent',
    ...overrides,
  };
}

/** A bot in this process, with a silent logger, stopped by `stopAll`. */
export function testBot(
  bot: string,
  redisUrl: string,
  options: Omit<BotOptions, 'config'> & { config?: Partial<BotConfig> } = {},
): Bot {
  return createBot({
    logger: pino({ level: 'silent' }),
    ...options,
    config: botConfig(bot, redisUrl, options.config),
  });
}

export function newRedis(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}

let nextSeq = 1;

/** A MESSAGE_CREATE event of `guild` (a fresh seq unless given). */
export function messageEvent(
  guild: string | null,
  content: string,
  overrides: Partial<EventEntry> = {},
): EventEntry {
  const seq = overrides.seq ?? nextSeq++;
  return {
    t: 'MESSAGE_CREATE',
    s: 0,
    seq,
    sid: 'session-a',
    g: guild,
    ts: Date.now(),
    d: {
      id: String(1_000_000 + seq),
      channel_id: '42',
      guild_id: guild ?? undefined,
      content,
      author: { id: '7', username: 'member', discriminator: '0', global_name: null, avatar: null },
    },
    ...overrides,
  };
}

/** Writes events to the bot's stream, returning their entry ids. */
export async function writeEvents(
  redis: Redis,
  bot: string,
  events: readonly EventEntry[],
): Promise<string[]> {
  const pipeline = redis.pipeline();
  for (const event of events) pipeline.xadd(redisKeys(bot).events, '*', ...encodeEventEntry(event));
  const results = (await pipeline.exec()) ?? [];
  return results.map(([error, id]) => {
    if (error) throw error;
    return id as string;
  });
}

/** Entries of the group not yet acknowledged. */
export async function pendingCount(redis: Redis, bot: string, group = 'bot'): Promise<number> {
  const [count] = (await redis.xpending(redisKeys(bot).events, group)) as [number];
  return count;
}

/** Waits until the group has read everything and acknowledged it. */
export async function waitDrained(redis: Redis, bot: string, timeoutMs = 20_000): Promise<void> {
  await waitUntil(
    async () => {
      const groups = (await redis.xinfo('GROUPS', redisKeys(bot).events)) as unknown[][];
      const group = groups[0];
      if (!group) return false;
      const fields = new Map<unknown, unknown>();
      for (let i = 0; i + 1 < group.length; i += 2) fields.set(group[i], group[i + 1]);
      return fields.get('lag') === 0 && fields.get('pending') === 0;
    },
    { timeoutMs, intervalMs: 50, description: `stream of ${bot} drained` },
  );
}

/** A real `shardfleet-shard` process serving all of `shardCount` shards, once it is ready. */
export async function startShardWorker(options: {
  bot: string;
  redisUrl: string;
  simulatorUrl: string;
  shardCount: number;
}): Promise<ProgramProcess> {
  const worker = await WorkerProcess.start({
    ...options,
    workerId: 0,
    shardsPerPod: options.shardCount,
    identifyIntervalMs: 100,
    env: { INTENTS: 'Guilds,GuildMessages,MessageContent,GuildMembers,GuildVoiceStates' },
  });
  await worker.waitReady();
  return worker.process;
}

/** A real `shardfleet-rest-proxy` process in front of the simulator; resolves with its URL. */
export async function startProxy(simulatorUrl: string): Promise<{ process: ProgramProcess; url: string }> {
  const port = await freePort();
  const proxy = new ProgramProcess(process.execPath, [PROXY_BIN], {
    env: {
      PATH: process.env.PATH,
      DISCORD_TOKEN: 'simulator-token',
      DISCORD_API_URL: `${simulatorUrl}/api`,
      PROXY_AUTH_TOKEN: PROXY_TOKEN,
      PORT: String(port),
      LOG_LEVEL: 'info',
    },
  });
  await proxy.waitForLine(/listening on http/, 20_000);
  return { process: proxy, url: `http://127.0.0.1:${port}` };
}

/** The environment of a bot process. */
export function botEnv(options: {
  bot: string;
  redisUrl: string;
  proxyUrl: string;
  consumer: string;
  port: number;
}): Record<string, string | undefined> {
  return {
    PATH: process.env.PATH,
    SHARDFLEET_BOT: options.bot,
    REDIS_URL: options.redisUrl,
    REST_PROXY_URL: options.proxyUrl,
    REST_PROXY_TOKEN: PROXY_TOKEN,
    CONSUMER_NAME: options.consumer,
    PORT: String(options.port),
    LOG_LEVEL: 'info',
  };
}
