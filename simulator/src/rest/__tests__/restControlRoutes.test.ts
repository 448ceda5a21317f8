import type { AddressInfo } from 'node:net';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DefaultSimulatorOptions } from '../../options.js';
import { Messaging } from '../../world/Messaging.js';
import { SimulatedDiscord } from '../../world/SimulatedDiscord.js';
import { RestRateLimiter } from '../RestRateLimiter.js';
import { restControlRoutes } from '../restControlRoutes.js';
import { restRoutes } from '../restRoutes.js';

const MESSAGES = 'POST /channels/{channel_id}/messages';

let app: FastifyInstance;
let url: string;
let discord: SimulatedDiscord;

/** The REST routes and their control routes on one port, composed as the simulator composes them. */
beforeEach(async () => {
  discord = new SimulatedDiscord({ ...DefaultSimulatorOptions });
  const messaging = new Messaging(discord);
  const rateLimiter = new RestRateLimiter({ globalLimit: 50, invalidRequestLimit: 10_000 });
  app = Fastify();
  await app.register(restRoutes, { prefix: '/api/v10', discord, messaging, rateLimiter });
  await app.register(restControlRoutes, { prefix: '/_sim', rateLimiter });
  await app.listen({ host: '127.0.0.1', port: 0 });
  url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  discord.gatewayUrl = url.replace('http', 'ws');
});

afterEach(() => app.close());

async function control(path: string, body: unknown): Promise<{ status: number; body: any }> {
  const response = await fetch(`${url}/_sim${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: response.status, body: await response.json() };
}

function api(path: string, init: RequestInit = {}): Promise<Response> {
  return fetch(`${url}/api/v10${path}`, {
    ...init,
    headers: { authorization: 'Bot simulator-token', 'content-type': 'application/json' },
  });
}

function textChannel(): string {
  return (discord.population.guild(0).channels.find((channel) => channel.type === 0) as { id: string }).id;
}

describe('POST /_sim/ratelimits', () => {
  it("changes a route's bucket, and the responses report it", async () => {
    const changed = await control('/ratelimits', { route: MESSAGES, limit: 2, reset_after_ms: 1_500 });
    expect(changed.status).toBe(200);
    expect(changed.body.routes[MESSAGES]).toEqual({ limit: 2, reset_after_ms: 1_500 });

    const send = () =>
      api(`/channels/${textChannel()}/messages`, { method: 'POST', body: '{"content":"x"}' });
    const first = await send();
    expect(first.headers.get('x-ratelimit-limit')).toBe('2');
    expect(first.headers.get('x-ratelimit-reset-after')).toBe('1.500');
    expect((await send()).status).toBe(200);
    expect((await send()).status).toBe(429);
  });

  it('changes the global limit', async () => {
    expect((await control('/ratelimits', { global: 2 })).body.global).toBe(2);
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 3; attempt++) statuses.push((await api('/users/@me')).status);
    expect(statuses).toEqual([200, 200, 429]);
    expect(await (await fetch(`${url}/_sim/ratelimits`)).json()).toMatchObject({ global: 2 });
  });

  it.each([
    [{ route: 'GET /nope', limit: 1, reset_after_ms: 1 }, /^route: expected a route template/],
    [{ route: MESSAGES }, /limit: required with route; reset_after_ms: required with route/],
    [{ route: MESSAGES, limit: 0, reset_after_ms: 100 }, /^limit: /],
    [{ route: MESSAGES, limit: 1, reset_after_ms: 'soon' }, /^reset_after_ms: /],
    [{}, /^route: expected route \(with limit and reset_after_ms\) or global/],
    [{ global: 0 }, /^global: /],
    [{ global: 1.5 }, /^global: /],
    [[1, 2], /^body: /],
  ])('answers 400 naming the field for %j', async (body, error) => {
    const answer = await control('/ratelimits', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(error);
  });

  it('answers 400 for a body that is not JSON', async () => {
    const answer = await control('/ratelimits', '{oops');
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(/^body: /);
  });
});

describe('POST /_sim/force-429', () => {
  it('makes the next matching requests answer 429 in the given scope', async () => {
    const forced = await control('/force-429', {
      count: 2,
      retry_after_ms: 1_500,
      scope: 'global',
      route: 'GET /users/@me',
    });
    expect(forced).toEqual({ status: 200, body: { pending: 2 } });
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await api('/users/@me');
      expect(response.status).toBe(429);
      expect(response.headers.get('x-ratelimit-global')).toBe('true');
      expect(response.headers.get('retry-after')).toBe('2');
      expect(await response.json()).toEqual({
        message: 'You are being rate limited.',
        retry_after: 1.5,
        global: true,
      });
    }
    expect((await api('/users/@me')).status).toBe(200);
  });

  it('defaults to one user-scope 429 on any route under the global limit', async () => {
    expect((await control('/force-429', { retry_after_ms: 100 })).body).toEqual({ pending: 1 });
    const response = await api('/gateway/bot');
    expect(response.status).toBe(429);
    expect(response.headers.get('x-ratelimit-scope')).toBe('user');
    expect(response.headers.get('x-ratelimit-remaining')).toBe('0');
  });

  it.each([
    [{ retry_after_ms: 100, scope: 'everyone' }, /^scope: /],
    [{ retry_after_ms: 100, count: 0 }, /^count: /],
    [{ count: 1 }, /^retry_after_ms: /],
    [{ retry_after_ms: -1 }, /^retry_after_ms: /],
    [{ retry_after_ms: 100, route: '/users/@me' }, /^route: expected a route template/],
  ])('answers 400 naming the field for %j', async (body, error) => {
    const answer = await control('/force-429', body);
    expect(answer.status).toBe(400);
    expect(answer.body.error).toMatch(error);
  });
});
