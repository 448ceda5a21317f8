import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type RunningSimulator, startSimulator } from '../server.js';
import { RawGatewayClient, waitUntil } from './gatewayClient.js';

const TOKEN = 'simulator-token';
const running: RunningSimulator[] = [];
const clients: RawGatewayClient[] = [];
const directories: string[] = [];

async function start(stateFile: string, port = 0): Promise<RunningSimulator> {
  const simulator = await startSimulator({ guilds: 3, identifyIntervalMs: 0, stateFile, port });
  running.push(simulator);
  return simulator;
}

function connect(simulator: RunningSimulator): RawGatewayClient {
  const client = new RawGatewayClient(`${simulator.gatewayUrl}/?v=10&encoding=json`);
  clients.push(client);
  return client;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await Promise.all(running.splice(0).map((simulator) => simulator.close().catch(() => undefined)));
  await Promise.all(directories.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

describe('stateFile', () => {
  it('keeps sessions resumable and the identify counters across a restart', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sim-state-'));
    directories.push(dir);
    const stateFile = path.join(dir, 'simulator.json');
    const first = await start(stateFile);
    const client = connect(first);
    await client.waitFor((p) => p.op === 10);
    client.identify(TOKEN);
    const ready = await client.waitFor((p) => p.t === 'READY');
    const sessionId = (ready.d as { session_id: string }).session_id;
    await waitUntil(() => (client.dispatches('GUILD_CREATE').length === 3 ? true : undefined));
    const lastSeen = Math.max(...client.dispatches().map((p) => p.s as number));
    client.terminate();
    await waitUntil(
      async () => ((await first.control.stats()).connections === 0 ? true : undefined),
      5_000,
      'the connection to drop',
    );
    // Dispatched while the client is away: the restarted simulator must still replay it.
    await first.control.dispatch({ t: 'TEST_EVENT', d: { n: 1 }, shard: 0 });
    const port = Number(new URL(first.url).port);
    running.splice(running.indexOf(first), 1);
    await first.close();

    const second = await start(stateFile, port);
    const restored = await second.control.stats();
    expect(restored).toMatchObject({ identifies: 1, resumes: 0, sessions: 1, connections: 0 });
    expect(restored.sessionStartRemaining).toBe(999);
    const resumed = connect(second);
    await resumed.waitFor((p) => p.op === 10);
    resumed.send({ op: 6, d: { token: TOKEN, session_id: sessionId, seq: lastSeen } });
    await resumed.waitFor((p) => p.t === 'RESUMED');
    expect(resumed.dispatches('TEST_EVENT').map((p) => [p.s, p.d])).toEqual([[lastSeen + 1, { n: 1 }]]);
    const after = await second.control.stats();
    expect(after).toMatchObject({ identifies: 1, resumes: 1 });
    expect(after.shards['0']).toMatchObject({ identifies: 1, resumes: 1, connected: true });
  });

  it('starts fresh without a state file and writes one on close', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sim-state-'));
    directories.push(dir);
    const stateFile = path.join(dir, 'nested', 'simulator.json');
    const simulator = await start(stateFile);
    expect(await simulator.control.stats()).toMatchObject({ identifies: 0, sessions: 0 });
    running.splice(running.indexOf(simulator), 1);
    await simulator.close();
    expect(JSON.parse(await readFile(stateFile, 'utf8'))).toMatchObject({ version: 1, sessions: [] });
    const again = await start(stateFile);
    expect(await again.control.stats()).toMatchObject({ identifies: 0, sessions: 0 });
  });
});
