import { redisKeys } from '@shardfleet/protocol';
import { type RunningSimulator, startSimulator } from '@shardfleet/simulator';
import { freePort, ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  botEnv,
  messageEvent,
  newRedis,
  pendingCount,
  SLOW_BOT,
  startProxy,
  writeEvents,
} from './harness.js';

const BOT = 'test.failover';

describe('two bot processes share the stream', { timeout: 60_000 }, () => {
  let simulator: RunningSimulator;
  let redisServer: RedisServer;
  let redis: Redis;
  let proxy: { process: ProgramProcess; url: string };
  const processes: ProgramProcess[] = [];

  beforeAll(async () => {
    simulator = await startSimulator({ guilds: 4 });
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
    proxy = await startProxy(simulator.url);
  });

  afterAll(async () => {
    await Promise.all([...processes, proxy?.process].map((child) => child?.stop('SIGKILL', 5_000)));
    redis?.disconnect();
    await redisServer?.stop();
    await simulator?.close();
  });

  async function startConsumer(name: string, delayMs: number): Promise<ProgramProcess> {
    const child = new ProgramProcess(process.execPath, [SLOW_BOT], {
      env: {
        ...botEnv({
          bot: BOT,
          redisUrl: redisServer.url,
          proxyUrl: proxy.url,
          consumer: name,
          port: await freePort(),
        }),
        HANDLER_DELAY_MS: String(delayMs),
        CLAIM_IDLE_MS: '1000',
      },
    });
    processes.push(child);
    await child.waitForLine(/consumer started/, 20_000);
    return child;
  }

  it('hands the entries of a consumer killed mid-handler to the other; the reply is sent once', async () => {
    const [guildId] = await simulator.control.guilds({ limit: 1 });
    const channelId = (await simulator.control.guild(guildId!)).channels.find(
      (channel) => channel.type === 0,
    )!.id;
    const doomed = await startConsumer('doomed', 60_000);
    const [entryId] = await writeEvents(redis, BOT, [
      messageEvent(guildId!, 'hello', { d: { id: '9001', channel_id: channelId, content: 'hello' } }),
    ]);
    await doomed.waitForLine(new RegExp(`handling ${entryId} delivery 1`), 10_000);
    const survivor = await startConsumer('survivor', 0);
    expect((await doomed.stop('SIGKILL', 5_000)).signal).toBe('SIGKILL');

    await survivor.waitForLine(new RegExp(`replied ${entryId}`), 20_000);
    expect(survivor.output).toContain(`handling ${entryId} delivery 2`);
    await waitUntil(async () => (await pendingCount(redis, BOT)) === 0, {
      description: 'entry acknowledged',
    });
    const replies = await simulator.control.botMessages(channelId);
    expect(replies.map((message) => message.content)).toEqual(['reply to 9001']);
    const consumers = (await redis.xinfo('CONSUMERS', redisKeys(BOT).events, 'bot')) as unknown[][];
    expect(consumers.length).toBe(2);
  });
});
