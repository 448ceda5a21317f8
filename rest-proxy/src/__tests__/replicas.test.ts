import type { RunningSimulator } from '@shardfleet/simulator';
import { RedisServer, waitUntil } from '@shardfleet/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../config.js';
import { metric, postMessage, proxyConfig, startProxy, startWorld, type TestProxy } from './harness.js';

const MESSAGES_ROUTE = 'POST /channels/{channel_id}/messages';

let redis: RedisServer;
let simulator: RunningSimulator;
let channels: string[];
const proxies: TestProxy[] = [];

beforeAll(async () => {
  redis = await RedisServer.start();
});

afterAll(async () => {
  await redis.stop();
});

beforeEach(async () => {
  if (!redis.running) await redis.start();
  ({ simulator, channels } = await startWorld(20));
});

afterEach(async () => {
  await Promise.all(proxies.splice(0).map((proxy) => proxy.close()));
  await simulator.close();
});

/** Two replicas sharing Redis; each test uses its own bot name so no state leaks between tests. */
async function replicas(bot: string, overrides: Partial<ProxyConfig> = {}): Promise<[TestProxy, TestProxy]> {
  const config = proxyConfig(`${simulator.url}/api`, {
    redisUrl: redis.url,
    shardfleetBot: bot,
    ...overrides,
  });
  const pair = [await startProxy(config), await startProxy(config)] as [TestProxy, TestProxy];
  proxies.push(...pair);
  return pair;
}

describe('replicas sharing Redis', () => {
  it('sends 50 concurrent messages to a channel of 5 per 5 s through two replicas without one 429', async () => {
    const [first, second] = await replicas('test.bucket', { queueTimeoutMs: 150_000 });
    const channel = channels[0] as string;
    await simulator.control.setRouteLimit(MESSAGES_ROUTE, 5, 5_000);
    const responses = await Promise.all(
      Array.from({ length: 50 }, (_, index) =>
        postMessage((index % 2 === 0 ? first : second).url, channel, `message ${index}`),
      ),
    );
    expect(responses.map((response) => response.status)).toEqual(Array(50).fill(200));
    const stats = await simulator.control.stats();
    expect(stats.rest.ratelimited).toBe(0);
    expect(stats.rest.requests).toBe(50);
    expect(await simulator.control.botMessages(channel)).toHaveLength(50);
  }, 180_000);

  it('keeps two replicas together within the global limit', async () => {
    const limit = 10;
    await simulator.control.setGlobalLimit(limit);
    const [first, second] = await replicas('test.global', { globalRateLimit: limit });
    const requests = channels
      .slice(0, 40)
      .map((channel, index) =>
        postMessage((index % 2 === 0 ? first : second).url, channel, `message ${index}`),
      );
    const responses = await Promise.all(requests);
    expect(responses.map((response) => response.status)).toEqual(Array(40).fill(200));
    const stats = await simulator.control.stats();
    expect(stats.rest.ratelimited).toBe(0);
    expect(stats.rest.peakPerSecond).toBeGreaterThan(0);
    expect(stats.rest.peakPerSecond).toBeLessThanOrEqual(limit);
  }, 60_000);

  it('shares the invalid-request count, so the guard trips for all replicas at the threshold', async () => {
    const [first, second] = await replicas('test.invalid', {
      discordToken: 'a-revoked-token',
      invalidRequestLimit: 4,
    });
    const channel = channels[0] as string;
    for (const proxy of [first, second, first, second]) {
      expect((await postMessage(proxy.url, channel, 'x')).status).toBe(401);
    }
    for (const proxy of [first, second]) {
      const stopped = await postMessage(proxy.url, channel, 'x');
      expect(stopped.status).toBe(503);
      expect(stopped.headers.get('x-shardfleet-proxy-error')).toBe('invalid-request-limit');
      expect(await metric(proxy.url, 'shardfleet_rest_invalid_requests')).toBe(4);
    }
    expect((await simulator.control.stats()).rest).toMatchObject({ requests: 4, invalid: 4 });
  });

  it('keeps serving within its share when Redis stops under load, and shares again when it is back', async () => {
    const limit = 10;
    await simulator.control.setGlobalLimit(limit);
    const [first, second] = await replicas('test.failover', { globalRateLimit: limit });
    // Each replica counts the other (heartbeats every 5 s), so each falls back to half the limits.
    for (const proxy of [first, second]) {
      await waitUntil(
        async () =>
          ((await (await fetch(`${proxy.url}/readyz`)).json()) as { replicas?: number }).replicas === 2,
        {
          timeoutMs: 20_000,
          description: 'two replicas in the heartbeat set',
        },
      );
    }
    const post = (index: number) =>
      postMessage(
        (index % 2 === 0 ? first : second).url,
        channels[index % channels.length] as string,
        `m${index}`,
      );
    const before = await Promise.all(Array.from({ length: 10 }, (_, index) => post(index)));
    const during = Array.from({ length: 30 }, (_, index) => post(10 + index));
    await redis.stop();
    const responses = [...before, ...(await Promise.all(during))];
    const failed = await Promise.all(
      responses.filter((r) => r.status !== 200).map(async (r) => `${r.status} ${await r.text()}`),
    );
    expect(failed).toEqual([]);

    for (const proxy of [first, second]) {
      expect(await metric(proxy.url, 'shardfleet_rest_limiter_mode{mode="fallback"}')).toBe(1);
      expect(proxy.logs.join('\n')).toContain("kept locally at this replica's share (1/2)");
    }
    const stats = await simulator.control.stats();
    expect(stats.rest.ratelimited).toBe(0);
    expect(stats.rest.peakPerSecond).toBeLessThanOrEqual(limit);

    await redis.start();
    for (const proxy of [first, second]) {
      await waitUntil(
        async () => (await metric(proxy.url, 'shardfleet_rest_limiter_mode{mode="shared"}')) === 1,
        {
          timeoutMs: 20_000,
          description: 'the limiter back in shared mode',
        },
      );
    }
    expect((await post(0)).status).toBe(200);
  }, 90_000);
});
