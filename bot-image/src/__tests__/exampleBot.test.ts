import { type RunningSimulator, startSimulator } from '@shardfleet/simulator';
import { freePort, ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BOT_BIN, botEnv, PROXY_TOKEN, startProxy, startShardWorker } from './harness.js';

const BOT = 'test.example';

describe('shardfleet-bot (the example bot) end to end', { timeout: 90_000 }, () => {
  let simulator: RunningSimulator;
  let redisServer: RedisServer;
  let worker: ProgramProcess;
  let proxy: { process: ProgramProcess; url: string };
  let bot: ProgramProcess;
  let botPort: number;

  beforeAll(async () => {
    simulator = await startSimulator({ guilds: 20, identifyIntervalMs: 100, seed: 3 });
    redisServer = await RedisServer.start();
    [worker, proxy] = await Promise.all([
      startShardWorker({ bot: BOT, redisUrl: redisServer.url, simulatorUrl: simulator.url, shardCount: 2 }),
      startProxy(simulator.url),
    ]);
    botPort = await freePort();
    bot = new ProgramProcess(process.execPath, [BOT_BIN], {
      env: botEnv({
        bot: BOT,
        redisUrl: redisServer.url,
        proxyUrl: proxy.url,
        consumer: 'example-0',
        port: botPort,
      }),
    });
    await bot.waitForLine(/"msg":"ready"/, 30_000);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([bot, worker, proxy?.process].map((child) => child?.stop('SIGKILL', 5_000)));
    await redisServer?.stop();
    await simulator?.close();
  }, 60_000);

  it('exits 1 naming each bad variable, without showing the proxy token', async () => {
    const child = new ProgramProcess(process.execPath, [BOT_BIN], {
      env: { PATH: process.env.PATH, REDIS_URL: 'localhost:6379', REST_PROXY_TOKEN: PROXY_TOKEN, PORT: 'x' },
    });
    const exit = await child.exited;
    expect(exit.code).toBe(1);
    expect(child.output).toContain('shardfleet-bot: invalid environment');
    for (const variable of ['SHARDFLEET_BOT', 'REDIS_URL', 'REST_PROXY_URL', 'PORT']) {
      expect(child.output).toMatch(new RegExp(`^${variable}: `, 'm'));
    }
    expect(child.output).not.toContain(PROXY_TOKEN);
  });

  it('answers !test-command in the same channel through shard, stream, bot and proxy', async () => {
    const [guildId] = await simulator.control.guilds({ limit: 1 });
    const channel = (await simulator.control.guild(guildId!)).channels.find((c) => c.type === 0)!;
    await simulator.control.typeMessage({ channelId: channel.id, content: 'not a command' });
    const typed = await simulator.control.typeMessage({ channelId: channel.id, content: '!test-command' });
    const replies = await waitUntil(
      async () => {
        const messages = await simulator.control.botMessages(channel.id);
        return messages.length > 0 ? messages : null;
      },
      { timeoutMs: 20_000, description: 'the reply' },
    );
    expect(replies).toHaveLength(1);
    expect(replies[0]).toMatchObject({
      channel_id: channel.id,
      content: `test-command received from <@${typed.author_id}>`,
    });
  });

  it('registers /test-command and answers the interaction', async () => {
    const guildIds = await simulator.control.guilds({ shard: 1, shardCount: 2, limit: 1 });
    const channel = (await simulator.control.guild(guildIds[0]!)).channels.find((c) => c.type === 0)!;
    const run = await simulator.control.runCommand({ channelId: channel.id, name: 'test-command' });
    const interaction = await waitUntil(
      async () => {
        const state = await simulator.control.interaction(run.id);
        return state.response === null ? null : state;
      },
      { timeoutMs: 20_000, description: 'the interaction response' },
    );
    expect(interaction.response).toMatchObject({ type: 4, data: { content: 'test-command received' } });
  });

  it('serves /readyz and /metrics, and stops on SIGTERM with code 0', async () => {
    expect((await fetch(`http://127.0.0.1:${botPort}/readyz`)).status).toBe(200);
    const page = await (await fetch(`http://127.0.0.1:${botPort}/metrics`)).text();
    expect(page).toMatch(/shardfleet_events_consumed_total\{event="MESSAGE_CREATE",result="ok"\} [1-9]/);
    expect(await bot.stop('SIGTERM', 25_000)).toEqual({ code: 0, signal: null });
    expect(bot.output).toContain('"msg":"stopped"');
    expect(bot.output).not.toContain(PROXY_TOKEN);
  });
});
