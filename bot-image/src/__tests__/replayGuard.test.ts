import { RedisServer } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { GuardedEntry } from '../replay/IReplayGuard.js';
import { RedisReplayGuard, SEEN_BUCKET_BITS } from '../replay/RedisReplayGuard.js';
import { newRedis } from './harness.js';

const PREFIX = 'sf:{guard.test}:';
const STREAM = `${PREFIX}events`;
const GROUP = 'bot';

type Key = [s: number, sid: string, seq: number];

describe('RedisReplayGuard (real Redis)', { timeout: 30_000 }, () => {
  let redisServer: RedisServer;
  let redis: Redis;
  let guard: RedisReplayGuard;

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
    await redis.xgroup('CREATE', STREAM, GROUP, '0', 'MKSTREAM');
    guard = new RedisReplayGuard({ redis, stream: STREAM, group: GROUP, keyPrefix: PREFIX });
  });

  afterAll(async () => {
    redis?.disconnect();
    await redisServer?.stop();
  });

  /** Writes one stream entry per key and reads them into the group, as a consumer would. */
  async function delivered(keys: readonly Key[]): Promise<GuardedEntry[]> {
    for (const [s, sid, seq] of keys) await redis.xadd(STREAM, '*', 's', s, 'sid', sid, 'seq', seq, 'd', 'x');
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

  const pending = async () => ((await redis.xpending(STREAM, GROUP)) as [number])[0];

  it('runs a possible replay whose key has no earlier entry', async () => {
    const [replay] = await delivered([[5, 'e', 1]]);
    expect(await guard.begin([replay!])).toEqual(['run']);
  });

  it('holds a replay back while an earlier entry of its key is pending, then acknowledges it as a duplicate', async () => {
    // Keys over two buckets and two sessions, bits not in one byte.
    const keys: Key[] = [
      [0, 'a', 7],
      [0, 'a', SEEN_BUCKET_BITS - 1],
      [0, 'a', SEEN_BUCKET_BITS],
      [0, 'a', 3 * SEEN_BUCKET_BITS + 12_345],
      [1, 'b', 7],
    ];
    const originals = await delivered(keys);
    const replays = await delivered(keys);
    expect(await guard.begin(replays)).toEqual(['busy', 'busy', 'busy', 'busy', 'busy']);
    // A redelivered original is the earliest of its key: it runs.
    expect(await guard.begin([originals[0]!])).toEqual(['run']);

    await guard.complete(originals);
    const before = await pending();
    expect(await guard.begin(replays)).toEqual([
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
      'duplicate',
    ]);
    expect(await pending()).toBe(before - replays.length);
    // A neighbour of a handled key in the same byte is not taken for it.
    expect(await guard.begin(await delivered([[0, 'a', 6]]))).toEqual(['run']);
  });

  it('runs the first of two entries of a key read together and holds the second back', async () => {
    const both = await delivered([
      [2, 'c', 100],
      [2, 'c', 100],
    ]);
    expect(await guard.begin(both)).toEqual(['run', 'busy']);
  });

  it('lets a replay run once the earlier entry left the pending list unhandled (dead-lettered)', async () => {
    const [original] = await delivered([[3, 'd', 42]]);
    const [replay] = await delivered([[3, 'd', 42]]);
    expect(await guard.begin([replay!])).toEqual(['busy']);
    // Acknowledged without being marked handled, as the dead-letter path does.
    await redis.xack(STREAM, GROUP, original!.id);
    expect(await guard.begin([replay!])).toEqual(['run']);
  });
});
