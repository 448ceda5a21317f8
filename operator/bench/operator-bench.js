// Operator benchmark: 100 DiscordBots applied at once against a real kube-apiserver (Kubernetes
// 1.20 from the project's cluster scripts) with the simulator as Discord. Reports the time from
// each DiscordBot's creation to its StatefulSet and to its first status, the Kubernetes API
// requests per reconcile, and the requests in steady state (several resync periods, nothing to do).
// Usage: npm run bench:operator [-- --bots 100 --resync-ms 5000 --workers 8]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { startSimulator } from '@shardfleet/simulator';
import { freePort, waitUntil } from '@shardfleet/testing';
import { startControlPlane } from '../../e2e/cluster/index.mjs';
import { discordBotCrd } from '../dist/index.js';
import { KubeClient } from '../dist/kube/KubeClient.js';

const { values } = parseArgs({
  options: {
    bots: { type: 'string', default: '100' },
    'resync-ms': { type: 'string', default: '5000' },
    'steady-periods': { type: 'string', default: '3' },
    workers: { type: 'string' },
  },
});
const BOTS = Number(values.bots);
const RESYNC_MS = Number(values['resync-ms']);
const STEADY_MS = RESYNC_MS * Number(values['steady-periods']);
const NAMESPACE = 'bench';
const TIMEOUT_MS = 300_000;
const OPERATOR_BIN = fileURLToPath(new URL('../bin/shardfleet-operator.js', import.meta.url));

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

function summary(samples) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    count: sorted.length,
    min: sorted[0],
    p50: percentile(sorted, 50),
    p99: percentile(sorted, 99),
    max: sorted.at(-1),
  };
}

function metricSum(text, name, filter = () => true) {
  return text
    .split('\n')
    .filter((line) => line.startsWith(`${name}{`) || line.startsWith(`${name} `))
    .filter(filter)
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

const log = (message) => console.error(`[bench] ${message}`);
const started = Date.now();
log('starting the control plane (the first run builds Kubernetes: minutes)');
const controlPlane = await startControlPlane({ log });
const simulator = await startSimulator({ guilds: 5_000 });
const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
const kube = new KubeClient(kubeConfig);
let operator;
const watches = [];
try {
  await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', discordBotCrd());
  await kube.create('/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NAMESPACE },
  });
  const botsPath = `/apis/shardfleet.dev/v1alpha1/namespaces/${NAMESPACE}/discordbots`;
  await waitUntil(() => kube.list(botsPath).then(() => true), {
    timeoutMs: 60_000,
    description: 'the CRD served',
  });
  await kube.create(`/api/v1/namespaces/${NAMESPACE}/secrets`, {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'bench-token' },
    stringData: { token: 'simulator-token' },
  });

  const port = await freePort();
  operator = spawn(process.execPath, [OPERATOR_BIN], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: controlPlane.kubeconfigPath,
      PORT: String(port),
      LEADER_ELECT: 'true',
      LEASE_NAMESPACE: NAMESPACE,
      RESYNC_INTERVAL_MS: String(RESYNC_MS),
      LOG_LEVEL: 'warn',
      ...(values.workers === undefined ? {} : { WORKERS: values.workers }),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  createInterface({ input: operator.stderr }).on('line', (line) => log(`operator: ${line}`));
  const readMetrics = () => fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.text());
  await waitUntil(
    async () =>
      (
        await fetch(`http://127.0.0.1:${port}/readyz`)
          .then((r) => r.json())
          .catch(() => ({}))
      ).role === 'leader' && (await fetch(`http://127.0.0.1:${port}/readyz`)).ok,
    { timeoutMs: 60_000, description: 'the operator leading and synced' },
  );

  const createdAt = new Map();
  const acceptedAt = new Map();
  const statefulSetAt = new Map();
  const statusAt = new Map();
  const watch = new Watch(kubeConfig);
  watches.push(
    await watch.watch(
      `/apis/apps/v1/namespaces/${NAMESPACE}/statefulsets`,
      {},
      (phase, object) => {
        const bot = object.metadata.name.replace(/-shards$/, '');
        if (phase === 'ADDED' && !statefulSetAt.has(bot)) statefulSetAt.set(bot, performance.now());
      },
      () => undefined,
    ),
    await watch.watch(
      botsPath,
      {},
      (_phase, object) => {
        if (object.status?.observedGeneration !== undefined && !statusAt.has(object.metadata.name)) {
          statusAt.set(object.metadata.name, performance.now());
        }
      },
      () => undefined,
    ),
  );

  const before = await readMetrics();
  log(`creating ${BOTS} DiscordBots at once`);
  const names = Array.from({ length: BOTS }, (_, i) => `bot-${String(i).padStart(3, '0')}`);
  const applyStarted = performance.now();
  await Promise.all(
    names.map(async (name) => {
      const sent = performance.now();
      await kube.create(botsPath, {
        apiVersion: 'shardfleet.dev/v1alpha1',
        kind: 'DiscordBot',
        metadata: { name },
        spec: {
          tokenSecretRef: { name: 'bench-token' },
          redis: { url: 'redis://redis:6379' },
          discord: { apiUrl: `${simulator.url}/api` },
          sharding: { shardsPerPod: 2 },
        },
      });
      createdAt.set(name, sent);
      acceptedAt.set(name, performance.now());
    }),
  );
  await waitUntil(() => names.every((name) => statefulSetAt.has(name) && statusAt.has(name)), {
    timeoutMs: TIMEOUT_MS,
    intervalMs: 50,
    description: `${BOTS} StatefulSets and statuses`,
  });
  const convergedMs = performance.now() - applyStarted;
  // Let the reconciles that the operator's own writes trigger settle.
  await new Promise((resolve) => setTimeout(resolve, 2_000));
  const after = await readMetrics();

  const notLease = (line) => !line.includes('resource="leases"');
  const requests =
    metricSum(after, 'shardfleet_kube_requests_total', notLease) -
    metricSum(before, 'shardfleet_kube_requests_total', notLease);
  const writes =
    metricSum(
      after,
      'shardfleet_kube_requests_total',
      (line) => notLease(line) && /verb="(PATCH|POST|PUT|DELETE)"/.test(line),
    ) -
    metricSum(
      before,
      'shardfleet_kube_requests_total',
      (line) => notLease(line) && /verb="(PATCH|POST|PUT|DELETE)"/.test(line),
    );
  const writesByResource = {};
  for (const line of after.split('\n')) {
    const match =
      /^shardfleet_kube_requests_total\{.*verb="(PATCH|POST|PUT|DELETE)".*resource="([^"]+)"/.exec(line);
    if (match === null || match[2] === 'leases') continue;
    const name = `${match[1]} ${match[2]}`;
    writesByResource[name] = (writesByResource[name] ?? 0) + Number(line.split(' ').at(-1));
  }
  const reconciles =
    metricSum(after, 'shardfleet_reconcile_total') - metricSum(before, 'shardfleet_reconcile_total');
  const gatewayChecks =
    metricSum(after, 'shardfleet_gateway_checks_total') -
    metricSum(before, 'shardfleet_gateway_checks_total');

  log(`steady state: ${STEADY_MS} ms (${values['steady-periods']} resync periods of ${RESYNC_MS} ms)`);
  await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
  const steady = await readMetrics();
  const steadyRequests =
    metricSum(steady, 'shardfleet_kube_requests_total', notLease) -
    metricSum(after, 'shardfleet_kube_requests_total', notLease);
  const steadyLease =
    metricSum(steady, 'shardfleet_kube_requests_total', (line) => !notLease(line)) -
    metricSum(after, 'shardfleet_kube_requests_total', (line) => !notLease(line));
  const steadyReconciles =
    metricSum(steady, 'shardfleet_reconcile_total') - metricSum(after, 'shardfleet_reconcile_total');
  const steadyGateway =
    metricSum(steady, 'shardfleet_gateway_checks_total') -
    metricSum(after, 'shardfleet_gateway_checks_total');

  const toStatefulSet = summary(names.map((name) => statefulSetAt.get(name) - createdAt.get(name)));
  const toStatus = summary(names.map((name) => statusAt.get(name) - createdAt.get(name)));
  const createRequest = summary(names.map((name) => acceptedAt.get(name) - createdAt.get(name)));
  const round = (value) => Math.round(value);
  const result = {
    date: new Date().toISOString(),
    bots: BOTS,
    convergedMs: round(convergedMs),
    applyToStatefulSetMs: {
      min: round(toStatefulSet.min),
      p50: round(toStatefulSet.p50),
      p99: round(toStatefulSet.p99),
      max: round(toStatefulSet.max),
    },
    applyToStatusMs: { p50: round(toStatus.p50), p99: round(toStatus.p99), max: round(toStatus.max) },
    createRequestMs: { p50: round(createRequest.p50), p99: round(createRequest.p99) },
    reconciles,
    apiRequests: requests,
    apiRequestsPerReconcile: Number((requests / reconciles).toFixed(2)),
    apiRequestsPerBot: Number((requests / BOTS).toFixed(2)),
    apiWritesPerBot: Number((writes / BOTS).toFixed(2)),
    writesByResource,
    gatewayChecks,
    steadyState: {
      ms: STEADY_MS,
      reconciles: steadyReconciles,
      apiRequests: steadyRequests,
      leaseRequests: steadyLease,
      gatewayChecks: steadyGateway,
    },
    totalSeconds: round((Date.now() - started) / 1_000),
  };
  console.log(`
operator benchmark: ${BOTS} DiscordBots created at once (Kubernetes 1.20.2 control plane, simulator as Discord)
  converged (all StatefulSets and statuses)   ${result.convergedMs} ms
  create -> StatefulSet     min ${result.applyToStatefulSetMs.min} ms   p50 ${result.applyToStatefulSetMs.p50} ms   p99 ${result.applyToStatefulSetMs.p99} ms   max ${result.applyToStatefulSetMs.max} ms
  create -> status written  p50 ${result.applyToStatusMs.p50} ms   p99 ${result.applyToStatusMs.p99} ms   max ${result.applyToStatusMs.max} ms
  (the create requests themselves: p50 ${result.createRequestMs.p50} ms   p99 ${result.createRequestMs.p99} ms)
  reconciles ${reconciles}; API requests ${requests} (${result.apiRequestsPerReconcile} per reconcile, ${result.apiRequestsPerBot} per bot, ${result.apiWritesPerBot} writes per bot); GET /gateway/bot ${gatewayChecks}
  writes: ${Object.entries(writesByResource)
    .map(([name, count]) => `${name} ${count}`)
    .join(', ')}
  steady state (${STEADY_MS} ms): ${steadyReconciles} reconciles, ${steadyRequests} API requests, ${steadyLease} lease requests, ${steadyGateway} gateway checks`);
  console.log(JSON.stringify(result));
} finally {
  for (const controller of watches) controller.abort();
  if (operator && operator.exitCode === null) {
    operator.kill('SIGTERM');
    await new Promise((resolve) => operator.once('exit', resolve));
  }
  kube.close();
  await simulator.close();
  await controlPlane.stop();
}
