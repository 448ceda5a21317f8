import { startSimulator, type RunningSimulator } from '@shardfleet/simulator';
import { RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countKeys,
  ledgerKey,
  missingFromStream,
  newRedis,
  readEvents,
  unmarkedRepeats,
  WorkerProcess,
} from './workerHarness.js';

const BOT = 'test.fleet';
const SHARD_COUNT = 4;
const SHARDS_PER_POD = 2;
const INTERVAL_MS = 300;
const RATE = 300;

describe('two workers, four shards, under a steady event rate', { timeout: 120_000 }, () => {
  let simulator: RunningSimulator;
  let redisServer: RedisServer;
  let redis: Redis;
  const workers: WorkerProcess[] = [];

  const startWorker = (workerId: number) =>
    WorkerProcess.start({
      bot: BOT,
      redisUrl: redisServer.url,
      simulatorUrl: simulator.url,
      workerId,
      shardCount: SHARD_COUNT,
      shardsPerPod: SHARDS_PER_POD,
      identifyIntervalMs: INTERVAL_MS,
    });

  async function generate(events: number): Promise<void> {
    const start = (await simulator.control.stats()).traffic.generated;
    await simulator.control.setTraffic(RATE);
    await waitUntil(async () => (await simulator.control.stats()).traffic.generated >= start + events, {
      timeoutMs: 30_000,
      description: `${events} generated events`,
    });
  }

  /** Stops the traffic and waits until every dispatch of the ledger is in the stream. */
  async function settle() {
    await simulator.control.setTraffic(0);
    return waitUntil(
      async () => {
        const ledger = await simulator.control.ledger();
        const counts = countKeys(await readEvents(redis, BOT));
        return ledger.every((entry) => entry.delivered) && missingFromStream(ledger, counts).length === 0
          ? { ledger, counts }
          : null;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'every ledger dispatch in the stream' },
    );
  }

  beforeAll(async () => {
    simulator = await startSimulator({ guilds: 120, identifyIntervalMs: INTERVAL_MS, seed: 3 });
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
    workers.push(await startWorker(0), await startWorker(1));
    await Promise.all(workers.map((worker) => worker.waitReady()));
  }, 120_000);

  afterAll(async () => {
    await Promise.all(workers.map((worker) => worker.process.stop('SIGKILL', 5_000)));
    redis?.disconnect();
    await redisServer?.stop();
    await simulator?.close();
  }, 120_000);

  it('writes every dispatch of the ledger to the stream exactly once', async () => {
    await generate(600);
    const { ledger, counts } = await settle();
    expect(ledger.length).toBeGreaterThan(600);
    const ledgerKeys = new Set(ledger.map(ledgerKey));
    const duplicates = [...counts].filter(([, count]) => count !== 1);
    const unknown = [...counts.keys()].filter((key) => !ledgerKeys.has(key));
    expect(duplicates).toEqual([]);
    expect(unknown).toEqual([]);
    expect(counts.size).toBe(ledger.length);
    const entries = await readEvents(redis, BOT);
    for (const entry of entries.filter(({ t }) => t === 'GUILD_CREATE' || t === 'MESSAGE_CREATE')) {
      const data = entry.d as { id: string; guild_id?: string };
      expect(entry.g).toBe(entry.t === 'GUILD_CREATE' ? data.id : data.guild_id);
    }
    let guilds = 0;
    for (let shard = 0; shard < SHARD_COUNT; shard++) {
      const status = await redis.hgetall(`sf:{${BOT}}:shard:${shard}`);
      expect(status.status).toBe('ready');
      guilds += Number(status.guilds);
    }
    expect(guilds).toBe(120);
    const meta = await redis.hgetall(`sf:{${BOT}}:meta`);
    expect(meta).toMatchObject({ shard_count: '4', max_concurrency: '1' });
  });

  it('resumes after kill -9 and restart without losing a dispatch', async () => {
    const before = (await simulator.control.stats()).shards;
    const killed = workers[1] as WorkerProcess;
    await generate(300);
    killed.process.child.kill('SIGKILL');
    await killed.process.exited;
    await generate(300);
    workers[1] = await startWorker(1);
    await (workers[1] as WorkerProcess).waitReady();
    await generate(300);
    const { ledger, counts } = await settle();

    const after = (await simulator.control.stats()).shards;
    for (const shard of ['2', '3']) {
      expect(after[shard]?.identifies).toBe(before[shard]?.identifies);
      expect(after[shard]?.resumes).toBeGreaterThan(before[shard]?.resumes ?? 0);
    }
    const ledgerKeys = new Set(ledger.map(ledgerKey));
    expect([...counts.keys()].filter((key) => !ledgerKeys.has(key))).toEqual([]);
    expect(missingFromStream(ledger, counts)).toEqual([]);
    // What the resumed sessions replayed is marked, and so is every entry of a key written before:
    // consumers look for earlier entries of a key only for marked ones.
    const entries = await readEvents(redis, BOT);
    expect(unmarkedRepeats(entries)).toEqual([]);
    expect(
      entries.filter((entry) => entry.r === true && (entry.s === 2 || entry.s === 3)).length,
    ).toBeGreaterThan(0);
    expect(entries.filter((entry) => entry.r === true && entry.s < 2)).toEqual([]);
  });

  it('on SIGTERM closes resumably within the grace period, and the next process resumes', async () => {
    const before = (await simulator.control.stats()).shards;
    await simulator.control.setTraffic(RATE);
    const stopped = workers[0] as WorkerProcess;
    const startedAt = Date.now();
    const exit = await stopped.process.stop('SIGTERM', 30_000);
    expect(exit.code).toBe(0);
    expect(Date.now() - startedAt).toBeLessThan(25_000);
    const closes = (await simulator.control.stats()).shards;
    for (const shard of ['0', '1']) {
      expect(closes[shard]?.closes['4200']).toBeGreaterThanOrEqual(1);
      expect(closes[shard]?.closes['1000'] ?? 0).toBe(0);
    }
    workers[0] = await startWorker(0);
    await (workers[0] as WorkerProcess).waitReady();
    const { ledger, counts } = await settle();
    const after = (await simulator.control.stats()).shards;
    for (const shard of ['0', '1']) {
      expect(after[shard]?.identifies).toBe(before[shard]?.identifies);
      expect(after[shard]?.resumes).toBeGreaterThan(before[shard]?.resumes ?? 0);
    }
    expect(missingFromStream(ledger, counts)).toEqual([]);
    // A clean shutdown stores the last confirmed seq: nothing of shards 0 and 1 is replayed twice.
    expect([...counts].filter(([key, count]) => /^[01]:/.test(key) && count !== 1)).toEqual([]);
  });
});
