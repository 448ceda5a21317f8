import { setTimeout as sleep } from 'node:timers/promises';
import { redisKeys } from '@shardfleet/protocol';
import { metricValue, RedisServer, waitUntil } from '@shardfleet/testing';
import type { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Bot } from '../index.js';
import { messageEvent, newRedis, pendingCount, testBot, waitDrained, writeEvents } from './harness.js';

describe('consuming the event stream (real Redis)', { timeout: 60_000 }, () => {
  let redisServer: RedisServer;
  let redis: Redis;
  const bots: Bot[] = [];

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    redis = newRedis(redisServer.url);
  });

  afterEach(async () => {
    await Promise.all(bots.splice(0).map((bot) => bot.stop()));
  });

  afterAll(async () => {
    redis?.disconnect();
    await redisServer?.stop();
  });

  it('handles every event written while no bot ran, each key once, replays acknowledged unhandled', async () => {
    const bot = 'test.backlog';
    const events = Array.from({ length: 300 }, (_, i) => messageEvent(String(100 + (i % 7)), `hello ${i}`));
    // A resume replays keys already in the stream: same s:sid:seq, new entries.
    const replays = events.slice(10, 13).map((event) => ({ ...event, ts: event.ts + 1, r: true }));
    await writeEvents(redis, bot, [...events, ...replays]);

    const handled = new Map<string, number>();
    const instance = testBot(bot, redisServer.url, { batchSize: 64 });
    bots.push(instance);
    instance.on('MESSAGE_CREATE', (_message, { event }) => {
      handled.set(event.idempotencyKey, (handled.get(event.idempotencyKey) ?? 0) + 1);
    });
    await instance.start();
    await waitDrained(redis, bot);

    expect(handled.size).toBe(events.length);
    expect([...handled.values()].every((count) => count === 1)).toBe(true);
    const page = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
    expect(
      metricValue(page, 'shardfleet_events_consumed_total', { event: 'MESSAGE_CREATE', result: 'ok' }),
    ).toBe(300);
    expect(
      metricValue(page, 'shardfleet_events_consumed_total', { event: 'MESSAGE_CREATE', result: 'duplicate' }),
    ).toBe(3);
    expect(metricValue(page, 'shardfleet_stream_pending')).toBe(0);
    expect(metricValue(page, 'shardfleet_stream_lag')).toBe(0);
    expect(page).toContain('shardfleet_handler_duration_seconds_bucket{le="0.005",event="MESSAGE_CREATE"}');
    expect((await fetch(`http://127.0.0.1:${instance.port}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${instance.port}/healthz`)).status).toBe(200);
  });

  it('holds back a replay read while its original is being handled, then acknowledges it unhandled', async () => {
    const bot = 'test.concurrent-replay';
    const original = messageEvent('600', 'slow one');
    await writeEvents(redis, bot, [original, { ...original, ts: original.ts + 1, r: true }]);
    let calls = 0;
    const instance = testBot(bot, redisServer.url, { claimIdleMs: 400, claimIntervalMs: 100 });
    bots.push(instance);
    instance.on('MESSAGE_CREATE', async () => {
      calls++;
      await sleep(300);
    });
    await instance.start();
    await waitDrained(redis, bot);
    expect(calls).toBe(1);
    const page = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
    expect(metricValue(page, 'shardfleet_events_consumed_total', { result: 'duplicate' })).toBe(1);
  });

  it('recognises replays per consumer group: a second group (another application) handles every event', async () => {
    const bot = 'test.two-groups';
    await writeEvents(
      redis,
      bot,
      Array.from({ length: 50 }, (_, i) => messageEvent('700', `e ${i}`)),
    );
    const counts = { bot: 0, audit: 0 };
    for (const group of ['bot', 'audit'] as const) {
      const instance = testBot(bot, redisServer.url, {
        healthServer: false,
        config: { consumerGroup: group },
      });
      bots.push(instance);
      instance.on('MESSAGE_CREATE', () => {
        counts[group]++;
      });
      await instance.start();
    }
    await waitUntil(
      async () =>
        counts.bot === 50 &&
        counts.audit === 50 &&
        (await pendingCount(redis, bot, 'bot')) === 0 &&
        (await pendingCount(redis, bot, 'audit')) === 0,
      { description: 'both groups done' },
    );
    expect(counts).toEqual({ bot: 50, audit: 50 });
  });

  it('keeps in-flight handlers under the bound and one guild in stream order', async () => {
    const bot = 'test.ordered';
    const guilds = ['200', '201', '202', '203', '204', '205', '206', '207', '208', '209'];
    const events = Array.from({ length: 200 }, (_, i) => messageEvent(guilds[i % guilds.length]!, `n ${i}`));
    await writeEvents(redis, bot, events);

    const order = new Map<string, number[]>();
    let running = 0;
    let peak = 0;
    const instance = testBot(bot, redisServer.url, { maxInFlight: 6, orderedByGuild: true });
    bots.push(instance);
    instance.on('MESSAGE_CREATE', async (_message, { event }) => {
      running++;
      peak = Math.max(peak, running);
      // Later events of a guild finish sooner if nothing keeps them in order.
      await sleep(event.seq % 3 === 0 ? 6 : 1);
      order.set(event.guildId!, [...(order.get(event.guildId!) ?? []), event.seq]);
      running--;
    });
    await instance.start();
    await waitDrained(redis, bot);

    expect(peak).toBeLessThanOrEqual(6);
    expect(peak).toBeGreaterThan(1);
    for (const guild of guilds) {
      const seqs = events.filter((event) => event.g === guild).map((event) => event.seq);
      expect(order.get(guild)).toEqual(seqs);
    }
  });

  it('moves an entry that keeps failing to the DLQ with its error after maxDeliveries, and carries on', async () => {
    const bot = 'test.dlq';
    const attempts: number[] = [];
    const handledGood: string[] = [];
    const instance = testBot(bot, redisServer.url, {
      maxDeliveries: 3,
      claimIdleMs: 200,
      claimIntervalMs: 50,
    });
    bots.push(instance);
    instance.on('MESSAGE_CREATE', (message, { event }) => {
      if (message.content === 'poison') {
        attempts.push(event.deliveries);
        throw new Error('handler refuses poison');
      }
      handledGood.push(message.content);
    });
    await instance.start();
    const [poisonId] = await writeEvents(redis, bot, [messageEvent('300', 'poison')]);
    await waitUntil(async () => (await redis.xlen(redisKeys(bot).dlq)) === 1, {
      timeoutMs: 20_000,
      description: 'an entry in the DLQ',
    });
    await writeEvents(redis, bot, [messageEvent('300', 'after the poison')]);
    await waitUntil(() => handledGood.includes('after the poison'), {
      description: 'the next event handled',
    });
    await waitDrained(redis, bot);

    expect(attempts).toEqual([1, 2, 3]);
    const dlq = (await redis.xrange(redisKeys(bot).dlq, '-', '+')) as [string, string[]][];
    const fields = dlq[0]![1];
    const entry: Record<string, string> = {};
    for (let i = 0; i + 1 < fields.length; i += 2) entry[fields[i]!] = fields[i + 1]!;
    expect(entry).toMatchObject({
      t: 'MESSAGE_CREATE',
      id: poisonId,
      error: 'Error: handler refuses poison',
      deliveries: '3',
      consumer: 'consumer-a',
      group: 'bot',
    });
    expect(JSON.parse(entry.d!)).toMatchObject({ content: 'poison' });
    expect(await pendingCount(redis, bot)).toBe(0);
    const page = await (await fetch(`http://127.0.0.1:${instance.port}/metrics`)).text();
    expect(metricValue(page, 'shardfleet_dead_letters_total')).toBe(1);
    expect(metricValue(page, 'shardfleet_events_consumed_total', { result: 'error' })).toBe(3);
  });

  it('keeps reading across a Redis restart that lost the stream and the group', async () => {
    const bot = 'test.restart';
    const handled: string[] = [];
    const instance = testBot(bot, redisServer.url);
    bots.push(instance);
    instance.on('MESSAGE_CREATE', (message) => {
      handled.push(message.content);
    });
    await instance.start();
    await writeEvents(redis, bot, [messageEvent('400', 'before')]);
    await waitUntil(() => handled.includes('before'), { description: 'first event handled' });

    await redisServer.stop();
    await waitUntil(() => !instance.ready, { description: 'bot not ready without Redis' });
    await redisServer.start();
    await waitUntil(() => instance.ready, { timeoutMs: 20_000, description: 'bot ready again' });
    await writeEvents(redis, bot, [messageEvent('400', 'after')]);
    await waitUntil(() => handled.includes('after'), {
      timeoutMs: 20_000,
      description: 'event after restart',
    });
    await waitDrained(redis, bot);
    expect(handled).toEqual(['before', 'after']);
  });

  it('finishes and acknowledges handlers in flight when stopped', async () => {
    const bot = 'test.drain';
    let finished = 0;
    const instance = testBot(bot, redisServer.url);
    instance.on('MESSAGE_CREATE', async () => {
      await sleep(300);
      finished++;
    });
    await instance.start();
    await writeEvents(redis, bot, [messageEvent('500', 'a'), messageEvent('501', 'b')]);
    await waitUntil(async () => (await pendingCount(redis, bot)) === 2, { description: 'two in flight' });
    await instance.stop();
    expect(finished).toBe(2);
    expect(await pendingCount(redis, bot)).toBe(0);
  });
});
