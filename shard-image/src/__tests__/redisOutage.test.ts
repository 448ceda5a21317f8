import { startSimulator, type RunningSimulator } from '@shardfleet/simulator';
import { RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  countKeys,
  missingFromStream,
  newRedis,
  readEvents,
  unmarkedRepeats,
  WorkerProcess,
} from './workerHarness.js';

const RATE = 200;
const OUTAGE_EVENTS = RATE * 5;

interface Setup {
  bot: string;
  simulator: RunningSimulator;
  worker: WorkerProcess;
}

describe('Redis stopped under load and started again', { timeout: 120_000 }, () => {
  let redisServer: RedisServer;
  let redis: Redis;
  const setups: Setup[] = [];

  async function setup(bot: string, seed: number, env: Record<string, string> = {}): Promise<Setup> {
    const simulator = await startSimulator({ guilds: 60, identifyIntervalMs: 200, seed });
    const worker = await WorkerProcess.start({
      bot,
      redisUrl: redisServer.url,
      simulatorUrl: simulator.url,
      workerId: 0,
      shardCount: 2,
      shardsPerPod: 2,
      identifyIntervalMs: 200,
      env,
    });
    const created = { bot, simulator, worker };
    setups.push(created);
    return created;
  }

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
  }, 120_000);

  afterAll(async () => {
    await Promise.all(setups.map(({ worker }) => worker.process.stop('SIGKILL', 5_000)));
    redis?.disconnect();
    await redisServer?.stop();
    await Promise.all(setups.map(({ simulator }) => simulator.close()));
  }, 120_000);

  it('keeps the gateway up, delivers what it buffered, and counts drops only past the bound', async () => {
    const roomy = await setup('test.outage', 11);
    const tight = await setup('test.tight', 12, { EVENT_BUFFER_LIMIT: '100' });
    await Promise.all([roomy.worker.waitReady(), tight.worker.waitReady()]);
    const before = await Promise.all(setups.map(({ simulator }) => simulator.control.stats()));
    await Promise.all(setups.map(({ simulator }) => simulator.control.setTraffic(RATE)));
    await waitUntil(async () => (await readEvents(redis, roomy.bot)).length > 100, {
      description: 'events in the stream',
    });

    await redisServer.stop();
    // Anything dispatched from here on can only reach the stream through the worker's buffer.
    const cut = await Promise.all(setups.map(({ simulator }) => simulator.control.ledger()));
    const generatedAtCut = (await roomy.simulator.control.stats()).traffic.generated;
    await waitUntil(
      async () => (await roomy.simulator.control.stats()).traffic.generated >= generatedAtCut + OUTAGE_EVENTS,
      { timeoutMs: 30_000, description: 'five seconds of traffic without Redis' },
    );
    expect(await roomy.worker.metric('shardfleet_event_buffer_events')).toBeGreaterThan(OUTAGE_EVENTS / 2);
    await redisServer.start();
    await Promise.all(setups.map(({ simulator }) => simulator.control.setTraffic(0)));

    const afterCut = (index: number) =>
      setups[index]!.simulator.control.ledger().then((ledger) => ledger.slice(cut[index]!.length));
    const roomyAfterCut = await afterCut(0);
    await waitUntil(
      async () =>
        missingFromStream(roomyAfterCut, countKeys(await readEvents(redis, roomy.bot))).length === 0,
      { timeoutMs: 30_000, intervalMs: 250, description: 'the buffered events in the stream' },
    );
    expect(roomyAfterCut.length).toBeGreaterThan(OUTAGE_EVENTS);
    expect(unmarkedRepeats(await readEvents(redis, roomy.bot))).toEqual([]);
    expect(await roomy.worker.metric('shardfleet_events_dropped_total')).toBe(0);

    const tightAfterCut = await afterCut(1);
    await waitUntil(async () => (await tight.worker.metric('shardfleet_event_buffer_events')) === 0, {
      timeoutMs: 30_000,
      description: 'the tight buffer written out',
    });
    const dropped = await tight.worker.metric('shardfleet_events_dropped_total', { reason: 'buffer_full' });
    const missing = missingFromStream(tightAfterCut, countKeys(await readEvents(redis, tight.bot))).length;
    expect(missing).toBeGreaterThan(0);
    expect(missing).toBeLessThanOrEqual(dropped);
    expect(dropped).toBeLessThan(tightAfterCut.length);

    // The gateway never noticed: no reconnect, no identify, no resume.
    const after = await Promise.all(setups.map(({ simulator }) => simulator.control.stats()));
    after.forEach((stats, index) => {
      expect(stats.identifies).toBe(before[index]!.identifies);
      expect(stats.resumes).toBe(before[index]!.resumes);
      expect(Object.values(stats.shards).every((shard) => shard.connected)).toBe(true);
    });
    // Redis came back empty: the worker restored its sessions and the meta hash.
    await waitUntil(
      async () => (await redis.exists(`sf:{test.outage}:session:0`, `sf:{test.outage}:meta`)) === 2,
      {
        description: 'sessions and meta restored',
      },
    );
  });
});
