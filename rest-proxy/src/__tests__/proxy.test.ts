import { createHash, randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { API } from '@discordjs/core/http-only';
import { REST } from '@discordjs/rest';
import type { RunningSimulator } from '@shardfleet/simulator';
import { waitUntil } from '@shardfleet/testing';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ProxyConfig } from '../config.js';
import {
  AUTH,
  BOT_TOKEN,
  metric,
  PROXY_TOKEN,
  postMessage,
  proxyConfig,
  startProxy,
  startWorld,
  type TestProxy,
} from './harness.js';

const MESSAGES_ROUTE = 'POST /channels/{channel_id}/messages';

let simulator: RunningSimulator;
let channels: string[];
const cleanups: (() => Promise<void>)[] = [];

beforeEach(async () => {
  ({ simulator, channels } = await startWorld(4));
  cleanups.push(() => simulator.close());
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function proxy(overrides: Partial<ProxyConfig> = {}): Promise<TestProxy> {
  const started = await startProxy(proxyConfig(`${simulator.url}/api`, overrides));
  cleanups.push(() => started.close());
  return started;
}

const channel = () => channels[0] as string;

describe('authentication', () => {
  it('answers 401 without the proxy token and forwards nothing', async () => {
    const { url, logs } = await proxy();
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: `Bot ${BOT_TOKEN}` }]) {
      const response = await postMessage(url, channel(), 'hello', headers as typeof AUTH);
      expect(response.status).toBe(401);
      expect(response.headers.get('x-shardfleet-proxy-error')).toBe('unauthorized');
    }
    const stats = await simulator.control.stats();
    expect(stats.rest.requests).toBe(0);
    expect(logs.join('\n')).not.toContain(PROXY_TOKEN);
  });
});

describe('forwarding', () => {
  it('creates the message with the bot token and passes status, body and headers through', async () => {
    const { url } = await proxy();
    const response = await postMessage(url, channel(), 'hello through the proxy');
    expect(response.status).toBe(200);
    const message = (await response.json()) as { id: string; content: string; channel_id: string };
    expect(message).toMatchObject({ content: 'hello through the proxy', channel_id: channel() });
    expect(response.headers.get('x-ratelimit-limit')).toBe('5');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('4');
    expect(response.headers.get('x-ratelimit-bucket')).toMatch(/^[0-9a-f]{32}$/);
    const created = await simulator.control.botMessages(channel());
    expect(created.map((each) => each.id)).toEqual([message.id]);

    const missing = await fetch(`${url}/api/v10/channels/1/nothing-here`, { headers: AUTH });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toEqual({ message: '404: Not Found', code: 0 });
  });

  it.each([
    ['a small file (read whole)', 10_000],
    ['a large file (streamed)', 300_000],
  ])('forwards a multipart upload of %s intact', async (_, size) => {
    const { url } = await proxy();
    const data = randomBytes(size);
    const form = new FormData();
    form.append(
      'payload_json',
      JSON.stringify({ content: 'a file', attachments: [{ id: 0, filename: 'data.bin' }] }),
    );
    form.append('files[0]', new Blob([data], { type: 'application/octet-stream' }), 'data.bin');
    const response = await fetch(`${url}/api/v10/channels/${channel()}/messages`, {
      method: 'POST',
      headers: AUTH,
      body: form,
    });
    expect(response.status).toBe(200);
    const message = (await response.json()) as { attachments: { size: number; sha256: string }[] };
    expect(message.attachments).toHaveLength(1);
    expect(message.attachments[0]).toMatchObject({
      size,
      sha256: createHash('sha256').update(data).digest('hex'),
    });
  });

  it('is usable by @discordjs/rest and the API of @discordjs/core', async () => {
    const { url } = await proxy();
    const rest = new REST({ api: `${url}/api`, authPrefix: 'Bearer' }).setToken(PROXY_TOKEN);
    const api = new API(rest);
    const me = await api.users.getCurrent();
    expect(me.bot).toBe(true);
    const sent = await api.channels.createMessage(channel(), { content: 'from @discordjs/core' });
    expect(sent.content).toBe('from @discordjs/core');
    expect((await simulator.control.botMessages(channel())).map((each) => each.content)).toEqual([
      'from @discordjs/core',
    ]);
  });
});

describe('rate limits', () => {
  it('returns a Discord 429 with its headers and waits out its Retry-After before the next request', async () => {
    const { url } = await proxy();
    await simulator.control.force429({ count: 1, retryAfterMs: 2_000, route: MESSAGES_ROUTE });
    const sentAt = Date.now();
    const limited = await postMessage(url, channel(), 'first');
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('2');
    expect(limited.headers.get('x-ratelimit-scope')).toBe('user');
    expect(limited.headers.get('x-shardfleet-proxy-ratelimit')).toBeNull();
    const next = await postMessage(url, channel(), 'second');
    expect(next.status).toBe(200);
    const [created] = await simulator.control.botMessages(channel());
    // The proxy held the second request until Discord's Retry-After had passed.
    expect(Date.parse(created?.timestamp ?? '')).toBeGreaterThanOrEqual(sentAt + 2_000);
    const stats = await simulator.control.stats();
    expect(stats.rest.ratelimited).toBe(1);
    expect(await metric(url, 'shardfleet_rest_ratelimited_total{scope="discord_user"}')).toBe(1);
  });

  it('answers 429 itself, marked as its own, when the wait would pass its bound', async () => {
    const { url } = await proxy({ queueTimeoutMs: 1_000 });
    await simulator.control.setRouteLimit(MESSAGES_ROUTE, 1, 60_000);
    expect((await postMessage(url, channel(), 'first')).status).toBe(200);
    const refused = await postMessage(url, channel(), 'second');
    expect(refused.status).toBe(429);
    expect(refused.headers.get('x-shardfleet-proxy-ratelimit')).toBe('true');
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(1);
    expect(await refused.json()).toMatchObject({ scope: 'bucket', global: false });
    const stats = await simulator.control.stats();
    expect(stats.rest).toMatchObject({ requests: 1, ratelimited: 0 });
    expect(await metric(url, 'shardfleet_rest_ratelimited_total{scope="bucket"}')).toBe(1);
  });

  it('lets interaction callbacks through while the global limit is used up', async () => {
    const direct = { authorization: `Bot ${BOT_TOKEN}`, 'content-type': 'application/json' };
    const bot = (await (await fetch(`${simulator.url}/api/v10/users/@me`, { headers: direct })).json()) as {
      id: string;
    };
    const registered = await fetch(`${simulator.url}/api/v10/applications/${bot.id}/commands`, {
      method: 'PUT',
      headers: direct,
      body: JSON.stringify([{ name: 'ping', description: 'Answers pong', type: 1 }]),
    });
    expect(registered.status).toBe(200);
    const { id, token } = await simulator.control.runCommand({ channelId: channel(), name: 'ping' });

    // One request per second, no waiting: the message takes the only global slot.
    const { url } = await proxy({ globalRateLimit: 1, queueTimeoutMs: 0 });
    expect((await postMessage(url, channel(), 'takes the global slot')).status).toBe(200);
    const callback = await fetch(`${url}/api/v10/interactions/${id}/${token}/callback`, {
      method: 'POST',
      headers: { ...AUTH, 'content-type': 'application/json' },
      body: JSON.stringify({ type: 4, data: { content: 'pong' } }),
    });
    expect(callback.status).toBe(204);
    expect((await simulator.control.interaction(id)).response).toMatchObject({ type: 4 });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain('route="/interactions/:id/:token/callback",status="204"} 1');
    expect(text).not.toContain(token);
  });

  it('stops forwarding at the invalid-request threshold and answers 503 saying why', async () => {
    const { url } = await proxy({ discordToken: 'a-revoked-token', invalidRequestLimit: 3 });
    for (let index = 0; index < 3; index++) {
      expect((await postMessage(url, channel(), 'x')).status).toBe(401);
    }
    const stopped = await postMessage(url, channel(), 'x');
    expect(stopped.status).toBe(503);
    expect(stopped.headers.get('x-shardfleet-proxy-error')).toBe('invalid-request-limit');
    expect(Number(stopped.headers.get('retry-after'))).toBeGreaterThan(500);
    const body = (await stopped.json()) as { message: string; resumes_at: string };
    expect(body.message).toMatch(/3 invalid requests .* within 10 minutes/);
    expect(Date.parse(body.resumes_at)).toBeGreaterThan(Date.now());
    expect((await simulator.control.stats()).rest).toMatchObject({ requests: 3, invalid: 3 });
    expect(await metric(url, 'shardfleet_rest_invalid_requests')).toBe(3);
  });
});

describe('operation', () => {
  it('answers 504 when Discord does not answer within the timeout', async () => {
    const silent: Server = createServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(async () => {
      silent.closeAllConnections();
      await new Promise((resolve) => silent.close(resolve));
    });
    const { port } = silent.address() as AddressInfo;
    const started = await startProxy(proxyConfig(`http://127.0.0.1:${port}/api`, { upstreamTimeoutMs: 300 }));
    cleanups.push(() => started.close());
    const response = await fetch(`${started.url}/api/v10/users/@me`, { headers: AUTH });
    expect(response.status).toBe(504);
    expect(response.headers.get('x-shardfleet-proxy-error')).toBe('upstream-timeout');
    expect(((await response.json()) as { message: string }).message).toContain('UPSTREAM_TIMEOUT_MS');
  });

  it('finishes requests in flight when it closes', async () => {
    const started = await startProxy(proxyConfig(`${simulator.url}/api`));
    await simulator.control.setRouteLimit(MESSAGES_ROUTE, 1, 1_500);
    expect((await postMessage(started.url, channel(), 'first')).status).toBe(200);
    // The second waits in the proxy for the bucket's reset.
    const waiting = postMessage(started.url, channel(), 'second');
    await waitUntil(async () => (await metric(started.url, 'shardfleet_rest_queued_requests')) === 1);
    const closed = started.close();
    expect((await waiting).status).toBe(200);
    await closed;
    expect((await simulator.control.botMessages(channel())).map((each) => each.content)).toEqual([
      'first',
      'second',
    ]);
  });

  it('serves health, readiness and metrics labelled by route template, never by id or token', async () => {
    const { url, logs } = await proxy();
    await postMessage(url, channel(), 'hello');
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready', limiter: 'standalone' });
    const text = await (await fetch(`${url}/metrics`)).text();
    expect(text).toContain(
      'shardfleet_rest_requests_total{method="POST",route="/channels/:id/messages",status="200"} 1',
    );
    expect(text).toContain(
      'shardfleet_rest_request_duration_seconds_count{route="/channels/:id/messages"} 1',
    );
    expect(text).toContain('shardfleet_rest_limiter_mode{mode="standalone"} 1');
    expect(text).not.toContain(channel());
    const logged = logs.join('\n');
    expect(logged).not.toContain(BOT_TOKEN);
    expect(logged).not.toContain(PROXY_TOKEN);
  });
});
