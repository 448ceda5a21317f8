import { createHash, randomBytes } from 'node:crypto';
import { DiscordAPIError, type RateLimitData, REST, RESTEvents } from '@discordjs/rest';
import { type APIMessage, Routes } from 'discord-api-types/v10';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '../../options.js';
import { type RunningSimulator, startSimulator } from '../../server.js';

const TOKEN = 'simulator-token';
const MESSAGES = 'POST /channels/{channel_id}/messages';

let sim: RunningSimulator;
const clients: REST[] = [];

/** Replaces the simulator of the test with one started with `options`. */
async function restart(options: Partial<SimulatorOptions>): Promise<void> {
  await sim.close();
  sim = await startSimulator(options);
}

beforeEach(async () => {
  sim = await startSimulator();
});

afterEach(async () => {
  for (const client of clients.splice(0)) {
    client.clearHashSweeper();
    client.clearHandlerSweeper();
  }
  await sim.close();
});

/** A real @discordjs/rest client against the simulator. */
function rest(
  token: string | null = TOKEN,
  options: Partial<ConstructorParameters<typeof REST>[0]> = {},
): REST {
  const client = new REST({ api: `${sim.url}/api`, ...options });
  if (token !== null) client.setToken(token);
  clients.push(client);
  return client;
}

function textChannel(guild = 0): string {
  const channel = sim.discord.population.guild(guild).channels.find((candidate) => candidate.type === 0);
  if (!channel) throw new Error('the guild has no text channel');
  return channel.id;
}

function api(path: string, init: RequestInit & { token?: string | null } = {}): Promise<Response> {
  const { token = TOKEN, headers, ...rest } = init;
  return fetch(`${sim.url}/api/v10${path}`, {
    ...rest,
    headers: {
      ...(token === null ? {} : { authorization: `Bot ${token}` }),
      ...(rest.body === undefined ? {} : { 'content-type': 'application/json' }),
      ...headers,
    },
  });
}

describe('REST routes through @discordjs/rest', () => {
  it('sends a message and reads it back', async () => {
    const client = rest();
    const channel = textChannel();
    const sent = (await client.post(Routes.channelMessages(channel), {
      body: { content: 'hello from discord.js', nonce: '42' },
    })) as APIMessage;
    expect(sent).toMatchObject({
      channel_id: channel,
      content: 'hello from discord.js',
      nonce: '42',
      author: { id: sim.discord.bot.id, bot: true },
      attachments: [],
      embeds: [],
    });

    const history = (await client.get(Routes.channelMessages(channel), {
      query: new URLSearchParams({ limit: '10' }),
    })) as APIMessage[];
    expect(history.map((message) => message.id)).toEqual([sent.id]);
    expect(sim.messaging.messages(channel).map((message) => message.content)).toEqual([
      'hello from discord.js',
    ]);
  });

  it('serves the gateway, the bot user and the application', async () => {
    const client = rest();
    expect(await client.get(Routes.gatewayBot())).toMatchObject({ url: sim.gatewayUrl, shards: 1 });
    expect(await rest(null).get(Routes.gateway(), { auth: false })).toEqual({ url: sim.gatewayUrl });
    expect(await client.get(Routes.user())).toMatchObject({ id: sim.discord.bot.id, bot: true });
    expect(await client.get(Routes.oauth2CurrentApplication())).toMatchObject({ id: sim.discord.bot.id });
  });

  it('pages history newest first with limit, before and after', async () => {
    const client = rest();
    const channel = textChannel();
    const ids: string[] = [];
    for (const content of ['one', 'two', 'three']) {
      ids.push(
        ((await client.post(Routes.channelMessages(channel), { body: { content } })) as APIMessage).id,
      );
    }
    const page = async (query: Record<string, string>) =>
      (
        (await client.get(Routes.channelMessages(channel), {
          query: new URLSearchParams(query),
        })) as APIMessage[]
      ).map((message) => message.content);
    expect(await page({ limit: '2' })).toEqual(['three', 'two']);
    expect(await page({ before: ids[2] as string })).toEqual(['two', 'one']);
    expect(await page({ after: ids[0] as string })).toEqual(['three', 'two']);
    await expect(page({ limit: '101' })).rejects.toMatchObject({ status: 400, code: 50_035 });
  });

  it('waits out a small bucket instead of being rate limited', async () => {
    sim.rateLimiter.setRouteLimit(MESSAGES, { limit: 2, windowMs: 1_000 });
    const client = rest();
    const channel = textChannel();
    const started = Date.now();
    const sent = await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        client.post(Routes.channelMessages(channel), { body: { content: `burst ${n}` } }),
      ),
    );
    const elapsed = Date.now() - started;

    expect(sent).toHaveLength(5);
    expect(sim.messaging.messages(channel)).toHaveLength(5);
    const stats = sim.rateLimiter.stats();
    expect(stats.ratelimited).toBe(0);
    expect(stats.byRoute[MESSAGES]).toEqual({ requests: 5, ratelimited: 0 });
    // Three windows of two: the client had to wait for two resets.
    expect(elapsed).toBeGreaterThanOrEqual(1_900);
  });

  it('honours a forced user-scope 429 and succeeds on the retry', async () => {
    sim.rateLimiter.force429({ count: 1, retryAfterMs: 600, scope: 'user', route: MESSAGES });
    const client = rest();
    const limited: RateLimitData[] = [];
    client.on(RESTEvents.RateLimited, (data) => limited.push(data));
    const channel = textChannel();
    const started = Date.now();
    const message = (await client.post(Routes.channelMessages(channel), {
      body: { content: 'after 429' },
    })) as APIMessage;

    expect(Date.now() - started).toBeGreaterThanOrEqual(550);
    expect(message.content).toBe('after 429');
    expect(sim.messaging.messages(channel)).toHaveLength(1);
    expect(sim.rateLimiter.stats()).toMatchObject({ ratelimited: 1, invalid: 1 });
    expect(sim.rateLimiter.stats().byRoute[MESSAGES]).toEqual({ requests: 2, ratelimited: 1 });
    expect(limited).toEqual([expect.objectContaining({ global: false })]);
  });

  it('honours a forced global 429: the client pauses every request', async () => {
    sim.rateLimiter.force429({ count: 1, retryAfterMs: 200, scope: 'global' });
    const client = rest();
    const limited: RateLimitData[] = [];
    client.on(RESTEvents.RateLimited, (data) => limited.push(data));
    const started = Date.now();
    expect(await client.get(Routes.user())).toMatchObject({ id: sim.discord.bot.id });
    // Retry-After is whole seconds, so the client waits at least one.
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
    expect(limited.some((data) => data.global)).toBe(true);
    expect(sim.rateLimiter.stats()).toMatchObject({ ratelimited: 1 });
  });

  it('rejects a bad token with DiscordAPIError 401 and counts it invalid', async () => {
    const error = await rest('not-the-token', { retries: 0 })
      .get(Routes.user())
      .catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(DiscordAPIError);
    expect(error).toMatchObject({
      status: 401,
      code: 0,
      rawError: { message: '401: Unauthorized', code: 0 },
    });
    expect(sim.rateLimiter.stats()).toMatchObject({ invalid: 1, ratelimited: 0 });
  });

  it('uploads a file intact through multipart', async () => {
    const data = randomBytes(300 * 1_024);
    const channel = textChannel();
    const message = (await rest().post(Routes.channelMessages(channel), {
      body: { content: 'with a file', attachments: [{ id: 0, description: 'random bytes' }] },
      files: [{ name: 'blob.bin', data, contentType: 'application/octet-stream' }],
    })) as APIMessage & { attachments: { sha256: string }[] };

    expect(message.content).toBe('with a file');
    expect(message.attachments).toEqual([
      expect.objectContaining({
        filename: 'blob.bin',
        description: 'random bytes',
        size: data.length,
        content_type: 'application/octet-stream',
        sha256: createHash('sha256').update(data).digest('hex'),
        url: expect.stringContaining(`/attachments/${channel}/`),
      }),
    ]);
    expect(sim.messaging.messages(channel)[0]?.attachments).toEqual(message.attachments);
  });

  it('accepts a message made only of a file, and refuses a file over the size limit with 413', async () => {
    const channel = textChannel();
    const client = rest(TOKEN, { retries: 0 });
    const onlyFile = (await client.post(Routes.channelMessages(channel), {
      files: [{ name: 'a.txt', data: Buffer.from('just a file') }],
    })) as APIMessage;
    expect(onlyFile.attachments).toHaveLength(1);

    await expect(
      client.post(Routes.channelMessages(channel), {
        files: [{ name: 'big.bin', data: Buffer.alloc(10 * 1_024 * 1_024 + 1) }],
      }),
    ).rejects.toMatchObject({ status: 413, code: 40_005 });
  });

  it('bulk-overwrites and lists application commands, and answers an interaction without a bot token', async () => {
    const client = rest();
    const applicationId = sim.discord.bot.id;
    const stored = (await client.put(Routes.applicationCommands(applicationId), {
      body: [{ name: 'ping', description: 'Replies pong', type: 1 }],
    })) as { id: string; name: string }[];
    expect(stored).toEqual([
      expect.objectContaining({ name: 'ping', application_id: applicationId, version: expect.any(String) }),
    ]);
    expect(await client.get(Routes.applicationCommands(applicationId))).toEqual(stored);

    const channel = textChannel();
    const { interaction } = sim.messaging.createInteraction({
      channelId: channel,
      name: 'ping',
      memberIndex: 1,
    });
    // Exempt from the global limit: use all of it up first.
    sim.rateLimiter.reset();
    sim.rateLimiter.setGlobalLimit(1);
    expect((await api('/users/@me')).status).toBe(200);
    expect((await api('/users/@me')).status).toBe(429);
    const answered = await rest(null).post(Routes.interactionCallback(interaction.id, interaction.token), {
      auth: false,
      body: { type: 4, data: { content: 'pong' } },
    });
    expect((answered as ArrayBuffer).byteLength).toBe(0);
    expect(sim.messaging.messages(channel).map((message) => message.content)).toEqual(['pong']);

    const second = sim.messaging.createInteraction({
      channelId: channel,
      name: 'ping',
      memberIndex: 2,
    }).interaction;
    const response = await api(`/interactions/${second.id}/${second.token}/callback?with_response=true`, {
      token: null,
      method: 'POST',
      body: JSON.stringify({ type: 4, data: { content: 'pong again' } }),
    });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      interaction: { id: second.id, type: 2, response_message_loading: false },
      resource: { type: 4, message: { content: 'pong again', interaction_metadata: { id: second.id } } },
    });
    expect(sim.rateLimiter.stats()).toMatchObject({ ratelimited: 1 });

    const again = await api(`/interactions/${second.id}/${second.token}/callback`, {
      token: null,
      method: 'POST',
      body: JSON.stringify({ type: 4, data: { content: 'twice' } }),
    });
    expect(again.status).toBe(400);
    expect(await again.json()).toMatchObject({ code: 40_060 });
  });

  it('answers a deferred interaction by editing @original, edits it again, and sends a follow-up', async () => {
    const client = rest();
    const applicationId = sim.discord.bot.id;
    await client.put(Routes.applicationCommands(applicationId), {
      body: [{ name: 'slow', description: 'Thinks first', type: 1 }],
    });
    const channel = textChannel();
    const { interaction } = sim.messaging.createInteraction({
      channelId: channel,
      name: 'slow',
      memberIndex: 1,
    });
    // Interaction webhooks authenticate with their token in the URL, as @discordjs/core calls them.
    const webhook = rest(null);
    const original = Routes.webhookMessage(applicationId, interaction.token, '@original');

    const early = await webhook
      .patch(original, { body: { content: 'too early' }, auth: false })
      .catch((error) => error);
    expect(early).toBeInstanceOf(DiscordAPIError);
    expect((early as DiscordAPIError).code).toBe(10_008);

    await webhook.post(Routes.interactionCallback(interaction.id, interaction.token), {
      body: { type: 5 },
      auth: false,
    });
    const posted = (await webhook.patch(original, {
      body: { content: 'done thinking' },
      auth: false,
    })) as APIMessage;
    expect(posted).toMatchObject({ content: 'done thinking', channel_id: channel, edited_timestamp: null });
    const edited = (await webhook.patch(original, {
      body: { content: 'edited' },
      auth: false,
    })) as APIMessage;
    expect(edited.id).toBe(posted.id);
    expect(edited.edited_timestamp).not.toBeNull();
    expect(((await webhook.get(original, { auth: false })) as APIMessage).content).toBe('edited');

    const followUp = (await webhook.post(Routes.webhook(applicationId, interaction.token), {
      body: { content: 'one more thing' },
      query: new URLSearchParams({ wait: 'true' }),
      auth: false,
    })) as APIMessage;
    expect(followUp.content).toBe('one more thing');
    expect(sim.messaging.messages(channel, { viaRest: true }).map((message) => message.content)).toEqual([
      'edited',
      'one more thing',
    ]);

    const unknown = await webhook
      .patch(Routes.webhookMessage(applicationId, 'not-a-token', '@original'), {
        body: { content: 'x' },
        auth: false,
      })
      .catch((error) => error);
    expect((unknown as DiscordAPIError).code).toBe(10_015);
  });

  it('validates command bodies and refuses another application with 403, counted invalid', async () => {
    const client = rest(TOKEN, { retries: 0 });
    await expect(
      client.put(Routes.applicationCommands(sim.discord.bot.id), {
        body: [{ name: 'Not Valid', description: 'x' }],
      }),
    ).rejects.toMatchObject({
      status: 400,
      code: 50_035,
      rawError: { errors: { 0: { name: expect.anything() } } },
    });
    await expect(client.put(Routes.applicationCommands('1234'), { body: [] })).rejects.toMatchObject({
      status: 403,
      code: 50_001,
    });
    expect(sim.rateLimiter.stats().invalid).toBe(1);
  });
});

describe('REST routes over plain HTTP', () => {
  it('answers 401 without a valid bot token, except on GET /gateway', async () => {
    for (const token of [null, 'wrong']) {
      const response = await api('/users/@me', { token });
      expect(response.status).toBe(401);
      expect(await response.json()).toEqual({ message: '401: Unauthorized', code: 0 });
    }
    const bearer = await api('/users/@me', { token: null, headers: { authorization: TOKEN } });
    expect(bearer.status).toBe(401);
    expect((await api('/gateway', { token: null })).status).toBe(200);
    expect(sim.rateLimiter.stats().invalid).toBe(3);
  });

  it('answers unknown routes with Discord 404', async () => {
    for (const path of ['/nope', '/channels/1/nothing', '/gateway/bot/extra']) {
      const response = await api(path);
      expect(response.status).toBe(404);
      expect(await response.json()).toEqual({ message: '404: Not Found', code: 0 });
    }
  });

  it('carries the bucket headers on every response and a Discord 429 once the bucket is empty', async () => {
    sim.rateLimiter.setRouteLimit(MESSAGES, { limit: 1, windowMs: 60_000 });
    const channel = textChannel();
    const send = () =>
      api(`/channels/${channel}/messages`, { method: 'POST', body: JSON.stringify({ content: 'x' }) });

    const first = await send();
    expect(first.status).toBe(200);
    const bucket = first.headers.get('x-ratelimit-bucket');
    expect(bucket).toMatch(/^[0-9a-f]{32}$/);
    expect(first.headers.get('x-ratelimit-limit')).toBe('1');
    expect(first.headers.get('x-ratelimit-remaining')).toBe('0');
    expect(Number(first.headers.get('x-ratelimit-reset-after'))).toBeCloseTo(60, 0);
    expect(Number(first.headers.get('x-ratelimit-reset')) * 1_000).toBeGreaterThan(Date.now() + 59_000);
    expect(first.headers.get('x-ratelimit-reset')).toMatch(/^\d+\.\d{3}$/);

    const second = await send();
    expect(second.status).toBe(429);
    expect(second.headers.get('x-ratelimit-bucket')).toBe(bucket);
    expect(second.headers.get('x-ratelimit-scope')).toBe('user');
    expect(second.headers.get('x-ratelimit-global')).toBeNull();
    expect(second.headers.get('retry-after')).toBe('60');
    const body = (await second.json()) as { retry_after: number };
    expect(body).toMatchObject({ message: 'You are being rate limited.', global: false });
    expect(body.retry_after).toBeGreaterThan(59);
    expect(body.retry_after).toBeLessThanOrEqual(60);

    // Another channel is another bucket (major parameter).
    const other = await api(`/channels/${textChannel(1)}/messages`, {
      method: 'POST',
      body: JSON.stringify({ content: 'y' }),
    });
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-bucket')).toBe(bucket);
  });

  it('answers shared-scope 429s without counting them invalid', async () => {
    sim.rateLimiter.force429({ count: 2, retryAfterMs: 2_500, scope: 'shared', route: 'GET /users/@me' });
    for (let attempt = 0; attempt < 2; attempt++) {
      const response = await api('/users/@me');
      expect(response.status).toBe(429);
      expect(response.headers.get('x-ratelimit-scope')).toBe('shared');
      expect(response.headers.get('retry-after')).toBe('3');
      expect(await response.json()).toEqual({
        message: 'The resource is being rate limited.',
        retry_after: 2.5,
        global: false,
      });
    }
    expect((await api('/users/@me')).status).toBe(200);
    expect(sim.rateLimiter.stats()).toMatchObject({ ratelimited: 2, invalid: 0 });
  });

  it('enforces the global limit: at most globalLimit requests served in any second, the rest 429 global', async () => {
    const limit = 20;
    const fired = 60;
    sim.rateLimiter.setGlobalLimit(limit);
    const started = Date.now();
    const responses = await Promise.all(Array.from({ length: fired }, () => api('/users/@me')));
    const elapsed = Date.now() - started;
    const served = responses.filter((response) => response.status === 200);
    const refused = responses.filter((response) => response.status === 429);

    expect(served.length + refused.length).toBe(fired);
    expect(refused.length).toBeGreaterThan(0);
    // Any stretch of `elapsed` ms holds floor(elapsed / 1000) + 1 one-second windows of `limit` each.
    const windows = Math.floor(elapsed / 1_000) + 1;
    expect(served.length).toBeGreaterThanOrEqual(limit);
    expect(served.length).toBeLessThanOrEqual(limit * windows);
    for (const response of refused) {
      expect(response.headers.get('x-ratelimit-scope')).toBe('global');
      expect(response.headers.get('x-ratelimit-global')).toBe('true');
      expect(Number(response.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      const body = (await response.json()) as { global: boolean; retry_after: number };
      expect(body.global).toBe(true);
      expect(body.retry_after).toBeGreaterThan(0);
      expect(body.retry_after).toBeLessThanOrEqual(1);
    }
    const stats = sim.rateLimiter.stats();
    expect(stats.ratelimited).toBe(refused.length);
    // peakPerSecond counts arrivals, so a client that ignores the limit shows above it.
    expect(stats.peakPerSecond).toBeGreaterThanOrEqual(Math.ceil(fired / windows));
    expect(stats.peakPerSecond).toBeGreaterThan(limit);
  });

  it('bans with Cloudflare error 1015 once invalid requests reach the limit', async () => {
    await restart({ invalidRequestLimit: 3 });
    for (let attempt = 0; attempt < 3; attempt++)
      expect((await api('/users/@me', { token: 'wrong' })).status).toBe(401);

    for (const path of ['/users/@me', '/gateway', '/nope']) {
      const banned = await api(path);
      expect(banned.status).toBe(429);
      expect(banned.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await banned.text()).toBe('error code: 1015');
      expect(Number(banned.headers.get('retry-after'))).toBeGreaterThan(590);
      expect(banned.headers.get('x-ratelimit-scope')).toBeNull();
    }
    expect(sim.rateLimiter.stats()).toMatchObject({ invalid: 3, banned: 3 });
    sim.rateLimiter.reset();
    expect((await api('/users/@me')).status).toBe(200);
  });

  it('validates message bodies as Discord does', async () => {
    const channel = textChannel();
    const post = async (body: string) => {
      const response = await api(`/channels/${channel}/messages`, { method: 'POST', body });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await post(JSON.stringify({ content: '   ' }))).toEqual({
      status: 400,
      body: { code: 50_006, message: 'Cannot send an empty message' },
    });
    expect(
      await post(
        JSON.stringify({
          content: 'x'.repeat(2_001),
          embeds: Array.from({ length: 11 }, () => ({ title: 't' })),
        }),
      ),
    ).toEqual({
      status: 400,
      body: {
        code: 50_035,
        message: 'Invalid Form Body',
        errors: {
          content: {
            _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 2000 or fewer in length.' }],
          },
          embeds: { _errors: [{ code: 'BASE_TYPE_MAX_LENGTH', message: 'Must be 10 or fewer in length.' }] },
        },
      },
    });
    expect((await post(JSON.stringify({ content: 'x'.repeat(2_000) }))).status).toBe(200);
    expect(await post('{not json')).toEqual({
      status: 400,
      body: { code: 50_109, message: 'The request body contains invalid JSON.' },
    });
    const unknown = await api('/channels/1/messages', {
      method: 'POST',
      body: JSON.stringify({ content: 'x' }),
    });
    expect(unknown.status).toBe(404);
    expect(await unknown.json()).toEqual({ message: 'Unknown Channel', code: 10_003 });
  });
});
