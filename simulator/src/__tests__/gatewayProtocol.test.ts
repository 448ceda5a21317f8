import { shardForGuild } from '@shardfleet/protocol';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '../options.js';
import type { SimulatorControl } from '../control/SimulatorControl.js';
import { type RunningSimulator, startSimulator } from '../server.js';
import { RawGatewayClient, type ReceivedPayload, waitUntil } from './gatewayClient.js';

const TOKEN = 'simulator-token';
let simulator: RunningSimulator | null = null;
const clients: RawGatewayClient[] = [];

async function start(options: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  simulator = await startSimulator({ identifyIntervalMs: 0, ...options });
  return simulator;
}

function connect(query = '?v=10&encoding=json'): RawGatewayClient {
  const client = new RawGatewayClient(`${simulator?.gatewayUrl}/${query}`);
  clients.push(client);
  return client;
}

const sim = () => simulator?.control as SimulatorControl;
const stats = () => sim().stats();

async function control(path: string, body: unknown): Promise<Response> {
  return fetch(`${simulator?.url}/_sim${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

async function identified(client: RawGatewayClient, extra: Record<string, unknown> = {}) {
  await client.waitFor((p) => p.op === 10);
  client.identify(TOKEN, extra);
  return client.waitFor((p) => p.t === 'READY');
}

/** Resumes the session of a READY on a new connection and returns the op 9 answer's `d`. */
async function resumeRefusal(ready: ReceivedPayload): Promise<unknown> {
  const resumed = connect();
  await resumed.waitFor((p) => p.op === 10);
  resumed.send({
    op: 6,
    d: { token: TOKEN, session_id: (ready.d as { session_id: string }).session_id, seq: ready.s },
  });
  return (await resumed.waitFor((p) => p.op === 9)).d;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await simulator?.close();
  simulator = null;
});

describe('gateway handshake', () => {
  it('sends HELLO with the configured interval and acknowledges heartbeats', async () => {
    await start({ heartbeatIntervalMs: 1_234 });
    const client = connect();
    const hello = await client.waitFor((p) => p.op === 10);
    expect(hello.d).toMatchObject({ heartbeat_interval: 1_234 });
    client.send({ op: 1, d: null });
    await client.waitFor((p) => p.op === 11);
  });

  it('READY lists exactly the shard guilds as unavailable, then a GUILD_CREATE for each, numbered from 1', async () => {
    await start({ guilds: 50 });
    const client = connect();
    const ready = await identified(client, { shard: [1, 3] });
    const guildIds = (ready.d as { guilds: { id: string; unavailable: boolean }[] }).guilds;
    expect(guildIds.length).toBeGreaterThan(5);
    for (const guild of guildIds) {
      expect(guild.unavailable).toBe(true);
      expect(shardForGuild(guild.id, 3)).toBe(1);
    }
    const expected = await sim().guilds({ shard: 1, shardCount: 3 });
    expect(guildIds.map((g) => g.id).sort()).toEqual([...expected].sort());
    await waitUntil(() => (client.dispatches('GUILD_CREATE').length === guildIds.length ? true : undefined));
    expect(ready.s).toBe(1);
    expect(client.dispatches().map((p) => p.s)).toEqual(client.dispatches().map((_, i) => i + 1));
    expect(ready.d).toMatchObject({ shard: [1, 3], resume_gateway_url: simulator?.gatewayUrl });
  });

  it("streams a shard's GUILD_CREATEs over turns of the event loop, so another shard's identify is answered meanwhile", async () => {
    await start({ guilds: 4_000, maxConcurrency: 2 });
    const [first, second] = [connect(), connect()];
    await Promise.all([first, second].map((client) => client.waitFor((p) => p.op === 10)));
    first.identify(TOKEN, { shard: [0, 2] });
    second.identify(TOKEN, { shard: [1, 2] });
    const [firstReady] = await Promise.all(
      [first, second].map((client) => client.waitFor((p) => p.t === 'READY')),
    );
    const firstGuilds = (firstReady!.d as { guilds: unknown[] }).guilds.length;
    expect(firstGuilds).toBeGreaterThan(1_500);
    await waitUntil(
      () => (first.dispatches('GUILD_CREATE').length === firstGuilds ? true : undefined),
      20_000,
    );
    const ledger = await sim().ledger();
    const secondReady = ledger.findIndex((entry) => entry.shard === 1 && entry.t === 'READY');
    const firstLastGuild = ledger.findLastIndex((entry) => entry.shard === 0 && entry.t === 'GUILD_CREATE');
    // Sent all at once, shard 0's GUILD_CREATEs would all precede shard 1's READY.
    expect(secondReady).toBeGreaterThan(-1);
    expect(secondReady).toBeLessThan(firstLastGuild);
  });

  it('closes a connection that stops heartbeating with 4009 and keeps the session resumable', async () => {
    await start({ heartbeatIntervalMs: 200 });
    const client = connect();
    const ready = await identified(client);
    expect(await client.waitForClose(10_000)).toBe(4009);
    const sessionId = (ready.d as { session_id: string }).session_id;
    const again = connect();
    await again.waitFor((p) => p.op === 10);
    again.send({ op: 6, d: { token: TOKEN, session_id: sessionId, seq: ready.s } });
    await again.waitFor((p) => p.t === 'RESUMED');
  });

  it('asks for a heartbeat with a server-sent op 1 on demand', async () => {
    await start();
    const client = connect();
    await identified(client);
    await sim().requestHeartbeat(0);
    await client.waitFor((p) => p.op === 1);
  });
});

describe('close codes', () => {
  it.each([
    ['an API version other than 10', '?v=9&encoding=json', null, 4012],
    ['an unknown opcode', '?v=10', { op: 99, d: null }, 4001],
    ['a malformed frame', '?v=10', 'this is not json', 4002],
    ['a payload over 4096 bytes', '?v=10', { op: 1, d: 'x'.repeat(5_000) }, 4002],
    [
      'a command before IDENTIFY',
      '?v=10',
      { op: 3, d: { status: 'online', activities: [], since: null, afk: false } },
      4003,
    ],
  ])('closes on %s', async (_name, query, payload, code) => {
    await start();
    const client = connect(query);
    if (payload !== null) {
      await client.waitFor((p) => p.op === 10);
      client.send(payload);
    }
    expect(await client.waitForClose()).toBe(code);
  });

  it.each([
    ['a bad token', { token: 'wrong' }, 4004],
    ['a shard id out of range', { shard: [2, 2] }, 4010],
    ['invalid intent bits', { intents: 1 << 30 }, 4013],
  ])('closes an IDENTIFY with %s', async (_name, extra, code) => {
    await start();
    const client = connect();
    await client.waitFor((p) => p.op === 10);
    client.send({ op: 2, d: { token: TOKEN, intents: 513, properties: {}, ...extra } });
    expect(await client.waitForClose()).toBe(code);
  });

  it('closes with 4014 when a privileged intent is not approved', async () => {
    await start({ privilegedIntents: 0 });
    const client = connect();
    await client.waitFor((p) => p.op === 10);
    client.identify(TOKEN, { intents: 1 << 15 });
    expect(await client.waitForClose()).toBe(4014);
  });

  it('closes with 4010 when a large bot uses a shard count off its assigned multiple', async () => {
    await start({ guilds: 160_000, maxConcurrency: 16 });
    const off = connect();
    await off.waitFor((p) => p.op === 10);
    off.identify(TOKEN, { shard: [0, 170] });
    expect(await off.waitForClose()).toBe(4010);
    expect(off.closeReason).toMatch(/multiple of 16/);
    await identified(connect(), { shard: [0, 176] });
  });

  it('closes with 4011 when a shard would hold more than 2500 guilds', async () => {
    await start({ guilds: 2_600 });
    const client = connect();
    await client.waitFor((p) => p.op === 10);
    client.identify(TOKEN, { shard: [0, 1] });
    expect(await client.waitForClose()).toBe(4011);
  });

  it('closes a second IDENTIFY with 4005', async () => {
    await start();
    const client = connect();
    await identified(client);
    client.identify(TOKEN);
    expect(await client.waitForClose()).toBe(4005);
  });

  it('closes with 4008 past the send limit', async () => {
    await start({ sendLimit: 5 });
    const client = connect();
    await client.waitFor((p) => p.op === 10);
    for (let i = 0; i < 6; i++) client.send({ op: 1, d: null });
    expect(await client.waitForClose()).toBe(4008);
  });
});

describe('identify limits', () => {
  it('answers an identify that comes too soon for its bucket with op 9 and counts a violation', async () => {
    await start({ maxConcurrency: 2, identifyIntervalMs: 60_000, guilds: 10 });
    const first = connect();
    await identified(first, { shard: [0, 4] });
    const otherBucket = connect();
    await identified(otherBucket, { shard: [1, 4] });
    const sameBucket = connect();
    await sameBucket.waitFor((p) => p.op === 10);
    sameBucket.identify(TOKEN, { shard: [2, 4] });
    expect((await sameBucket.waitFor((p) => p.op === 9)).d).toBe(false);
    const after = await stats();
    expect(after.violations).toBe(1);
    expect(after.shards['2']?.violations).toBe(1);
    expect(after.identifies).toBe(2);
  });

  it('counts the most connections a shard had open at once', async () => {
    await start({ guilds: 4 });
    await identified(connect(), { shard: [0, 2] });
    await identified(connect(), { shard: [1, 2] });
    expect((await stats()).shards['0']?.peakConnections).toBe(1);
    await identified(connect(), { shard: [0, 2] });
    const after = await stats();
    expect(after.shards['0']?.peakConnections).toBe(2);
    expect(after.shards['1']?.peakConnections).toBe(1);
  });

  it('decrements the session start limit and, past zero, ends every session and resets the token', async () => {
    await start({ sessionLimit: 2 });
    const bot = async () =>
      (await (
        await fetch(`${simulator?.url}/api/v10/gateway/bot`, { headers: { authorization: `Bot ${TOKEN}` } })
      ).json()) as any;
    expect((await bot()).session_start_limit).toMatchObject({ total: 2, remaining: 2 });
    const first = connect();
    await identified(first);
    const second = connect();
    await identified(second);
    expect((await bot()).session_start_limit.remaining).toBe(0);
    const third = connect();
    await third.waitFor((p) => p.op === 10);
    third.identify(TOKEN);
    expect(await third.waitForClose()).toBe(4004);
    expect(await first.waitForClose()).toBe(4004);
    expect(await second.waitForClose()).toBe(4004);
    const me = () =>
      fetch(`${simulator?.url}/api/v10/users/@me`, { headers: { authorization: `Bot ${TOKEN}` } });
    expect((await me()).status).toBe(401);
    await sim().reset();
    expect((await me()).status).toBe(200);
    expect(await stats()).toMatchObject({ identifies: 0, tokenResets: 0, sessionStartRemaining: 2 });
    await identified(connect());
  });
});

describe('resume', () => {
  it('replays what the client missed, then RESUMED, with no sequence gap', async () => {
    await start({ guilds: 3 });
    const client = connect();
    const ready = await identified(client);
    const sessionId = (ready.d as { session_id: string }).session_id;
    await waitUntil(() => (client.dispatches('GUILD_CREATE').length === 3 ? true : undefined));
    const lastSeen = Math.max(...client.dispatches().map((p) => p.s as number));
    client.terminate();
    await waitUntil(
      async () => ((await stats()).connections === 0 ? true : undefined),
      5_000,
      'the connection to drop',
    );
    for (let i = 0; i < 5; i++) {
      expect(await sim().dispatch({ t: 'TEST_EVENT', d: { n: i }, shard: 0 })).toMatchObject({
        shard: 0,
        seq: lastSeen + 1 + i,
      });
    }
    const resumed = connect();
    await resumed.waitFor((p) => p.op === 10);
    resumed.send({ op: 6, d: { token: TOKEN, session_id: sessionId, seq: lastSeen } });
    await resumed.waitFor((p) => p.t === 'RESUMED');
    const seqs = resumed.dispatches().map((p) => p.s);
    expect(seqs).toEqual([
      lastSeen + 1,
      lastSeen + 2,
      lastSeen + 3,
      lastSeen + 4,
      lastSeen + 5,
      lastSeen + 6,
    ]);
    expect(resumed.dispatches('TEST_EVENT').map((p) => (p.d as { n: number }).n)).toEqual([0, 1, 2, 3, 4]);
    const after = await stats();
    expect(after.resumes).toBe(1);
    expect(after.identifies).toBe(1);
    const ledger = await sim().ledger({ shard: 0, t: 'TEST_EVENT' });
    expect(ledger.map((entry) => entry.delivered)).toEqual([true, true, true, true, true]);
  });

  it('answers op 9 false when the missed dispatches are outside the replay window', async () => {
    await start({ guilds: 1, replayWindow: 3 });
    const client = connect();
    const ready = await identified(client);
    client.terminate();
    await waitUntil(async () => ((await stats()).connections === 0 ? true : undefined));
    for (let i = 0; i < 5; i++) await sim().dispatch({ t: 'TEST_EVENT', d: {}, shard: 0 });
    expect(await resumeRefusal(ready)).toBe(false);
  });

  it('forgets a session closed with 1000 by the client', async () => {
    await start({ guilds: 1 });
    const client = connect();
    const ready = await identified(client);
    client.close(1000);
    await client.waitForClose();
    expect(await resumeRefusal(ready)).toBe(false);
  });

  it('sends op 7 and op 9 on demand', async () => {
    await start({ guilds: 1 });
    const client = connect();
    await identified(client);
    await sim().reconnect(0);
    await client.waitFor((p) => p.op === 7);
    await sim().invalidate(0, true);
    expect((await client.waitFor((p) => p.op === 9)).d).toBe(true);
    await expect(sim().reconnect(5)).rejects.toMatchObject({ status: 409, message: /^shard: 5 has no open/ });
  });
});

describe('commands', () => {
  it('records commands and answers REQUEST_GUILD_MEMBERS with chunks of 1000 and the nonce', async () => {
    await start({ guilds: 400, seed: 7 });
    const client = connect();
    await identified(client);
    let big: { id: string; member_count: number } | undefined;
    for (const id of await sim().guilds()) {
      const guild = await sim().guild(id);
      if (guild.member_count > 1_000) {
        big = guild;
        break;
      }
    }
    expect(big).toBeDefined();
    const guild = big as { id: string; member_count: number };
    client.send({ op: 8, d: { guild_id: guild.id, query: '', limit: 0, nonce: 'n-1' } });
    const chunkCount = Math.ceil(guild.member_count / 1_000);
    const chunks = await waitUntil(() => {
      const received = client.dispatches('GUILD_MEMBERS_CHUNK');
      return received.length === chunkCount ? received : undefined;
    });
    const members = chunks.flatMap((chunk) => (chunk.d as { members: { user: { id: string } }[] }).members);
    expect(members).toHaveLength(guild.member_count);
    expect(new Set(members.map((m) => m.user.id)).size).toBe(guild.member_count);
    for (const [index, chunk] of chunks.entries()) {
      expect(chunk.d).toMatchObject({
        guild_id: guild.id,
        chunk_index: index,
        chunk_count: chunkCount,
        nonce: 'n-1',
      });
    }
    client.send({ op: 8, d: { guild_id: guild.id, query: '', limit: 0, nonce: 'n-2' } });
    const limited = await client.waitFor((p) => p.t === 'RATE_LIMITED');
    expect(limited.d).toMatchObject({ opcode: 8, meta: { guild_id: guild.id, nonce: 'n-2' } });

    client.send({
      op: 3,
      d: { since: null, activities: [{ name: 'tests', type: 0 }], status: 'idle', afk: false },
    });
    const recorded = await waitUntil(async () => {
      const commands = await sim().commands({ shard: 0, op: 3 });
      return commands.length === 1 ? commands : undefined;
    });
    expect(recorded[0]?.d).toMatchObject({ status: 'idle' });
    expect((await stats()).shards['0']?.commands).toBe(3);
  });
});

describe('control API', () => {
  it('answers a bad body with 400 naming the field', async () => {
    await start();
    const response = await control('/disconnect', { shard: 'one' });
    expect(response.status).toBe(400);
    expect(((await response.json()) as { error: string }).error).toMatch(/^shard: /);
    const dispatch = await control('/dispatch', { t: 'TEST_EVENT', d: { guild_id: 'abc' } });
    expect(dispatch.status).toBe(400);
    expect(((await dispatch.json()) as { error: string }).error).toMatch(/^d\.guild_id: /);
    const guilds = await control('/guilds', { count: -1 });
    expect(((await guilds.json()) as { error: string }).error).toMatch(/^count: /);
  });

  it('changes the guild population and the recommendation at run time', async () => {
    await start({ guilds: 1_000, maxConcurrency: 4 });
    const gatewayBot = async () =>
      (await (
        await fetch(`${simulator?.url}/api/v10/gateway/bot`, { headers: { authorization: `Bot ${TOKEN}` } })
      ).json()) as { shards: number };
    expect((await gatewayBot()).shards).toBe(4);
    await sim().setGuildCount(5_000);
    expect((await gatewayBot()).shards).toBe(8);
  });
});
