import { describe, expect, it } from 'vitest';
import { BOT_ID_PATTERN, parseBotId, redisKeys } from '../index.js';

describe('parseBotId', () => {
  it.each([
    ['default.mybot', 'default', 'mybot'],
    ['team-a.bot-1', 'team-a', 'bot-1'],
    ['0.9', '0', '9'],
    [`${'a'.repeat(63)}.${'b'.repeat(63)}`, 'a'.repeat(63), 'b'.repeat(63)],
  ])('splits %s', (bot, namespace, name) => {
    expect(parseBotId(bot)).toEqual({ namespace, name });
    expect(BOT_ID_PATTERN.test(bot)).toBe(true);
  });

  it.each([
    'mybot',
    'default.',
    '.mybot',
    'a.b.c',
    'Default.mybot',
    'default.my_bot',
    '-ns.bot',
    'ns.bot-',
    `${'a'.repeat(64)}.bot`,
    `ns.${'b'.repeat(64)}`,
    'ns.bot\n',
    '',
  ])('rejects %j', (bot) => {
    expect(BOT_ID_PATTERN.test(bot)).toBe(false);
    expect(() => parseBotId(bot)).toThrow(RangeError);
    expect(() => parseBotId(bot)).toThrow(/expected <namespace>\.<name>/);
  });
});

describe('redisKeys', () => {
  const keys = redisKeys('default.mybot');

  it.each([
    ['events', keys.events, 'sf:{default.mybot}:events'],
    ['dlq', keys.dlq, 'sf:{default.mybot}:dlq'],
    ['meta', keys.meta, 'sf:{default.mybot}:meta'],
    ['commands', keys.commands(3), 'sf:{default.mybot}:commands:3'],
    ['session', keys.session(0), 'sf:{default.mybot}:session:0'],
    ['identify', keys.identify(15), 'sf:{default.mybot}:identify:15'],
    ['lease', keys.lease(7), 'sf:{default.mybot}:lease:7'],
    ['shardStatus', keys.shardStatus(12), 'sf:{default.mybot}:shard:12'],
  ])('%s is %s', (_, actual, expected) => {
    expect(actual).toBe(expected);
  });

  it('puts every key of a bot behind the same hash tag', () => {
    const all = [keys.events, keys.dlq, keys.meta, keys.commands(1), keys.session(2), keys.identify(0)];
    all.push(keys.lease(3), keys.shardStatus(4));
    expect(new Set(all.map((key) => /\{([^}]*)\}/.exec(key)?.[1]))).toEqual(new Set(['default.mybot']));
  });

  it('keeps bots apart', () => {
    expect(redisKeys('other.mybot').events).not.toBe(keys.events);
  });

  it.each(['mybot', 'a.b}', '{a}.b', ''])('rejects the bot id %j', (bot) => {
    expect(() => redisKeys(bot)).toThrow(/invalid bot id/);
  });

  it.each([
    ['commands', () => keys.commands(-1)],
    ['session', () => keys.session(1.5)],
    ['identify', () => keys.identify(Number.NaN)],
    ['lease', () => keys.lease(-2)],
    ['shardStatus', () => keys.shardStatus(0.1)],
  ])('%s rejects a number that is no shard or bucket', (_, make) => {
    expect(make).toThrow(RangeError);
  });
});
