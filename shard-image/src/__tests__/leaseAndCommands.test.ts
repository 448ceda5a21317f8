import { encodeCommandEntry, redisKeys } from '@shardfleet/protocol';
import { startSimulator, type RunningSimulator } from '@shardfleet/simulator';
import { RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newRedis, WorkerProcess } from './workerHarness.js';

const BOT = 'test.lease';
const keys = redisKeys(BOT);
const PRESENCE = { status: 'idle', activities: [{ name: 'the gateway', type: 3 }], since: null, afk: false };

describe(
  'one connection per shard, commands, and close codes that stop a shard',
  { timeout: 120_000 },
  () => {
    let simulator: RunningSimulator;
    let redisServer: RedisServer;
    let redis: Redis;
    let holder: WorkerProcess;
    let claimant: WorkerProcess;

    beforeAll(async () => {
      simulator = await startSimulator({ guilds: 40, identifyIntervalMs: 200, seed: 8 });
      redisServer = await RedisServer.start();
      redis = newRedis(redisServer.url);
      const options = {
        bot: BOT,
        redisUrl: redisServer.url,
        simulatorUrl: simulator.url,
        workerId: 0,
        shardCount: 2,
        shardsPerPod: 2,
        identifyIntervalMs: 200,
      };
      holder = await WorkerProcess.start({ ...options, env: { PRESENCE: JSON.stringify(PRESENCE) } });
      await holder.waitReady();
      claimant = await WorkerProcess.start({ ...options, env: { POD_NAME: 'elsewhere-shards-0' } });
    }, 120_000);

    afterAll(async () => {
      await Promise.all([holder, claimant].map((worker) => worker?.process.stop('SIGKILL', 5_000)));
      redis?.disconnect();
      await redisServer?.stop();
      await simulator?.close();
    }, 120_000);

    it('identifies with the presence from PRESENCE', () => {
      for (const shard of [0, 1]) {
        const [open] = simulator.discord.connectionsOfShard(shard);
        expect(open?.session.presence).toEqual(PRESENCE);
      }
    });

    it('makes a second claimant of the same shards wait for the lease', async () => {
      await claimant.process.waitForLine(/shard lease held by another worker: waiting for it/, 20_000);
      expect((await claimant.get('/readyz')).status).toBe(503);
      const stats = await simulator.control.stats();
      expect(stats.shards['0']?.peakConnections).toBe(1);
      expect(stats.shards['1']?.peakConnections).toBe(1);
      expect(await redis.hget(keys.shardStatus(0), 'status')).toBe('ready');
      expect(await redis.get(keys.lease(0))).toMatch(/^lease-shards-0#/);
    });

    it('sends a presence command from the commands stream to the gateway and acks it', async () => {
      const presence = {
        since: null,
        activities: [{ name: 'the fleet', type: 3 }],
        status: 'dnd',
        afk: false,
      };
      await redis.xadd(
        keys.commands(1),
        '*',
        ...encodeCommandEntry({ op: 3, d: presence, id: 'presence-1', ts: Date.now() }),
      );
      const [command] = await waitUntil(
        async () => {
          const commands = await simulator.control.commands({ shard: 1, op: 3 });
          return commands.length > 0 ? commands : null;
        },
        { timeoutMs: 15_000, description: 'the presence command at the simulator' },
      );
      expect(command?.d).toEqual(presence);
      await waitUntil(async () => ((await redis.xpending(keys.commands(1), 'shard')) as [number])[0] === 0, {
        description: 'the command acked',
      });
    });

    it('hands the shards over on SIGTERM: the claimant resumes them', async () => {
      const before = await simulator.control.stats();
      expect((await holder.process.stop('SIGTERM')).code).toBe(0);
      await claimant.waitReady(30_000);
      const after = await simulator.control.stats();
      expect(after.identifies).toBe(before.identifies);
      expect(after.resumes).toBe(before.resumes + 2);
      expect(await redis.get(keys.lease(0))).toMatch(/^elsewhere-shards-0#/);
    });

    it('stops a shard for good on close code 4004, without a reconnect', async () => {
      const before = (await simulator.control.stats()).shards['0']!;
      await simulator.control.disconnect(0, 4004);
      const line = await claimant.process.waitForLine(/closed shard 0 with 4004/, 15_000);
      expect(line).toMatch(/authentication failed/);
      await waitUntil(async () => (await redis.hget(keys.shardStatus(0), 'status')) === 'stopped', {
        description: 'shard 0 stopped in its status hash',
      });
      expect(await redis.hget(keys.shardStatus(0), 'reason')).toMatch(/4004/);
      expect((await claimant.get('/readyz')).status).toBe(503);
      expect(await claimant.metric('shardfleet_shard_closes_total', { code: '4004' })).toBe(1);
      // Two status refreshes later the shard is still down and never tried again.
      const updatedAt = Number(await redis.hget(keys.shardStatus(1), 'updated_at'));
      await waitUntil(
        async () => Number(await redis.hget(keys.shardStatus(1), 'updated_at')) > updatedAt + 5_000,
        {
          timeoutMs: 20_000,
          description: 'two status refreshes',
        },
      );
      const after = (await simulator.control.stats()).shards['0']!;
      expect(after.connected).toBe(false);
      expect(after.identifies).toBe(before.identifies);
      expect(after.resumes).toBe(before.resumes);
      expect((await simulator.control.stats()).shards['1']?.connected).toBe(true);
    });
  },
);
