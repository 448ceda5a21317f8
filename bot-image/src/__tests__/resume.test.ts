import { decodeEventEntry, idempotencyKey, redisKeys } from '@shardfleet/protocol';
import { type RunningSimulator, startSimulator } from '@shardfleet/simulator';
import { metricValue, type ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Bot } from '../index.js';
import { newRedis, startShardWorker, testBot } from './harness.js';

const BOT = 'test.resume';
const SHARD_COUNT = 2;
const RATE = 400;

describe(
  'a shard worker killed and restarted under traffic (real shard worker, simulator)',
  { timeout: 120_000 },
  () => {
    let simulator: RunningSimulator;
    let redisServer: RedisServer;
    let redis: Redis;
    let worker: ProgramProcess | undefined;
    let bot: Bot | undefined;

    beforeAll(async () => {
      simulator = await startSimulator({ guilds: 40, identifyIntervalMs: 100, seed: 5 });
      redisServer = await RedisServer.start();
      redis = newRedis(redisServer.url);
    });

    afterAll(async () => {
      await bot?.stop();
      await worker?.stop('SIGKILL', 5_000);
      redis?.disconnect();
      await redisServer?.stop();
      await simulator?.close();
    }, 60_000);

    /** The events in the stream as written: keys written more than once count each time. */
    async function streamEvents() {
      const entries = (await redis.xrange(redisKeys(BOT).events, '-', '+')) as [string, string[]][];
      return entries.map(([, fields]) => decodeEventEntry(fields, { parseData: false }));
    }

    /** How far shard 0's events in the stream run ahead of its stored session seq. */
    async function unstoredEvents(): Promise<number> {
      const stored = Number((await redis.hget(redisKeys(BOT).session(0), 'seq')) ?? 0);
      const written = (await streamEvents()).filter((event) => event.s === 0).map((event) => event.seq);
      return Math.max(0, ...written) - stored;
    }

    const generated = async () => (await simulator.control.stats()).traffic.generated;

    async function traffic(events: number): Promise<void> {
      const start = await generated();
      await simulator.control.setTraffic(RATE);
      await waitUntil(async () => (await generated()) >= start + events, {
        timeoutMs: 30_000,
        description: `${events} generated events`,
      });
    }

    it('handles every dispatch once: what the resumed sessions replay is recognised', async () => {
      const shard = () =>
        startShardWorker({
          bot: BOT,
          redisUrl: redisServer.url,
          simulatorUrl: simulator.url,
          shardCount: SHARD_COUNT,
        });
      worker = await shard();
      const handled = new Map<string, number>();
      bot = testBot(BOT, redisServer.url);
      bot.on('MESSAGE_CREATE', (_message, { event }) => {
        handled.set(event.idempotencyKey, (handled.get(event.idempotencyKey) ?? 0) + 1);
      });
      await bot.start();
      const before = await simulator.control.stats();

      await traffic(400);
      // Killed between two writes of its sessions: the resumed sessions replay what it had written.
      await simulator.control.setTraffic(RATE);
      await waitUntil(async () => (await unstoredEvents()) >= 20, {
        timeoutMs: 20_000,
        intervalMs: 5,
        description: 'events written past the stored session',
      });
      worker.child.kill('SIGKILL');
      await worker.exited;
      await traffic(200);
      worker = await shard();
      await traffic(400);
      await simulator.control.setTraffic(0);

      const messages = async () =>
        (await simulator.control.ledger()).filter((entry) => entry.t === 'MESSAGE_CREATE' && entry.delivered);
      await waitUntil(
        async () =>
          (await messages()).every((entry) => handled.has(`${entry.shard}:${entry.session}:${entry.seq}`)),
        { timeoutMs: 60_000, intervalMs: 250, description: 'every delivered MESSAGE_CREATE handled' },
      );
      const ledger = await messages();
      expect(ledger.length).toBeGreaterThan(500);
      expect([...handled.values()].filter((count) => count !== 1)).toEqual([]);
      expect(handled.size).toBe(ledger.length);

      const after = await simulator.control.stats();
      expect(after.identifies).toBe(before.identifies);
      expect(after.resumes).toBeGreaterThan(before.resumes);
      // The stream holds the replayed copies too; each was acknowledged without running the handler.
      const written = new Set<string>();
      let copies = 0;
      for (const event of await streamEvents()) {
        const key = idempotencyKey(event);
        if (event.t === 'MESSAGE_CREATE' && written.has(key)) copies++;
        written.add(key);
      }
      expect(copies).toBeGreaterThan(0);
      const page = await (await fetch(`http://127.0.0.1:${bot.port}/metrics`)).text();
      expect(
        metricValue(page, 'shardfleet_events_consumed_total', {
          event: 'MESSAGE_CREATE',
          result: 'duplicate',
        }),
      ).toBe(copies);
    });
  },
);
