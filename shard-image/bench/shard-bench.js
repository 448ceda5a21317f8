// npm run bench:shard: the shard worker against @discordjs/brokers and raw pipelined XADD, in one run.
// Everything it starts (redis-server, the simulator, worker processes) it stops; every phase is bounded.
import { readFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PubSubRedisBroker } from '@discordjs/brokers';
import { encodeEventEntryJson } from '@shardfleet/protocol';
import { startSimulator } from '@shardfleet/simulator';
import { freePort, metricValue, ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import { Redis } from 'ioredis';

const WORKER_BIN = fileURLToPath(new URL('../bin/shardfleet-shard.js', import.meta.url));
const READER_BIN = fileURLToPath(new URL('./latency-reader.js', import.meta.url));
const BASELINE_EVENTS = Number(process.env.BENCH_BASELINE_EVENTS ?? 20_000);
const SUSTAINED_RATE = Number(process.env.BENCH_SUSTAINED_RATE ?? 35_000);
const FLOOD_RATE = Number(process.env.BENCH_FLOOD_RATE ?? 60_000);
const FLOOD_SECONDS = Number(process.env.BENCH_FLOOD_SECONDS ?? 8);
const LATENCY_RATE = 5_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 6);
/** Sends are paced every millisecond, as gateway traffic arrives, not in bursts of a coarse timer. */
const TICK_MS = 1;
const IDLE_SETTLE_MS = 30_000;
const CLOCK_TICKS_PER_SECOND = 100;

const results = {};
const cleanups = [];

function log(line) {
  console.log(line);
}

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
}

function rssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1_024;
}

async function startWorker({ bot, redisUrl, simulatorUrl, shardCount, env = {} }) {
  const port = await freePort();
  const worker = new ProgramProcess(process.execPath, [WORKER_BIN], {
    env: {
      PATH: process.env.PATH,
      SHARDFLEET_BOT: bot,
      DISCORD_TOKEN: 'simulator-token',
      DISCORD_API_URL: `${simulatorUrl}/api`,
      SHARD_COUNT: String(shardCount),
      SHARDS_PER_POD: String(shardCount),
      WORKER_ID: '0',
      POD_NAME: 'bench-shards-0',
      REDIS_URL: redisUrl,
      PORT: String(port),
      IDENTIFY_INTERVAL_MS: '50',
      LOG_LEVEL: 'warn',
      ...env,
    },
  });
  cleanups.push(() => worker.stop('SIGKILL', 5_000));
  await waitUntil(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${port}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    { timeoutMs: 60_000, intervalMs: 100, description: 'the worker ready' },
  );
  worker.metric = async (name) =>
    metricValue(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), name);
  return worker;
}

/** A ~1 KB MESSAGE_CREATE as the simulator generates them. */
async function sampleMessage(simulator) {
  const [guildId] = await simulator.control.guilds({ limit: 1 });
  const guild = await simulator.control.guild(guildId);
  const channel = guild.channels.find((candidate) => candidate.type === 0);
  const content =
    'The shard fleet keeps every gateway connection resumable across restarts, and the bots read ' +
    'their events from Redis streams at whatever pace they like, while one proxy keeps REST in line. ' +
    'This sentence only pads the message to the size of a typical chat message with some content.';
  return { guildId, channelId: channel.id, content };
}

async function benchBaselines(redisUrl, message) {
  const dJson = JSON.stringify(message);
  log(`payload: MESSAGE_CREATE data of ${Buffer.byteLength(dJson)} bytes`);
  const redis = new Redis(redisUrl);
  cleanups.push(() => redis.disconnect());
  const broker = new PubSubRedisBroker(redis, { group: 'bench' });
  cleanups.push(() => broker.streamReadClient.disconnect());

  let start = performance.now();
  for (let i = 0; i < BASELINE_EVENTS; i++) await broker.publish('MESSAGE_CREATE', message);
  results.brokersAwaited = BASELINE_EVENTS / ((performance.now() - start) / 1_000);

  start = performance.now();
  const inFlight = 100;
  for (let i = 0; i < BASELINE_EVENTS; i += inFlight) {
    const batch = [];
    for (let j = 0; j < inFlight; j++) batch.push(broker.publish('MESSAGE_CREATE', message));
    await Promise.all(batch);
  }
  results.brokers100InFlight = BASELINE_EVENTS / ((performance.now() - start) / 1_000);

  start = performance.now();
  const batchSize = 100;
  for (let i = 0; i < BASELINE_EVENTS; i += batchSize) {
    const pipeline = redis.pipeline();
    for (let j = 0; j < batchSize; j++) {
      const fields = encodeEventEntryJson(
        {
          t: 'MESSAGE_CREATE',
          s: 0,
          seq: i + j + 1,
          sid: 'bench',
          g: message.guild_id ?? null,
          ts: Date.now(),
        },
        dJson,
      );
      pipeline.xadd('bench:raw', 'MAXLEN', '~', '100000', '*', ...fields);
    }
    await pipeline.exec();
  }
  results.rawPipelined = BASELINE_EVENTS / ((performance.now() - start) / 1_000);
  await redis.del('MESSAGE_CREATE', 'bench:raw');
}

/** One worker (1 shard) fed by the simulator at `rate` events/s: what reaches the stream, and its cost. */
async function benchThroughput(simulator, redisUrl, rate) {
  await simulator.control.reset();
  const bot = `bench.rate${rate}`;
  const worker = await startWorker({ bot, redisUrl, simulatorUrl: simulator.url, shardCount: 1 });
  const redis = new Redis(redisUrl);
  cleanups.push(() => redis.disconnect());
  const key = `sf:{${bot}}:events`;
  const pid = worker.child.pid;
  await simulator.control.setTraffic(rate);
  // Warm up, then measure.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const generated0 = (await simulator.control.stats()).traffic.generated;
  const written0 = await streamWritten(redis, key);
  const cpu0 = cpuSeconds(pid);
  const redisCpu0 = await redisCpuSeconds(redis);
  const simulatorCpu0 = process.cpuUsage();
  const start = performance.now();
  await new Promise((resolve) => setTimeout(resolve, FLOOD_SECONDS * 1_000));
  const seconds = (performance.now() - start) / 1_000;
  const written = (await streamWritten(redis, key)) - written0;
  const cpu = cpuSeconds(pid) - cpu0;
  const redisCpuCores = ((await redisCpuSeconds(redis)) - redisCpu0) / seconds;
  const simulatorCpu = process.cpuUsage(simulatorCpu0);
  const generated = (await simulator.control.stats()).traffic.generated - generated0;
  await simulator.control.setTraffic(0);
  const result = {
    offered: generated / seconds,
    written: written / seconds,
    cpuMicrosPerEvent: (cpu / written) * 1e6,
    workerCores: cpu / seconds,
    redisCores: redisCpuCores,
    simulatorCores: (simulatorCpu.user + simulatorCpu.system) / 1e6 / seconds,
    rssMb: rssMb(pid),
    dropped: await worker.metric('shardfleet_events_dropped_total'),
  };
  await worker.stop('SIGTERM', 25_000);
  redis.disconnect();
  return result;
}

/** used_cpu_user + used_cpu_sys of redis-server, in seconds. */
async function redisCpuSeconds(redis) {
  const info = await redis.info('cpu');
  const field = (name) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)[1]);
  return field('used_cpu_user') + field('used_cpu_sys');
}

/** Entries ever added to the stream (XINFO entries-added survives MAXLEN trimming). */
async function streamWritten(redis, key) {
  const info = await redis.xinfo('STREAM', key).catch(() => null);
  if (info === null) return 0;
  const index = info.indexOf('entries-added');
  return Number(info[index + 1]);
}

/** A ~1 KB MESSAGE_CREATE in the sample's channel, without its id, timestamp and nonce. */
function benchMessage(sample) {
  return {
    type: 0,
    channel_id: sample.channelId,
    content: sample.content,
    attachments: [],
    embeds: [],
    edited_timestamp: null,
    flags: 0,
    components: [],
    author: {
      id: '300000000000000001',
      username: 'bench',
      global_name: 'Bench',
      avatar: null,
      discriminator: '0',
      public_flags: 0,
    },
    mentions: [],
    mention_roles: [],
    pinned: false,
    mention_everyone: false,
    tts: false,
    guild_id: sample.guildId,
    member: {
      roles: [],
      joined_at: '2024-01-01T00:00:00.000Z',
      deaf: false,
      mute: false,
      flags: 0,
      nick: null,
      avatar: null,
    },
  };
}

async function benchLatency(simulator, redisUrl, sample) {
  const bot = 'bench.latency';
  await simulator.control.reset();
  const worker = await startWorker({ bot, redisUrl, simulatorUrl: simulator.url, shardCount: 1 });
  const key = `sf:{${bot}}:events`;
  const reader = new ProgramProcess(process.execPath, [
    READER_BIN,
    redisUrl,
    key,
    String(LATENCY_SECONDS + 3),
  ]);
  cleanups.push(() => reader.stop('SIGKILL', 5_000));
  await reader.waitForLine(/^reading$/);
  const template = benchMessage(sample);
  const startedAt = performance.now();
  let sequence = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - startedAt) * LATENCY_RATE) / 1_000);
    while (sequence < due) {
      const sentAt = performance.timeOrigin + performance.now();
      sequence++;
      simulator.discord.dispatch(
        'MESSAGE_CREATE',
        {
          ...template,
          id: String(1_300_000_000_000_000_000n + BigInt(sequence)),
          timestamp: new Date().toISOString(),
          nonce: `bench-${sentAt}`,
        },
        { guildId: sample.guildId },
      );
    }
  }, TICK_MS);
  await new Promise((resolve) => setTimeout(resolve, LATENCY_SECONDS * 1_000));
  clearInterval(timer);
  const summary = JSON.parse(await reader.waitForLine(/^\{/, 20_000));
  results.latencySamples = summary.samples;
  results.latencySent = sequence;
  results.latencyRate = sequence / LATENCY_SECONDS;
  results.latencyP50Ms = summary.p50;
  results.latencyP99Ms = summary.p99;
  results.workerLatencyP50Ms = summary.workerP50;
  results.workerLatencyP99Ms = summary.workerP99;
  await worker.stop('SIGTERM', 25_000);
}

async function benchIdleRss(simulator, redisUrl, env = {}) {
  await simulator.control.reset();
  const worker = await startWorker({
    bot: 'bench.idle',
    redisUrl,
    simulatorUrl: simulator.url,
    shardCount: 16,
    env,
  });
  const atReady = rssMb(worker.child.pid);
  // V8 gives back the start-up heap once the process has been idle for several seconds.
  await new Promise((resolve) => setTimeout(resolve, IDLE_SETTLE_MS));
  const settled = rssMb(worker.child.pid);
  await worker.stop('SIGTERM', 25_000);
  return { atReady, settled };
}

async function main() {
  log(
    `shard worker benchmark · ${new Date().toISOString()} · ${cpus().length}x ${cpus()[0]?.model} · ${Math.round(totalmem() / 2 ** 30)} GiB · node ${process.version}`,
  );
  const redisServer = await RedisServer.start();
  cleanups.push(() => redisServer.stop());
  // A small ledger: at tens of thousands of events per second a long one costs the simulator more than the worker.
  const simulator = await startSimulator({
    guilds: 500,
    identifyIntervalMs: 50,
    seed: 42,
    ledgerLimit: 100_000,
  });
  cleanups.push(() => simulator.close());

  const sample = await sampleMessage(simulator);
  const message = {
    ...benchMessage(sample),
    timestamp: new Date().toISOString(),
    id: '1300000000000000000',
    nonce: '1234567890',
  };

  log('1/4 baselines: @discordjs/brokers PubSubRedisBroker and raw pipelined XADD');
  await benchBaselines(redisServer.url, message);
  log(`2/4 throughput: one worker (1 shard) at ${SUSTAINED_RATE} events/s, then flooded at ${FLOOD_RATE}/s`);
  results.sustained = await benchThroughput(simulator, redisServer.url, SUSTAINED_RATE);
  results.flood = await benchThroughput(simulator, redisServer.url, FLOOD_RATE);
  log(`3/4 latency at ${LATENCY_RATE} events/s`);
  await benchLatency(simulator, redisServer.url, sample);
  log('4/4 RSS of 16 idle shards');
  results.idleRss16Mb = await benchIdleRss(simulator, redisServer.url);

  const best = Math.max(results.sustained.written, results.flood.written);
  const fmt = (value, digits = 0) =>
    value.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
  const rateRow = (name, run) =>
    `| shard worker, gateway frame to XADD, ${name} (simulator offered ${fmt(run.offered)}/s) | ${fmt(run.written)} events/s, ${fmt(run.dropped)} dropped, ${fmt(run.cpuMicrosPerEvent, 1)} µs CPU per event (cores: worker ${fmt(run.workerCores, 2)}, Redis ${fmt(run.redisCores, 2)}, simulator and bench ${fmt(run.simulatorCores, 2)}), RSS ${fmt(run.rssMb)} MB |`;
  log('');
  log('| measure | result | target |');
  log('|---|---|---|');
  log(
    `| @discordjs/brokers PubSubRedisBroker, awaited per event | ${fmt(results.brokersAwaited)} events/s | |`,
  );
  log(
    `| @discordjs/brokers PubSubRedisBroker, 100 in flight | ${fmt(results.brokers100InFlight)} events/s | |`,
  );
  log(`| raw pipelined XADD, batches of 100 (ceiling) | ${fmt(results.rawPipelined)} events/s | |`);
  log(`${rateRow('sustained', results.sustained)} >= 30,000, none dropped |`);
  log(`${rateRow('flooded', results.flood)} |`);
  log(
    `| shard worker (best of the two) / brokers awaited | ${fmt(best / results.brokersAwaited, 2)}x | >= 3x |`,
  );
  log(`| shard worker (best of the two) / raw pipelined XADD | ${fmt(best / results.rawPipelined, 2)}x | |`);
  log(
    `| latency simulator send -> in the stream, p50 / p99 at ${fmt(results.latencyRate)} events/s (${fmt(results.latencySamples)} of ${fmt(results.latencySent)} sent) | ${fmt(results.latencyP50Ms, 2)} / ${fmt(results.latencyP99Ms, 2)} ms | p99 < 5 ms |`,
  );
  log(
    `| of which from the worker's receipt of the frame (entry \`ts\`) to readable, p50 / p99 | ${fmt(results.workerLatencyP50Ms, 2)} / ${fmt(results.workerLatencyP99Ms, 2)} ms | |`,
  );
  log(
    `| RSS, 16 idle shards: when all are ready / after ${IDLE_SETTLE_MS / 1_000} s idle | ${fmt(results.idleRss16Mb.atReady)} / ${fmt(results.idleRss16Mb.settled)} MB | <= 80 MB |`,
  );
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
}
process.exit(0);
