// npm run bench:sim — the dispatch rate the simulator sustains to connected gateway clients, side by side
// with a bare `ws` server sending the same ~1 KB frames (the ceiling on this machine). Bounded: a few
// seconds per step, a fixed list of steps, every child process ended at the end.
import { fork, spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const SHARDS = 16;
const RATES = (process.env.BENCH_RATES ?? '10000,25000,50000,75000,100000').split(',').map(Number);
const WARMUP_MS = 1_000;
const WINDOW_MS = Number(process.env.BENCH_WINDOW_MS ?? 4_000);
const TOKEN = 'simulator-token';

const DEADLINE_MS = 300_000;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// Every child dies with this process, whatever ends it, and the whole run is bounded in time.
const children = new Set();
process.on('exit', () => {
  for (const child of children) child.kill('SIGKILL');
});
setTimeout(() => {
  console.error(`bench:sim: still running after ${DEADLINE_MS / 1_000} s; stopping`);
  process.exit(1);
}, DEADLINE_MS).unref();

function track(child) {
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

function nextMessage(child, type) {
  return new Promise((resolve) => {
    const onMessage = (message) => {
      if (message.type === type) {
        child.off('message', onMessage);
        resolve(message);
      }
    };
    child.on('message', onMessage);
  });
}

async function startSimulator() {
  // Run the bin itself, so the simulator gets the Node flags of its shebang, as a user's would.
  const child = track(
    spawn(
      path.join(here, '../bin/shardfleet-sim.js'),
      [
        '--port',
        '0',
        '--guilds',
        String(SHARDS * 1_000),
        '--max-concurrency',
        String(SHARDS),
        '--identify-interval-ms',
        '0',
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    ),
  );
  // Keep reading stdout after the match: a closed pipe would kill the simulator on its next line.
  return new Promise((resolve, reject) => {
    let output = '';
    child.stdout.on('data', (chunk) => {
      output += chunk;
      const match = /listening on (\S+)/.exec(output);
      if (match) resolve({ child, url: match[1] });
    });
    child.once('exit', () => reject(new Error('the simulator exited before listening')));
  });
}

async function measure(setRate, client) {
  const results = [];
  for (const rate of RATES) {
    await setRate(rate);
    await sleep(WARMUP_MS);
    client.send({ type: 'window' });
    const started = performance.now();
    await sleep(WINDOW_MS);
    client.send({ type: 'report' });
    const report = await nextMessage(client, 'report');
    const seconds = (performance.now() - started) / 1_000;
    results.push({
      rate,
      delivered: Math.round(report.delivered / seconds),
      p50: report.p50,
      p99: report.p99,
    });
  }
  await setRate(0);
  return results;
}

function startClient(url) {
  return track(fork(path.join(here, 'bench-client.js'), [url, String(SHARDS), TOKEN]));
}

const simulator = await startSimulator();
const simClient = startClient(simulator.url.replace(/^http/, 'ws'));
const sample = nextMessage(simClient, 'sample');
await nextMessage(simClient, 'ready');
const setSimRate = (rate) =>
  fetch(`${simulator.url}/_sim/traffic`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ rate }),
  });
const simResults = await measure(setSimRate, simClient);
const frame = (await sample).frame;
simClient.send({ type: 'exit' });
const simulatorExited = once(simulator.child, 'exit');
simulator.child.kill('SIGTERM');

const raw = track(fork(path.join(here, 'raw-ws-server.js'), [JSON.stringify(JSON.parse(frame).d)]));
const { url: rawUrl } = await nextMessage(raw, 'listening');
const rawClient = startClient(rawUrl);
await nextMessage(rawClient, 'ready');
const rawResults = await measure(async (rate) => raw.send({ type: 'rate', rate }), rawClient);
rawClient.send({ type: 'exit' });
raw.send({ type: 'exit' });
await Promise.all([once(raw, 'exit'), simulatorExited]);

console.log(
  `bench:sim — ${SHARDS} shards, MESSAGE_CREATE of ${Buffer.byteLength(frame)} bytes per frame, ${WINDOW_MS} ms windows`,
);
console.log(
  `machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, node ${process.version}, ${new Date().toISOString().slice(0, 10)}`,
);
console.log('target/s | simulator delivered/s (p50/p99 ms) | raw ws delivered/s (p50/p99 ms) | ratio');
for (const [i, sim] of simResults.entries()) {
  const ref = rawResults[i];
  console.log(
    `${String(sim.rate).padStart(8)} | ${String(sim.delivered).padStart(8)} (${sim.p50}/${sim.p99}) | ${String(ref.delivered).padStart(8)} (${ref.p50}/${ref.p99}) | ${(sim.delivered / ref.delivered).toFixed(2)}`,
  );
}
const firstShortfall = simResults.findIndex((r) => r.delivered < r.rate * 0.98);
const sustained = simResults[(firstShortfall === -1 ? simResults.length : firstShortfall) - 1];
const peak = Math.max(...simResults.map((r) => r.delivered));
console.log(
  `simulator sustains ${sustained?.rate ?? 0} dispatches/s (every step up to it delivered >= 98% of its target); peak ${peak}/s`,
);
