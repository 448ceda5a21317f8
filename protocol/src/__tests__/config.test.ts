import { hostname } from 'node:os';
import { describe, expect, it } from 'vitest';
import {
  botEnvSchema,
  ConfigError,
  gatewayPresenceSchema,
  parseEnv,
  restProxyEnvSchema,
  shardEnvSchema,
} from '../index.js';

const TOKEN = 'MTE3ODI4NzY1NTMwNzI1NTgzOA.Gabcde.secret-token-value_xyz';
const PROXY_TOKEN = 'proxy-auth-0123456789abcdef';

const shardEnv = {
  SHARDFLEET_BOT: 'default.mybot',
  DISCORD_TOKEN: TOKEN,
  SHARD_COUNT: '40',
  SHARDS_PER_POD: '16',
  POD_NAME: 'mybot-shards-2',
  REDIS_URL: 'redis://redis:6379',
};

const botEnv = {
  SHARDFLEET_BOT: 'default.mybot',
  REDIS_URL: 'redis://redis:6379',
  REST_PROXY_URL: 'http://mybot-rest-proxy:8080',
  REST_PROXY_TOKEN: PROXY_TOKEN,
};

const proxyEnv = { DISCORD_TOKEN: TOKEN, PROXY_AUTH_TOKEN: PROXY_TOKEN };

function configError(parse: () => unknown): ConfigError {
  try {
    parse();
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('shardEnvSchema', () => {
  it('parses a minimal environment with the defaults of the contract', () => {
    expect(parseEnv(shardEnvSchema, shardEnv)).toEqual({
      shardfleetBot: 'default.mybot',
      discordToken: TOKEN,
      discordApiUrl: 'https://discord.com/api',
      shardCount: 40,
      shardsPerPod: 16,
      podName: 'mybot-shards-2',
      workerId: 2,
      shardIds: [32, 33, 34, 35, 36, 37, 38, 39],
      intents: 1 | 512,
      events: [],
      presence: undefined,
      redisUrl: 'redis://redis:6379',
      port: 8080,
      identifyIntervalMs: 5000,
      logLevel: 'info',
    });
  });

  it.each<[string, Record<string, string>, Record<string, unknown>]>([
    [
      'WORKER_ID over POD_NAME',
      { WORKER_ID: '1', SHARDS_PER_POD: '8' },
      { workerId: 1, shardIds: [8, 9, 10, 11, 12, 13, 14, 15] },
    ],
    ['WORKER_ID without POD_NAME', { POD_NAME: '', WORKER_ID: '0' }, { workerId: 0, podName: undefined }],
    [
      'a simulator API URL, trailing slash dropped',
      { DISCORD_API_URL: 'http://sim:8787/api/' },
      {
        discordApiUrl: 'http://sim:8787/api',
      },
    ],
    ['intents by name', { INTENTS: 'Guilds, GuildMessages, MessageContent' }, { intents: 33_281 }],
    ['intents as a number', { INTENTS: '513' }, { intents: 513 }],
    ['intents in Discord names', { INTENTS: 'GUILDS GUILD_MEMBERS' }, { intents: 3 }],
    [
      'events',
      { EVENTS: 'MESSAGE_CREATE, INTERACTION_CREATE,MESSAGE_CREATE' },
      {
        events: ['MESSAGE_CREATE', 'INTERACTION_CREATE'],
      },
    ],
    ['empty EVENTS as all', { EVENTS: '' }, { events: [] }],
    [
      'blank values as unset',
      { PORT: '  ', LOG_LEVEL: '', INTENTS: '' },
      { port: 8080, logLevel: 'info', intents: 513 },
    ],
    ['rediss', { REDIS_URL: 'rediss://:pw@redis:6380/0' }, { redisUrl: 'rediss://:pw@redis:6380/0' }],
    ['port and interval', { PORT: '9090', IDENTIFY_INTERVAL_MS: '1' }, { port: 9090, identifyIntervalMs: 1 }],
    ['an upper-case log level', { LOG_LEVEL: 'DEBUG' }, { logLevel: 'debug' }],
    ['a trimmed token', { DISCORD_TOKEN: `${TOKEN}\n` }, { discordToken: TOKEN }],
    [
      'the last worker of an uneven fleet',
      { POD_NAME: 'mybot-shards-4', SHARD_COUNT: '33', SHARDS_PER_POD: '8' },
      {
        shardIds: [32],
      },
    ],
    [
      'a presence',
      { PRESENCE: '{"status":"online","activities":[{"name":"shardfleet","type":3}]}' },
      {
        presence: {
          status: 'online',
          activities: [{ name: 'shardfleet', type: 3 }],
          since: null,
          afk: false,
        },
      },
    ],
  ])('accepts %s', (_, change, expected) => {
    expect(parseEnv(shardEnvSchema, { ...shardEnv, ...change })).toMatchObject(expected);
  });

  it.each<[string, Record<string, string | undefined>, Record<string, RegExp>]>([
    ['SHARD_COUNT text', { SHARD_COUNT: 'abc' }, { SHARD_COUNT: /^expected a positive integer, got "abc"$/ }],
    ['SHARD_COUNT 0', { SHARD_COUNT: '0' }, { SHARD_COUNT: /positive integer, got "0"/ }],
    ['SHARD_COUNT fraction', { SHARD_COUNT: '1.5' }, { SHARD_COUNT: /positive integer/ }],
    ['SHARDS_PER_POD negative', { SHARDS_PER_POD: '-1' }, { SHARDS_PER_POD: /positive integer, got "-1"/ }],
    ['missing token', { DISCORD_TOKEN: undefined }, { DISCORD_TOKEN: /^required$/ }],
    ['blank token', { DISCORD_TOKEN: '  ' }, { DISCORD_TOKEN: /^required$/ }],
    ['missing bot', { SHARDFLEET_BOT: undefined }, { SHARDFLEET_BOT: /^required$/ }],
    ['a bad bot id', { SHARDFLEET_BOT: 'mybot' }, { SHARDFLEET_BOT: /<namespace>\.<name>.*got "mybot"/ }],
    [
      'a bad API URL',
      { DISCORD_API_URL: 'discord.com' },
      { DISCORD_API_URL: /http.*URL, got "discord.com"/ },
    ],
    ['a non-http API URL', { DISCORD_API_URL: 'ftp://x' }, { DISCORD_API_URL: /http/ }],
    ['missing REDIS_URL', { REDIS_URL: undefined }, { REDIS_URL: /^required$/ }],
    ['an http REDIS_URL', { REDIS_URL: 'http://redis:6379' }, { REDIS_URL: /redis:\/\/ or rediss:\/\// }],
    ['neither POD_NAME nor WORKER_ID', { POD_NAME: undefined }, { POD_NAME: /required unless WORKER_ID/ }],
    ['a POD_NAME without ordinal', { POD_NAME: 'mybot' }, { POD_NAME: /"mybot" does not end in -<ordinal>/ }],
    ['a bad WORKER_ID', { WORKER_ID: 'x' }, { WORKER_ID: /non-negative integer, got "x"/ }],
    ['a pod beyond the fleet', { POD_NAME: 'mybot-shards-3' }, { POD_NAME: /worker 3 owns no shard/ }],
    [
      'a WORKER_ID beyond the fleet',
      { WORKER_ID: '9' },
      { WORKER_ID: /worker 9 owns no shard.*workers 0-2/ },
    ],
    ['unknown intents', { INTENTS: 'Guilds,Foo,Bar' }, { INTENTS: /"Foo", "Bar"/ }],
    ['invalid intent bits', { INTENTS: '131072' }, { INTENTS: /"131072"/ }],
    ['lower-case events', { EVENTS: 'MESSAGE_CREATE,message_update' }, { EVENTS: /got "message_update"$/ }],
    ['presence that is no JSON', { PRESENCE: '{status' }, { PRESENCE: /expected a JSON presence object/ }],
    ['presence without activities', { PRESENCE: '{"status":"online"}' }, { PRESENCE: /^activities: / }],
    [
      'presence with a bad status and activity',
      { PRESENCE: '{"status":"away","activities":[{"name":"x","type":9}]}' },
      { PRESENCE: /status: .*; activities\[0\]\.type: / },
    ],
    [
      'presence with a typo',
      { PRESENCE: '{"status":"idle","activities":[],"afc":true}' },
      { PRESENCE: /"afc"/ },
    ],
    ['PORT 0', { PORT: '0' }, { PORT: /^expected a port number 1-65535, got "0"$/ }],
    ['PORT too large', { PORT: '65536' }, { PORT: /got "65536"/ }],
    [
      'IDENTIFY_INTERVAL_MS 0',
      { IDENTIFY_INTERVAL_MS: '0' },
      { IDENTIFY_INTERVAL_MS: /positive integer, got "0"/ },
    ],
    [
      'a bad LOG_LEVEL',
      { LOG_LEVEL: 'verbose' },
      { LOG_LEVEL: /one of fatal, error, warn, info, debug, trace/ },
    ],
  ])('rejects %s', (_, change, expected) => {
    const error = configError(() => parseEnv(shardEnvSchema, { ...shardEnv, ...change }));
    expect(error.problems.map((problem) => problem.variable)).toEqual(Object.keys(expected));
    for (const problem of error.problems)
      expect(problem.message).toMatch(expected[problem.variable] as RegExp);
  });

  it('names every bad variable at once, one line each', () => {
    const error = configError(() =>
      parseEnv(shardEnvSchema, { DISCORD_TOKEN: TOKEN, SHARD_COUNT: 'abc', PORT: 'x', REDIS_URL: 'nope' }),
    );
    expect(error.problems.map((problem) => problem.variable).sort()).toEqual([
      'POD_NAME',
      'PORT',
      'REDIS_URL',
      'SHARDFLEET_BOT',
      'SHARDS_PER_POD',
      'SHARD_COUNT',
    ]);
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(6);
    expect(lines).toContain('SHARD_COUNT: expected a positive integer, got "abc"');
    expect(lines).toContain('SHARDFLEET_BOT: required');
  });

  it('merges several problems of one variable into one entry', () => {
    const error = configError(() =>
      parseEnv(shardEnvSchema, { ...shardEnv, PRESENCE: '{"status":"away","activities":[{"name":""}]}' }),
    );
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]?.message.split('; ').length).toBeGreaterThan(1);
  });
});

describe('secrets', () => {
  it.each<[string, Parameters<typeof parseEnv>[0], Record<string, string | undefined>]>([
    ['a short proxy token', restProxyEnvSchema, { ...proxyEnv, PROXY_AUTH_TOKEN: 'short-secret' }],
    ['a token in SHARD_COUNT', shardEnvSchema, { ...shardEnv, SHARD_COUNT: TOKEN }],
    ['a token in PRESENCE', shardEnvSchema, { ...shardEnv, PRESENCE: TOKEN }],
    ['a token in INTENTS', shardEnvSchema, { ...shardEnv, INTENTS: TOKEN }],
    [
      'a token in EVENTS',
      shardEnvSchema,
      { ...shardEnv, EVENTS: TOKEN.toUpperCase(), DISCORD_TOKEN: TOKEN.toUpperCase() },
    ],
    ['a proxy token in PORT', restProxyEnvSchema, { ...proxyEnv, PORT: PROXY_TOKEN }],
    ['a proxy token in the bot PORT', botEnvSchema, { ...botEnv, PORT: PROXY_TOKEN }],
    ['a password in REDIS_URL', shardEnvSchema, { ...shardEnv, REDIS_URL: 'http://:hunter2-password@redis' }],
  ])('keeps %s out of every message', (_, schema, env) => {
    const error = configError(() => parseEnv(schema, env));
    expect(error.problems.length).toBeGreaterThan(0);
    const secrets = [env.DISCORD_TOKEN, env.PROXY_AUTH_TOKEN, env.REST_PROXY_TOKEN, 'hunter2-password'];
    for (const secret of secrets.filter((value): value is string => value !== undefined)) {
      expect(error.message).not.toContain(secret);
      for (const problem of error.problems) expect(problem.message).not.toContain(secret);
      // The first characters alone would leak most of a short secret.
      expect(error.message).not.toContain(secret.slice(0, 10));
    }
  });

  it('says what is wrong with a short PROXY_AUTH_TOKEN without showing it', () => {
    const error = configError(() =>
      parseEnv(restProxyEnvSchema, { ...proxyEnv, PROXY_AUTH_TOKEN: 'short-secret' }),
    );
    expect(error.message).toBe('PROXY_AUTH_TOKEN: expected at least 16 characters, got 12');
  });
});

describe('botEnvSchema', () => {
  it('parses with the defaults of the contract', () => {
    expect(parseEnv(botEnvSchema, { ...botEnv, POD_NAME: 'mybot-bot-7d9f-x2' })).toEqual({
      shardfleetBot: 'default.mybot',
      redisUrl: 'redis://redis:6379',
      restProxyUrl: 'http://mybot-rest-proxy:8080',
      restProxyToken: PROXY_TOKEN,
      consumerGroup: 'bot',
      consumerName: 'mybot-bot-7d9f-x2',
      port: 8080,
      logLevel: 'info',
    });
  });

  it.each<[string, Record<string, string>, Record<string, unknown>]>([
    ['CONSUMER_NAME over POD_NAME', { CONSUMER_NAME: 'c1', POD_NAME: 'p1' }, { consumerName: 'c1' }],
    ['the host name without POD_NAME', {}, { consumerName: hostname() }],
    ['a consumer group', { CONSUMER_GROUP: 'analytics' }, { consumerGroup: 'analytics' }],
    ['a port and log level', { PORT: '3000', LOG_LEVEL: 'warn' }, { port: 3000, logLevel: 'warn' }],
  ])('accepts %s', (_, change, expected) => {
    expect(parseEnv(botEnvSchema, { ...botEnv, ...change })).toMatchObject(expected);
  });

  it.each<[string, Record<string, string | undefined>, string[]]>([
    [
      'nothing',
      {
        SHARDFLEET_BOT: undefined,
        REDIS_URL: undefined,
        REST_PROXY_URL: undefined,
        REST_PROXY_TOKEN: undefined,
      },
      ['SHARDFLEET_BOT', 'REDIS_URL', 'REST_PROXY_URL', 'REST_PROXY_TOKEN'],
    ],
    ['a bad proxy URL', { REST_PROXY_URL: 'mybot-rest-proxy' }, ['REST_PROXY_URL']],
    ['a bad port', { PORT: '80a' }, ['PORT']],
  ])('rejects %s', (_, change, variables) => {
    const error = configError(() => parseEnv(botEnvSchema, { ...botEnv, ...change }));
    expect(error.problems.map((problem) => problem.variable)).toEqual(variables);
  });
});

describe('restProxyEnvSchema', () => {
  it('parses with the defaults of the contract', () => {
    expect(parseEnv(restProxyEnvSchema, proxyEnv)).toEqual({
      discordToken: TOKEN,
      discordApiUrl: 'https://discord.com/api',
      proxyAuthToken: PROXY_TOKEN,
      redisUrl: undefined,
      port: 8080,
      logLevel: 'info',
    });
  });

  it('takes an optional REDIS_URL', () => {
    expect(parseEnv(restProxyEnvSchema, { ...proxyEnv, REDIS_URL: 'redis://r:6379' }).redisUrl).toBe(
      'redis://r:6379',
    );
  });

  it.each<[string, Record<string, string | undefined>, string[]]>([
    [
      'nothing',
      { DISCORD_TOKEN: undefined, PROXY_AUTH_TOKEN: undefined },
      ['DISCORD_TOKEN', 'PROXY_AUTH_TOKEN'],
    ],
    ['a 15-character auth token', { PROXY_AUTH_TOKEN: '0123456789abcde' }, ['PROXY_AUTH_TOKEN']],
    ['a bad REDIS_URL', { REDIS_URL: 'localhost:6379' }, ['REDIS_URL']],
    ['a bad API URL', { DISCORD_API_URL: 'x' }, ['DISCORD_API_URL']],
  ])('rejects %s', (_, change, variables) => {
    const error = configError(() => parseEnv(restProxyEnvSchema, { ...proxyEnv, ...change }));
    expect(error.problems.map((problem) => problem.variable)).toEqual(variables);
  });
});

describe('gatewayPresenceSchema', () => {
  it.each([
    [
      { status: 'idle', activities: [] },
      { status: 'idle', activities: [], since: null, afk: false },
    ],
    [
      {
        status: 'dnd',
        activities: [{ name: 'x', type: 1, url: 'https://twitch.tv/x' }],
        since: 5,
        afk: true,
      },
      {
        status: 'dnd',
        activities: [{ name: 'x', type: 1, url: 'https://twitch.tv/x' }],
        since: 5,
        afk: true,
      },
    ],
  ])('accepts %j', (input, expected) => {
    expect(gatewayPresenceSchema.parse(input)).toEqual(expected);
  });

  it.each([
    { status: 'online' },
    { status: 'busy', activities: [] },
    { status: 'online', activities: [{ type: 0 }] },
    { status: 'online', activities: [{ name: 'x', type: 6 }] },
    { status: 'online', activities: [], since: -1 },
    { status: 'online', activities: [], extra: 1 },
  ])('rejects %j', (input) => {
    expect(gatewayPresenceSchema.safeParse(input).success).toBe(false);
  });
});
