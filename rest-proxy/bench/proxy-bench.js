// npm run bench:proxy: requests/s and latency straight to a minimal Discord-like upstream,
// through shardfleet's REST proxy and through @discordjs/proxy, in one run, at 32 connections:
// one hot channel and requests spread over many channels (upstream limits high; the proxy alone
// and with its limits in Redis), latency at fixed offered loads (open loop), then one hot
// channel whose bucket the proxies could exceed. Every process is stopped at the end; each case
// runs a bounded time.
import { cpus, loadavg } from 'node:os';
import { performance } from 'node:perf_hooks';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, ProgramProcess, RedisServer } from '@shardfleet/testing';
import autocannon from 'autocannon';
import { Pool } from 'undici';

const here = dirname(fileURLToPath(import.meta.url));
const CONNECTIONS = 32;
const DURATION_S = Number(process.env.BENCH_DURATION_S ?? 5);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const WARMUP_S = 2;
const SPREAD_CHANNELS = 1_000;
const FIXED_RATES = [1_000, 3_000];
const LIMITED_BUCKET = { limit: 2_000, windowMs: 1_000 };
const PROXY_TOKEN = 'bench-proxy-token-0123456789';
const BOT_TOKEN = 'bench-bot-token';
const BODY = JSON.stringify({ content: 'benchmark message', nonce: '1', embeds: [] });
const HOT_CHANNEL = '264905529925697537';
const channels = Array.from({ length: SPREAD_CHANNELS }, (_, index) =>
  String(264905529925697537n + BigInt(index)),
);

const started = [];

function loadAverage() {
  return loadavg()
    .map((value) => value.toFixed(2))
    .join(' ');
}
let redis;

async function start(script, env) {
  const program = new ProgramProcess(process.execPath, [script], { env: { ...process.env, ...env } });
  started.push(program);
  const line = await program.waitForLine(/listening on http:\/\/[^\s"]+/, 20_000);
  return /listening on (http:\/\/[^\s"]+)/.exec(line)[1].replace('0.0.0.0', '127.0.0.1');
}

async function upstream(env = {}) {
  return start(join(here, 'minimal-upstream.js'), env);
}

async function ourProxy(upstreamUrl, redisUrl = '') {
  return start(join(here, '..', 'bin', 'shardfleet-rest-proxy.js'), {
    DISCORD_TOKEN: BOT_TOKEN,
    DISCORD_API_URL: `${upstreamUrl}/api`,
    PROXY_AUTH_TOKEN: PROXY_TOKEN,
    REDIS_URL: redisUrl,
    PORT: String(await freePort()),
    LOG_LEVEL: 'info',
    GLOBAL_RATE_LIMIT: '1000000000',
  });
}

async function discordjsProxy(upstreamUrl) {
  return start(join(here, 'discordjs-proxy.js'), { UPSTREAM_URL: upstreamUrl });
}

async function upstreamCall(url, path, method = 'GET') {
  return (await fetch(`${url}${path}`, { method })).json();
}

function authorizationOf(target) {
  return target.kind.startsWith('shardfleet') ? `Bearer ${PROXY_TOKEN}` : `Bot ${BOT_TOKEN}`;
}

function run(target, { spread, duration = DURATION_S }) {
  const authorization = authorizationOf(target);
  let next = 0;
  return autocannon({
    url: `${target.url}/api/v10/channels/${HOT_CHANNEL}/messages`,
    connections: CONNECTIONS,
    duration,
    method: 'POST',
    headers: { authorization, 'content-type': 'application/json' },
    body: BODY,
    requests: spread
      ? [
          {
            setupRequest(request) {
              next = (next + 1) % SPREAD_CHANNELS;
              return { ...request, path: `/api/v10/channels/${channels[next]}/messages` };
            },
          },
        ]
      : undefined,
  });
}

/**
 * Latency at a fixed offered load, open loop: requests start on an even schedule of `rate` per
 * second whatever the answers do, over at most CONNECTIONS connections, and each is timed from
 * its scheduled start, so any stall counts against every request it delays. (autocannon's
 * `overallRate` sends each connection's share in a burst at the top of every second and corrects
 * for coordinated omission with a 1 ms interval, which measures saturated bursts instead.)
 */
async function openLoop(target, { rate, duration = DURATION_S }) {
  const authorization = authorizationOf(target);
  const pool = new Pool(target.url, { connections: CONNECTIONS });
  const latencies = [];
  const statusCounts = new Map();
  const total = rate * duration;
  let errors = 0;
  let sent = 0;
  let settled = 0;
  const started = performance.now();
  await new Promise((resolve) => {
    const send = (scheduled) =>
      pool
        .request({
          path: `/api/v10/channels/${HOT_CHANNEL}/messages`,
          method: 'POST',
          headers: { authorization, 'content-type': 'application/json' },
          body: BODY,
        })
        .then(async (response) => {
          await response.body.dump();
          latencies.push(performance.now() - scheduled);
          statusCounts.set(response.statusCode, (statusCounts.get(response.statusCode) ?? 0) + 1);
        })
        .catch(() => errors++)
        .finally(() => {
          if (++settled === total) resolve();
        });
    const tick = () => {
      const due = Math.min(total, Math.floor(((performance.now() - started) * rate) / 1_000) + 1);
      for (; sent < due; sent++) send(started + (sent * 1_000) / rate);
      if (sent < total) setTimeout(tick, 1);
    };
    tick();
  });
  const elapsedS = (performance.now() - started) / 1_000;
  await pool.close();
  latencies.sort((a, b) => a - b);
  const percentile = (fraction) =>
    Number(
      (latencies[Math.min(latencies.length - 1, Math.floor(fraction * latencies.length))] ?? NaN).toFixed(2),
    );
  const ok = [...statusCounts].reduce((sum, [status, count]) => sum + (status < 300 ? count : 0), 0);
  return {
    requests: { average: latencies.length / elapsedS },
    latency: { p50: percentile(0.5), p99: percentile(0.99) },
    '2xx': ok,
    non2xx: latencies.length - ok,
    statusCodeStats: Object.fromEntries(statusCounts),
    errors,
    timeouts: 0,
  };
}

async function measureOnce(target, upstreamUrl, options) {
  await upstreamCall(upstreamUrl, '/reset', 'POST');
  const result = options.rate === undefined ? await run(target, options) : await openLoop(target, options);
  const upstreamStats = await upstreamCall(upstreamUrl, '/stats');
  return {
    rps: result.requests.average,
    p50: result.latency.p50,
    p99: result.latency.p99,
    ok: result['2xx'],
    non2xx: result.non2xx,
    statuses: Object.keys(result.statusCodeStats),
    errors: result.errors + result.timeouts,
    upstream429: upstreamStats.ratelimited,
    maxPerWindow: upstreamStats.maxPerWindow,
  };
}

function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * Warms every target up, then measures them in `rounds` rounds, each in a rotated order, so
 * load from elsewhere on the machine falls on all of them alike; rates and latencies are the
 * medians of the rounds, counts their sums, the bucket window peak their maximum.
 */
async function measure(targets, upstreamUrl, options, rounds = ROUNDS) {
  for (const target of targets) {
    await (options.rate === undefined ? run : openLoop)(target, { ...options, duration: WARMUP_S });
  }
  const samples = new Map(targets.map((target) => [target, []]));
  for (let round = 0; round < rounds; round++) {
    for (let index = 0; index < targets.length; index++) {
      const target = targets[(index + round) % targets.length];
      samples.get(target).push(await measureOnce(target, upstreamUrl, options));
    }
  }
  return targets.map((target) => {
    const runs = samples.get(target);
    const sum = (field) => runs.reduce((total, each) => total + each[field], 0);
    return {
      target: target.kind,
      rps: median(runs.map((each) => each.rps)),
      p50: median(runs.map((each) => each.p50)),
      p99: median(runs.map((each) => each.p99)),
      ok: sum('ok'),
      non2xx: sum('non2xx'),
      statuses: [...new Set(runs.flatMap((each) => each.statuses))].join('/'),
      errors: sum('errors'),
      upstream429: sum('upstream429'),
      maxPerWindow: Math.max(...runs.map((each) => each.maxPerWindow)),
    };
  });
}

function table(title, rows, note) {
  const direct = rows.find((row) => row.target === 'direct');
  const discordjs = rows.find((row) => row.target === '@discordjs/proxy');
  console.log(`\n## ${title}`);
  if (note) console.log(note);
  console.log(
    '| target | req/s | p50 ms | p99 ms | added p50 | added p99 | 2xx | non-2xx | statuses | errors | upstream 429s | max per bucket window | vs @discordjs/proxy |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const added = (value, base) => (direct && row !== direct ? (value - base).toFixed(2) : '-');
    const ratio = discordjs && row.target !== 'direct' ? `${(row.rps / discordjs.rps).toFixed(2)}x` : '-';
    console.log(
      `| ${row.target} | ${Math.round(row.rps)} | ${row.p50} | ${row.p99} | ${added(row.p50, direct?.p50 ?? 0)} | ${added(row.p99, direct?.p99 ?? 0)} | ${row.ok} | ${row.non2xx} | ${row.statuses} | ${row.errors} | ${row.upstream429} | ${row.maxPerWindow} | ${ratio} |`,
    );
  }
}

try {
  console.log(
    `# REST proxy benchmark, ${new Date().toISOString()}, node ${process.version}, ${cpus().length} CPUs, ` +
      `load average ${loadAverage()}, ${CONNECTIONS} connections, ${DURATION_S} s per measurement, ` +
      `median of ${ROUNDS} rounds for throughput`,
  );
  const fast = await upstream();
  redis = await RedisServer.start();
  const targets = [
    { kind: 'direct', url: fast },
    { kind: 'shardfleet', url: await ourProxy(fast) },
    { kind: 'shardfleet + Redis', url: await ourProxy(fast, redis.url) },
    { kind: '@discordjs/proxy', url: await discordjsProxy(fast) },
  ];
  for (const [title, spread] of [
    ['One hot channel, upstream limits high', false],
    [`Spread over ${SPREAD_CHANNELS} channels, upstream limits high`, true],
  ]) {
    table(title, await measure(targets, fast, { spread }));
  }

  for (const rate of FIXED_RATES) {
    table(
      `Latency at a fixed ${rate} req/s offered, one hot channel (open loop)`,
      await measure(targets, fast, { spread: false, rate }),
      'Each request timed from its scheduled start; req/s is the rate answered.',
    );
  }

  const limited = await upstream({
    BUCKET_LIMIT: String(LIMITED_BUCKET.limit),
    BUCKET_WINDOW_MS: String(LIMITED_BUCKET.windowMs),
  });
  const limitedTargets = [
    { kind: 'shardfleet', url: await ourProxy(limited) },
    { kind: '@discordjs/proxy', url: await discordjsProxy(limited) },
  ];
  const limitedRows = await measure(limitedTargets, limited, { spread: false }, 1);
  table(
    `One hot channel with a bucket of ${LIMITED_BUCKET.limit} per ${LIMITED_BUCKET.windowMs} ms`,
    limitedRows,
    'The bucket allows at most the limit per window: upstream 429s must be 0 and the max per window at most the limit.',
  );
  console.log(`\nLoad average at the end: ${loadAverage()} (other work on the machine skews every number).`);
} finally {
  await Promise.all(started.map((program) => program.stop('SIGTERM', 5_000)));
  await redis?.stop();
}
