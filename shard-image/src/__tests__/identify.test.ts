import { startSimulator, type RunningSimulator } from '@shardfleet/simulator';
import { RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRedis, WorkerProcess } from './workerHarness.js';

describe('identify coordination', { timeout: 120_000 }, () => {
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

  it('starts 16 shards in 4 workers at once without a single identify too soon', async () => {
    const intervalMs = 500;
    const maxConcurrency = 4;
    const simulator = await startSimulator({
      guilds: 160,
      maxConcurrency,
      identifyIntervalMs: intervalMs,
      seed: 5,
    });
    simulators.push(simulator);
    const fleet = await Promise.all(
      [0, 1, 2, 3].map((workerId) =>
        WorkerProcess.start({
          bot: 'test.identify',
          redisUrl: redisServer.url,
          simulatorUrl: simulator.url,
          workerId,
          shardCount: 16,
          shardsPerPod: 4,
          identifyIntervalMs: intervalMs,
        }),
      ),
    );
    workers.push(...fleet);
    const startedAt = Date.now();
    await Promise.all(fleet.map((worker) => worker.waitReady(60_000)));
    const readyAfterMs = Date.now() - startedAt;

    const stats = await simulator.control.stats();
    expect(stats.violations).toBe(0);
    expect(stats.identifies).toBe(16);
    // Four rounds of four buckets: the last round cannot start before three intervals.
    const theoreticalMs = Math.ceil(16 / maxConcurrency) * intervalMs;
    expect(readyAfterMs).toBeGreaterThanOrEqual(theoreticalMs - intervalMs);
    // Generous for a loaded machine: four processes start and load before the first identify.
    expect(readyAfterMs, `fleet ready after ${readyAfterMs} ms`).toBeLessThan(theoreticalMs + 20_000);
  });

  it('refuses to identify below the budget reserve and waits for the reset', async () => {
    const simulator = await startSimulator({
      guilds: 40,
      identifyIntervalMs: 200,
      sessionLimit: 4,
      sessionResetAfterMs: 4_000,
      seed: 6,
    });
    simulators.push(simulator);
    const worker = await WorkerProcess.start({
      bot: 'test.budget',
      redisUrl: redisServer.url,
      simulatorUrl: simulator.url,
      workerId: 0,
      shardCount: 4,
      shardsPerPod: 4,
      identifyIntervalMs: 200,
      env: { IDENTIFY_RESERVE_PERCENT: '50' },
    });
    workers.push(worker);
    await worker.process.waitForLine(/identify refused: identify budget at its reserve/, 30_000);
    const waiting = await waitUntil(
      async () => {
        for (let shard = 0; shard < 4; shard++) {
          const hash = await redis.hgetall(`sf:{test.budget}:shard:${shard}`);
          if (hash.status === 'waiting_budget') return hash;
        }
        return null;
      },
      { timeoutMs: 10_000, description: 'a shard waiting for the budget' },
    );
    expect(waiting.reason).toMatch(/2 of 4 left, 2 kept back/);
    expect(
      await worker.metric('shardfleet_identifies_total', { result: 'refused_budget' }),
    ).toBeGreaterThanOrEqual(1);
    expect((await worker.get('/readyz')).status).toBe(503);
    expect((await simulator.control.stats()).identifies).toBe(2);

    await worker.waitReady(30_000);
    const stats = await simulator.control.stats();
    expect(stats.identifies).toBe(4);
    expect(stats.tokenResets).toBe(0);
  });
});
