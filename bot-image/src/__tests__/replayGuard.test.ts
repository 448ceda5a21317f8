import { setTimeout as sleep } from 'node:timers/promises';
import { RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuardedEntry } from '../replay/IReplayGuard.js';
import { RedisReplayGuard, SEEN_BUCKET_BITS } from '../replay/RedisReplayGuard.js';
import { newRedis } from './harness.js';

const PREFIX = 'sf:{guard.test}:';
const STREAM = `${PREFIX}events`;
const GROUP = 'bot';

describe('RedisReplayGuard (real Redis)', { timeout: 30_000 }, () => {
  let redisServer: RedisServer;
  let redis: Redis;

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
    await redis.xgroup('CREATE', STREAM, GROUP, '0', 'MKSTREAM');
  });

  afterAll(async () => {
    redis?.disconnect();
    await redisServer?.stop();
  });

  /** Writes one stream entry per key and reads them into the group, as a consumer would. */
  async function delivered(keys: readonly [s: number, sid: string, seq: number][]): Promise<GuardedEntry[]> {
    for (const [s, sid, seq] of keys) await redis.xadd(STREAM, '*', 's', s, 'sid', sid, 'seq', seq);
    const reply = (await redis.xreadgroup(
      'GROUP',
      GROUP,
      'c',
      'COUNT',
      keys.length,
      'STREAMS',
      STREAM,
      '>',
    )) as [string, [string, string[]][]][];
    return reply[0]![1].map(([id], i) => ({ id, s: keys[i]![0], sid: keys[i]![1], seq: keys[i]![2] }));
  }

  const guard = (leaseMs = 10_000) =>
    new RedisReplayGuard({ redis, stream: STREAM, group: GROUP, keyPrefix: PREFIX, leaseMs });

  it('runs new keys, holds back a second entry of a key being handled, and acknowledges replays of handled keys', async () => {
    // Keys spread over two buckets and two sessions, not contiguous, with one key twice in the batch.
    const keys: [number, string, number][] = [
      [0, 'a', 7],
      [0, 'a', SEEN_BUCKET_BITS - 1],
      [0, 'a', SEEN_BUCKET_BITS],
      [0, 'a', 3 * SEEN_BUCKET_BITS + 12_345],
      [1, 'b', 7],
      [0, 'a', 7],
    ];
    const first = guard();
    const entries = await delivered(keys);
    expect(await first.begin(entries)).toEqual(['run', 'run', 'run', 'run', 'run', 'busy']);
    // Another consumer reads a replay of each while they run.
    const other = guard();
    const whileRunning = await delivered(keys.slice(0, 5));
    expect(await other.begin(whileRunning)).toEqual(['busy', 'busy', 'busy', 'busy', 'busy']);

    await first.complete(entries.slice(0, 5));
    const afterwards = await delivered(keys.slice(0, 5));
    expect(await other.begin(afterwards)).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    // Completed and duplicates are acknowledged; the busy ones stay pending.
    const [pending] = (await redis.xpending(STREAM, GROUP)) as [number];
    expect(pending).toBe(1 + 5);
    // A neighbour of a handled key in the same byte is not taken for it.
    expect(await other.begin(await delivered([[0, 'a', 6]]))).toEqual(['run']);
  });

  it('gives a key back when its handler failed, so a retry runs', async () => {
    const consumer = guard();
    const [entry] = await delivered([[2, 'c', 100]]);
    expect(await consumer.begin([entry!])).toEqual(['run']);
    await consumer.release([entry!]);
    expect(await guard().begin([entry!])).toEqual(['run']);
  });

  it("lets a dead consumer's lease run out after one to two periods unless renewed", async () => {
    const leaseMs = 300;
    const [entry] = await delivered([[3, 'd', 42]]);
    const live = guard(leaseMs);
    expect(await live.begin([entry!])).toEqual(['run']);
    // Renewed at the claim pass's pace, the lease outlasts two periods.
    const renewedUntil = Date.now() + 3 * leaseMs;
    while (Date.now() < renewedUntil) {
      await live.renew([entry!]);
      expect(await guard(leaseMs).begin([entry!])).toEqual(['busy']);
      await sleep(leaseMs / 3);
    }
    // Not renewed any more (its consumer died): still held at first, then the redelivery runs.
    const successor = guard(leaseMs);
    expect(await successor.begin([entry!])).toEqual(['busy']);
    await waitUntil(async () => (await successor.begin([entry!]))[0] === 'run', {
      timeoutMs: 10 * leaseMs,
      intervalMs: 20,
      description: 'the lease ran out',
    });
  });
});
