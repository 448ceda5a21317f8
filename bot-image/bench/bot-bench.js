// npm run bench:bot: the bot runtime's consumption rate against @discordjs/brokers in one run, and
// end-to-end latency simulator -> shard worker -> Redis -> bot handler at 5,000 events/s.
// Everything it starts (redis-server, the simulator, processes) it stops; every phase is bounded.
import { cpus, loadavg, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';
import { encodeEventEntryJson } from '@shardfleet/protocol';
import { startSimulator } from '@shardfleet/simulator';
import { freePort, ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import { Redis } from 'ioredis';

const RATE_CONSUMER = fileURLToPath(new URL('./rate-consumer.js', import.meta.url));
const LATENCY_BOT = fileURLToPath(new URL('./latency-bot.js', import.meta.url));
const WORKER_BIN = fileURLToPath(new URL('../../shard-image/bin/shardfleet-shard.js', import.meta.url));
const EVENTS = Number(process.env.BENCH_EVENTS ?? 100_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const LATENCY_RATE = 5_000;
const LATENCY_SECONDS = Number(process.env.BENCH_LATENCY_SECONDS ?? 6);
const LATENCY_ROUNDS = Number(process.env.BENCH_LATENCY_ROUNDS ?? 3);
const BOT = 'bench.bot';
const EVENT_STREAM = `sf:{${BOT}}:events`;
const BROKER_STREAM = 'bench-brokers:MESSAGE_CREATE';

const cleanups = [];
const log = (line) => console.log(line);

function messageData(seq, guildId = '1100000000000000000', channelId = '1100000000000000001') {
  return {
    type: 0,
    id: String(1_300_000_000_000_000_000n + BigInt(seq)),
    channel_id: channelId,
    guild_id: guildId,
    content: 'benchmark message '.repeat(20),
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    tts: false,
    mention_everyone: false,
    mentions: [],
    mention_roles: [],
    attachments: [],
    embeds: [],
    pinned: false,
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

/** The same events in the contract's format (our stream) and in the brokers' format (`data`). */
async function prefill(redis) {
  let bytes = 0;
  for (let first = 0; first < EVENTS; first += 1_000) {
    const pipeline = redis.pipeline();
    for (let seq = first + 1; seq <= Math.min(first + 1_000, EVENTS); seq++) {
      const meta = {
        t: 'MESSAGE_CREATE',
        s: 0,
        seq,
        sid: 'bench-session',
        g: '1100000000000000000',
        ts: Date.now(),
      };
      const dJson = JSON.stringify(messageData(seq));
      bytes += dJson.length;
      pipeline.xadd(EVENT_STREAM, '*', ...encodeEventEntryJson(meta, dJson));
      pipeline.xadd(BROKER_STREAM, '*', 'data', JSON.stringify({ ...meta, d: JSON.parse(dJson) }));
    }
    await pipeline.exec();
  }
  return bytes / EVENTS;
}

async function consume(kind, stream, maxChunk, round) {
  const child = new ProgramProcess(process.execPath, [
    RATE_CONSUMER,
    kind,
    cleanups.redisUrl,
    stream,
    String(EVENTS),
    String(round),
    ...(maxChunk === undefined ? [] : [String(maxChunk)]),
  ]);
  cleanups.push(() => child.stop('SIGKILL', 5_000));
  const line = await child.waitForLine(/^\{/, 120_000);
  await child.exited;
  const result = JSON.parse(line);
  if (result.incomplete) log(`    ${kind} stopped after ${result.count} events:\n${child.output}`);
  return result;
}

async function benchLatency(redisUrl, replay, round) {
  const simulator = await startSimulator({ guilds: 50, identifyIntervalMs: 50, ledgerLimit: 100_000 });
  cleanups.push(() => simulator.close());
  const [guildId] = await simulator.control.guilds({ limit: 1 });
  const channelId = (await simulator.control.guild(guildId)).channels[0].id;
  const bot = `bench.latency-${replay}-${round}`;
  const port = await freePort();
  const worker = new ProgramProcess(process.execPath, [WORKER_BIN], {
    env: {
      PATH: process.env.PATH,
      SHARDFLEET_BOT: bot,
      DISCORD_TOKEN: 'simulator-token',
      DISCORD_API_URL: `${simulator.url}/api`,
      SHARD_COUNT: '1',
      SHARDS_PER_POD: '1',
      WORKER_ID: '0',
      REDIS_URL: redisUrl,
      PORT: String(port),
      IDENTIFY_INTERVAL_MS: '50',
      LOG_LEVEL: 'warn',
    },
  });
  cleanups.push(() => worker.stop('SIGKILL', 5_000));
  await waitUntil(
    async () => (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.status === 200,
    {
      timeoutMs: 30_000,
      description: 'shard worker ready',
    },
  );
  const reader = new ProgramProcess(process.execPath, [
    LATENCY_BOT,
    redisUrl,
    bot,
    String(LATENCY_SECONDS + 2),
    replay,
  ]);
  cleanups.push(() => reader.stop('SIGKILL', 5_000));
  await reader.waitForLine(/^reading$/, 20_000);
  const startedAt = performance.now();
  let sequence = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - startedAt) * LATENCY_RATE) / 1_000);
    while (sequence < due) {
      sequence++;
      const sentAt = performance.timeOrigin + performance.now();
      simulator.discord.dispatch(
        'MESSAGE_CREATE',
        { ...messageData(sequence, guildId, channelId), nonce: `bench-${sentAt}` },
        { guildId },
      );
    }
  }, 1);
  await new Promise((resolve) => setTimeout(resolve, LATENCY_SECONDS * 1_000));
  clearInterval(timer);
  const summary = JSON.parse(await reader.waitForLine(/^\{/, 20_000));
  await worker.stop('SIGTERM', 25_000);
  await simulator.close();
  return { ...summary, sent: sequence };
}

async function main() {
  log(
    `bot runtime benchmark · ${new Date().toISOString()} · ${cpus().length}x ${cpus()[0]?.model} · ${Math.round(totalmem() / 2 ** 30)} GiB · node ${process.version} · load ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
  const redisServer = await RedisServer.start();
  cleanups.push(() => redisServer.stop());
  cleanups.redisUrl = redisServer.url;
  const redis = new Redis(redisServer.url);
  cleanups.push(() => redis.disconnect());

  log(
    `1/2 consumption rate: ${EVENTS} MESSAGE_CREATE entries pre-filled, no-op handler, one consumer each, median of ${ROUNDS}`,
  );
  const size = await prefill(redis);
  log(`    d is ${Math.round(size)} bytes per event`);
  const consumers = [
    ['brokers', BROKER_STREAM, 10],
    ['brokers', BROKER_STREAM, 500],
    ['shardfleet', EVENT_STREAM],
    ['shardfleet-no-replay', EVENT_STREAM],
    ['raw', EVENT_STREAM],
  ];
  // Interleaved rounds, median per consumer: a shared 2-core machine is noisy.
  const rates = consumers.map(() => []);
  for (let round = 0; round < ROUNDS; round++) {
    for (const [index, [kind, stream, maxChunk]] of consumers.entries()) {
      rates[index].push((await consume(kind, stream, maxChunk, round)).rate);
    }
  }
  const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
  const results = consumers.map(([kind, , maxChunk], index) => ({
    label: maxChunk === undefined ? kind : `${kind} (maxChunk ${maxChunk})`,
    kind,
    rate: median(rates[index]),
    all: rates[index],
  }));
  for (const result of results) {
    const runs = result.all.map((rate) => `${Math.round(rate / 1_000)}k`).join(', ');
    log(
      `    ${result.label.padEnd(28)} ${Math.round(result.rate).toLocaleString('en').padStart(8)} events/s (runs: ${runs})`,
    );
  }
  const brokersDefault = results[0].rate;
  const brokersBest = Math.max(results[0].rate, results[1].rate);
  for (const result of results.filter((candidate) => candidate.kind.startsWith('shardfleet'))) {
    const versusDefault = (result.rate / brokersDefault).toFixed(2);
    const versusBest = (result.rate / brokersBest).toFixed(2);
    log(`    ${result.kind}: ${versusDefault}x brokers (maxChunk 10), ${versusBest}x best brokers`);
  }

  log(
    `2/2 end-to-end latency at ${LATENCY_RATE} events/s for ${LATENCY_SECONDS} s (simulator send -> handler), replay recognition on and off, ${LATENCY_ROUNDS} interleaved rounds`,
  );
  const byMode = { replay: [], 'no-replay': [] };
  for (let round = 0; round < LATENCY_ROUNDS; round++) {
    for (const replay of Object.keys(byMode)) {
      const latency = await benchLatency(redisServer.url, replay, round);
      byMode[replay].push(latency);
      log(
        `    ${replay.padEnd(9)} ${latency.samples}/${latency.sent} events, p50 ${latency.p50?.toFixed(2)} ms, p99 ${latency.p99?.toFixed(2)} ms, max ${latency.max?.toFixed(2)} ms; shard receipt -> handler p99 ${latency.fromShardP99?.toFixed(1)} ms (whole ms)`,
      );
    }
  }
  for (const [replay, runs] of Object.entries(byMode)) {
    log(`    ${replay}: median p99 ${median(runs.map((run) => run.p99)).toFixed(2)} ms`);
  }
  log(
    `load average after: ${loadavg()
      .map((n) => n.toFixed(2))
      .join(' ')}`,
  );
}

try {
  await main();
} finally {
  for (const cleanup of cleanups.reverse()) await Promise.resolve(cleanup()).catch(() => undefined);
}
process.exit(0);
