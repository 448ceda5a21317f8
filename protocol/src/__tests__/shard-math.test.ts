import { describe, expect, it } from 'vitest';
import {
  DISCORD_EPOCH,
  identifyBucket,
  shardForGuild,
  shardsForWorker,
  snowflakeFromTimestamp,
  snowflakeTimestamp,
  workerCount,
  workerIdFromPodName,
} from '../index.js';

describe('shardForGuild', () => {
  it.each([
    ['41771983423143937', 1, 0],
    ['41771983423143937', 2, 0],
    ['41771983423143937', 10, 4],
    // Above 2^53: Number arithmetic would round these.
    ['1178287655307255838', 16, 7],
    ['1178287655307255838', 1000, 551],
    ['9223372036854775807', 7, 3],
    ['9223372036854775807', 1024, 1023],
    ['18446744073709551615', 1000, 103],
    [1178287655307255838n, 16, 7],
    ['4194303', 5, 0],
    ['4194304', 5, 1],
  ])('shard of guild %s with %i shards is %i', (guildId, shardCount, expected) => {
    expect(shardForGuild(guildId, shardCount)).toBe(expected);
  });

  it('matches the BigInt formula for ids above 2^53 where Number math is off', () => {
    const id = '9223372036854775807';
    const viaNumber = Math.floor(Number(id) / 2 ** 22) % 7;
    expect(viaNumber).not.toBe(3);
    expect(shardForGuild(id, 7)).toBe(3);
  });

  it.each([null, undefined, ''])('sends guild-less events (%j) to shard 0', (guildId) => {
    expect(shardForGuild(guildId, 16)).toBe(0);
  });

  it.each([
    ['abc', 16, /guildId.*snowflake.*"abc"/],
    ['12a4', 16, /guildId/],
    ['-5', 16, /guildId/],
    [' 123', 16, /guildId/],
    ['18446744073709551616', 16, /guildId/],
    [-1n, 16, /guildId/],
    ['123', 0, /shardCount.*integer >= 1.*0/],
    ['123', 1.5, /shardCount/],
    ['123', Number.NaN, /shardCount/],
    [null, -1, /shardCount/],
  ])('rejects guild %s with %s shards', (guildId, shardCount, message) => {
    expect(() => shardForGuild(guildId, shardCount)).toThrow(RangeError);
    expect(() => shardForGuild(guildId, shardCount)).toThrow(message);
  });
});

describe('shardsForWorker and workerCount', () => {
  it.each([
    [0, 16, 40, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15]],
    [2, 16, 40, [32, 33, 34, 35, 36, 37, 38, 39]],
    [0, 1, 1, [0]],
    [3, 1, 4, [3]],
    [1, 4, 8, [4, 5, 6, 7]],
    [0, 16, 3, [0, 1, 2]],
  ])('worker %i with %i per pod of %i shards owns %j', (worker, perPod, count, expected) => {
    expect(shardsForWorker(worker, perPod, count)).toEqual(expected);
  });

  it.each([
    [3, 16, 40, /worker 3 owns no shard.*workers 0-2/],
    [1, 16, 16, /worker 1 owns no shard/],
    [-1, 16, 40, /worker must be a non-negative integer/],
    [0.5, 16, 40, /worker/],
    [0, 0, 40, /shardsPerPod/],
    [0, 16, 0, /shardCount/],
  ])('rejects worker %s with %s per pod of %s shards', (worker, perPod, count, message) => {
    expect(() => shardsForWorker(worker, perPod, count)).toThrow(RangeError);
    expect(() => shardsForWorker(worker, perPod, count)).toThrow(message);
  });

  it.each([
    [40, 16, 3],
    [48, 16, 3],
    [49, 16, 4],
    [1, 16, 1],
    [5, 1, 5],
  ])('%i shards at %i per pod need %i workers', (count, perPod, expected) => {
    expect(workerCount(count, perPod)).toBe(expected);
  });

  it.each([
    [0, 16],
    [16, 0],
    [2.5, 1],
  ])('workerCount rejects %s shards at %s per pod', (count, perPod) => {
    expect(() => workerCount(count, perPod)).toThrow(RangeError);
  });

  it('gives every shard to exactly one worker', () => {
    const shardCount = 37;
    const owned = Array.from({ length: workerCount(shardCount, 5) }, (_, worker) =>
      shardsForWorker(worker, 5, shardCount),
    ).flat();
    expect(owned).toEqual(Array.from({ length: shardCount }, (_, shard) => shard));
  });
});

describe('identifyBucket', () => {
  it.each([
    [0, 1, 0],
    [5, 1, 0],
    [5, 16, 5],
    [17, 16, 1],
    [31, 16, 15],
  ])('shard %i with max_concurrency %i is in bucket %i', (shard, maxConcurrency, expected) => {
    expect(identifyBucket(shard, maxConcurrency)).toBe(expected);
  });

  it.each([
    [-1, 16, /shard/],
    [1, 0, /maxConcurrency/],
    [1.5, 16, /shard/],
  ])('rejects shard %s with max_concurrency %s', (shard, maxConcurrency, message) => {
    expect(() => identifyBucket(shard, maxConcurrency)).toThrow(message);
  });
});

describe('workerIdFromPodName', () => {
  it.each([
    ['mybot-shards-3', 3],
    ['mybot-shards-0', 0],
    ['a-b-12', 12],
    ['x-100', 100],
  ])('%s is worker %i', (podName, expected) => {
    expect(workerIdFromPodName(podName)).toBe(expected);
  });

  it.each(['mybot', 'mybot-', 'mybot-x', '-3', '', 'mybot-3a', 'mybot-99999999999999999999'])(
    'rejects %j',
    (podName) => {
      expect(() => workerIdFromPodName(podName)).toThrow(/does not end in -<ordinal>/);
    },
  );
});

describe('snowflakes', () => {
  it.each([
    ['175928847299117063', 1_462_015_105_796],
    ['0', DISCORD_EPOCH],
    [175928847299117063n, 1_462_015_105_796],
    ['1178287655307255838', 1_700_996_068_551],
  ])('snowflake %s was created at %i', (id, expected) => {
    expect(snowflakeTimestamp(id)).toBe(expected);
  });

  it.each(['x', '-1', '1.5', ''])('snowflakeTimestamp rejects %j', (id) => {
    expect(() => snowflakeTimestamp(id)).toThrow(RangeError);
  });

  it.each([
    [DISCORD_EPOCH, 0, '0'],
    [1_462_015_105_796, 0, '175928847298985984'],
    [1_462_015_105_796, 7, '175928847298985991'],
    [1_700_996_068_551, 4095, '1178287655306137599'],
  ])('the snowflake of %i with increment %i is %s', (ms, increment, expected) => {
    expect(snowflakeFromTimestamp(ms, increment)).toBe(expected);
  });

  it.each([1_420_070_400_000, 1_700_000_000_000, 1_700_996_068_551])(
    'snowflakeTimestamp inverts snowflakeFromTimestamp at %i',
    (ms) => {
      expect(snowflakeTimestamp(snowflakeFromTimestamp(ms, 42))).toBe(ms);
    },
  );

  it('makes ids that sort by time and increment', () => {
    const ids = [snowflakeFromTimestamp(1_700_000_000_000), snowflakeFromTimestamp(1_700_000_000_000, 1)];
    ids.push(snowflakeFromTimestamp(1_700_000_000_001));
    expect(ids.map(BigInt)).toEqual([...ids.map(BigInt)].sort((a, b) => (a < b ? -1 : 1)));
    expect(new Set(ids).size).toBe(3);
  });

  it.each([
    [DISCORD_EPOCH - 1, 0, /ms/],
    [DISCORD_EPOCH + 2 ** 42, 0, /ms/],
    [1_700_000_000_000.5, 0, /ms/],
    [1_700_000_000_000, 4096, /increment/],
    [1_700_000_000_000, -1, /increment/],
  ])('snowflakeFromTimestamp rejects %s with increment %s', (ms, increment, message) => {
    expect(() => snowflakeFromTimestamp(ms, increment)).toThrow(message);
  });
});
