import { REST } from '@discordjs/rest';
import { CompressionMethod, WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import { shardForGuild } from '@shardfleet/protocol';
import { GatewayIntentBits } from 'discord-api-types/v10';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '../options.js';
import type { SimulatorControl } from '../control/SimulatorControl.js';
import { type RunningSimulator, startSimulator } from '../server.js';
import { waitUntil } from './gatewayClient.js';

const TOKEN = 'simulator-token';
let simulator: RunningSimulator | null = null;
let manager: WebSocketManager | null = null;

interface Dispatch {
  shardId: number;
  t: string;
  s: number;
  d: any;
}

async function start(options: Partial<SimulatorOptions>): Promise<RunningSimulator> {
  simulator = await startSimulator(options);
  return simulator;
}

function rest(token = TOKEN): REST {
  return new REST({ api: `${simulator?.url}/api` }).setToken(token);
}

/** A real @discordjs/ws manager against the simulator, recording every dispatch per shard. */
function createManager(options: Partial<ConstructorParameters<typeof WebSocketManager>[0]> = {}) {
  const dispatches: Dispatch[] = [];
  const ready = new Set<number>();
  const resumed: number[] = [];
  const closes: { shardId: number; code: number }[] = [];
  manager = new WebSocketManager({
    token: TOKEN,
    intents: GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages,
    rest: rest(),
    ...options,
  });
  manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
    dispatches.push({ shardId, t: payload.t, s: payload.s, d: payload.d });
  });
  manager.on(WebSocketShardEvents.Ready, (_payload, shardId) => ready.add(shardId));
  manager.on(WebSocketShardEvents.Resumed, (shardId) => resumed.push(shardId));
  manager.on(WebSocketShardEvents.Closed, (code, shardId) => closes.push({ shardId, code }));
  manager.on(WebSocketShardEvents.Error, () => {});
  return { manager, dispatches, ready, resumed, closes };
}

const sim = () => simulator?.control as SimulatorControl;

function expectContiguous(seqs: number[]): void {
  const sorted = [...new Set(seqs)].sort((a, b) => a - b);
  expect(sorted[0]).toBe(1);
  expect(sorted).toEqual(sorted.map((_, i) => i + 1));
}

afterEach(async () => {
  await manager?.destroy({ code: 1000 });
  manager = null;
  await simulator?.close();
  simulator = null;
});

describe('@discordjs/ws against the simulator', () => {
  it('4 shards with max_concurrency 2 all reach READY with zero violations, each with exactly its guilds', async () => {
    await start({ guilds: 4_000, maxConcurrency: 2 });
    const { manager: ws, dispatches, ready } = createManager();
    await ws.connect();
    expect(await ws.getShardCount()).toBe(4);
    await waitUntil(() => (ready.size === 4 ? true : undefined), 20_000, 'four READY shards');
    const stats = await sim().stats();
    expect(stats.violations).toBe(0);
    expect(stats.identifies).toBe(4);
    for (let shard = 0; shard < 4; shard++) {
      const expected = await sim().guilds({ shard, shardCount: 4 });
      expect(expected.length).toBeGreaterThan(800);
      const received = await waitUntil(() => {
        const ids = dispatches
          .filter((d) => d.shardId === shard && d.t === 'GUILD_CREATE')
          .map((d) => d.d.id as string);
        return ids.length >= expected.length ? ids : undefined;
      });
      expect(received.sort()).toEqual([...expected].sort());
      for (const id of received) expect(shardForGuild(id, 4)).toBe(shard);
    }
  }, 40_000);

  it('a forced close 4000 ends in RESUMED, with the missed events replayed and no sequence gap', async () => {
    await start({ guilds: 20, eventRate: 1_000 });
    const { manager: ws, dispatches, ready, resumed } = createManager();
    await ws.connect();
    await waitUntil(() => (ready.size === 1 ? true : undefined));
    await waitUntil(() =>
      dispatches.filter((d) => d.t === 'MESSAGE_CREATE').length > 20 ? true : undefined,
    );
    expect(await sim().disconnect(0, 4000)).toEqual({ closed: 1 });
    await waitUntil(() => (resumed.length === 1 ? true : undefined), 10_000, 'RESUMED');
    const afterResume = dispatches.length;
    await waitUntil(() => (dispatches.length > afterResume + 20 ? true : undefined));
    await sim().setTraffic(0);
    const stats = await sim().stats();
    expect(stats.identifies).toBe(1);
    expect(stats.resumes).toBe(1);
    const shard = stats.shards['0']!;
    expect(shard.replayed).toBeGreaterThan(0);
    const lastSeq = shard.seq;
    await waitUntil(() => (dispatches.some((d) => d.s === lastSeq) ? true : undefined));
    expectContiguous(dispatches.map((d) => d.s));
    const ledger = await sim().ledger({ shard: 0, t: 'MESSAGE_CREATE' });
    const seen = new Set(dispatches.filter((d) => d.t === 'MESSAGE_CREATE').map((d) => d.d.id as string));
    expect(ledger.filter((entry) => !seen.has(entry.id as string))).toEqual([]);
  }, 30_000);

  it('a bad token ends in close 4004 and no retry', async () => {
    await start({ guilds: 5 });
    const { manager: ws, closes } = createManager({
      token: 'not-the-token',
      rest: rest(TOKEN),
      shardCount: 1,
    });
    await ws.connect().catch(() => undefined);
    await waitUntil(() => (closes.length > 0 ? true : undefined), 10_000, 'the close');
    expect(closes[0]?.code).toBe(4004);
    const stats = await sim().stats();
    expect(stats.identifies).toBe(0);
    expect(stats.connections).toBe(0);
    // No reconnect follows: discord.js would have reconnected within its 500 ms retry delay.
    await expect(
      waitUntil(
        async () => (((await sim().stats()).shards['0']?.closes['4004'] ?? 0) > 1 ? true : undefined),
        2_000,
        'a second attempt',
      ),
    ).rejects.toThrow(/timed out/);
  }, 20_000);

  it('zlib-stream transport compression works end to end', async () => {
    await start({ guilds: 30, eventRate: 100 });
    const { manager: ws, dispatches, ready } = createManager({ compression: CompressionMethod.ZlibNative });
    await ws.connect();
    await waitUntil(() => (ready.size === 1 ? true : undefined));
    await waitUntil(() =>
      dispatches.filter((d) => d.t === 'MESSAGE_CREATE').length >= 10 ? true : undefined,
    );
    expect(dispatches.filter((d) => d.t === 'GUILD_CREATE')).toHaveLength(30);
    expectContiguous(dispatches.map((d) => d.s));
  });

  it('identify payload compression (compress: true) works end to end', async () => {
    await start({ guilds: 30 });
    const { manager: ws, dispatches, ready } = createManager({ useIdentifyCompression: true });
    await ws.connect();
    await waitUntil(() => (ready.size === 1 ? true : undefined));
    await waitUntil(() =>
      dispatches.filter((d) => d.t === 'GUILD_CREATE').length === 30 ? true : undefined,
    );
  });
});
