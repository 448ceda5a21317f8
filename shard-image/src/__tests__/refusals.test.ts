import { redisKeys } from '@shardfleet/protocol';
import { startSimulator, type RunningSimulator } from '@shardfleet/simulator';
import { ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRedis, WORKER_BIN, WorkerProcess } from './workerHarness.js';

describe('configurations the worker refuses', { timeout: 120_000 }, () => {
  let redisServer: RedisServer;
  let redis: Redis;
  const simulators: RunningSimulator[] = [];
  const workers: WorkerProcess[] = [];

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.process.stop('SIGKILL', 5_000)));
    redis?.disconnect();
    await redisServer?.stop();
    await Promise.all(simulators.map((simulator) => simulator.close()));
  }, 120_000);

  it('exits 1 with one line per bad variable, never showing the token', async () => {
    const program = new ProgramProcess(process.execPath, [WORKER_BIN], {
      env: {
        PATH: process.env.PATH,
        SHARDFLEET_BOT: 'Not A Bot',
        DISCORD_TOKEN: 'very-secret-token-value',
        SHARD_COUNT: 'many',
        SHARDS_PER_POD: '4',
        POD_NAME: 'mybot-shards-0',
        REDIS_URL: 'very-secret-token-value',
        STREAM_MAX_LENGTH: '-5',
      },
    });
    const exit = await program.exited;
    expect(exit.code).toBe(1);
    const lines = program.lines;
    expect(lines[0]).toBe('shardfleet-shard: invalid environment');
    for (const variable of ['SHARDFLEET_BOT', 'SHARD_COUNT', 'REDIS_URL', 'STREAM_MAX_LENGTH']) {
      expect(lines.filter((line) => line.startsWith(`${variable}: `))).toHaveLength(1);
    }
    expect(program.output).not.toContain('very-secret-token-value');
  });

  it('stops every shard on a rejected token: reason logged, not ready, no retries', async () => {
    const simulator = await startSimulator({ guilds: 20, identifyIntervalMs: 200, token: 'the-real-token' });
    simulators.push(simulator);
    const worker = await WorkerProcess.start({
      bot: 'test.badtoken',
      redisUrl: redisServer.url,
      simulatorUrl: simulator.url,
      workerId: 0,
      shardCount: 2,
      shardsPerPod: 2,
      identifyIntervalMs: 200,
    });
    workers.push(worker);
    await worker.process.waitForLine(
      /authentication failed: Discord rejected DISCORD_TOKEN \(HTTP 401/,
      20_000,
    );
    const keys = redisKeys('test.badtoken');
    for (const shard of [0, 1]) {
      await waitUntil(async () => (await redis.hget(keys.shardStatus(shard), 'status')) === 'stopped', {
        description: `shard ${shard} stopped`,
      });
      expect(await redis.hget(keys.shardStatus(shard), 'reason')).toMatch(/DISCORD_TOKEN/);
    }
    const readiness = await worker.get('/readyz');
    expect(readiness.status).toBe(503);
    expect(readiness.body).toMatch(/stopped: authentication failed/);
    expect((await worker.get('/healthz')).status).toBe(200);
    const updatedAt = Number(await redis.hget(keys.shardStatus(0), 'updated_at'));
    await waitUntil(async () => Number(await redis.hget(keys.shardStatus(0), 'updated_at')) > updatedAt, {
      timeoutMs: 15_000,
      description: 'a status refresh',
    });
    const stats = await simulator.control.stats();
    expect(stats.rest.invalid).toBe(1);
    expect(stats.identifies).toBe(0);
    expect(worker.process.exit).toBeUndefined();
    expect(worker.process.output).not.toContain('simulator-token');
  });

  it('identifies each shard once and stops it on 4014 (disallowed intents)', async () => {
    const simulator = await startSimulator({ guilds: 20, identifyIntervalMs: 200, privilegedIntents: 0 });
    simulators.push(simulator);
    const worker = await WorkerProcess.start({
      bot: 'test.intents',
      redisUrl: redisServer.url,
      simulatorUrl: simulator.url,
      workerId: 0,
      shardCount: 2,
      shardsPerPod: 2,
      identifyIntervalMs: 200,
      env: { INTENTS: 'Guilds,GuildMessages,MessageContent' },
    });
    workers.push(worker);
    for (const shard of [0, 1]) {
      const line = await worker.process.waitForLine(new RegExp(`closed shard ${shard} with 4014`), 20_000);
      expect(line).toMatch(/disallowed intents/);
    }
    const keys = redisKeys('test.intents');
    await waitUntil(async () => (await redis.hget(keys.shardStatus(1), 'status')) === 'stopped', {
      description: 'shard 1 stopped',
    });
    const updatedAt = Number(await redis.hget(keys.shardStatus(0), 'updated_at'));
    await waitUntil(async () => Number(await redis.hget(keys.shardStatus(0), 'updated_at')) > updatedAt, {
      timeoutMs: 15_000,
      description: 'a status refresh',
    });
    expect(await worker.metric('shardfleet_shard_closes_total', { code: '4014' })).toBe(2);
    expect(await worker.metric('shardfleet_identifies_total', { result: 'sent' })).toBe(2);
    expect((await worker.get('/readyz')).status).toBe(503);
    expect(await redis.exists(keys.lease(0), keys.lease(1))).toBe(0);
  });
});
