// The operator as a real process against a real kube-apiserver, etcd and kube-controller-manager
// (Kubernetes 1.20, from the project's cluster scripts) with the simulator as Discord. One control
// plane for the whole file; each scenario uses its own DiscordBot. Pods stay Pending (no node),
// so readiness counting is covered by the unit tests.
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { type RunningSimulator, startSimulator } from '@shardfleet/simulator';
import { freePort, ProgramProcess, waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { type ControlPlane, startControlPlane } from '../../../e2e/cluster/index.mjs';
import { discordBotCrd } from '../crd/discordBotCrd.js';
import type { Condition, DiscordBotStatus } from '../crd/discordBotStatusSchema.js';
import { KubeApiError } from '../kube/KubeApiError.js';
import { KubeClient } from '../kube/KubeClient.js';
import {
  DEPLOYMENTS,
  DISCORD_BOTS,
  PODS,
  podDisruptionBudgets,
  type ResourceType,
  resourcePath,
  SECRETS,
  SERVICES,
  STATEFUL_SETS,
} from '../kube/resources.js';

const OPERATOR_BIN = fileURLToPath(new URL('../../bin/shardfleet-operator.js', import.meta.url));
const OPERATOR_DIST = fileURLToPath(new URL('../../dist/cli.js', import.meta.url));
const RBAC_FILE = fileURLToPath(new URL('../../deploy/rbac.yaml', import.meta.url));
const OPERATOR_NAMESPACE = 'shardfleet-system';
const NAMESPACE = 'bots';
const RESYNC_MS = 1_500;
const LEASE_MS = 4_000;
const WAIT = { timeoutMs: 90_000, intervalMs: 200 };
const SIMULATOR_TOKEN = 'simulator-token';

type Bot = KubernetesObject & { spec: Record<string, unknown>; status?: DiscordBotStatus };
type Pod = KubernetesObject & { spec: { containers: { env: { name: string; value?: string }[] }[] } };
type StatefulSet = KubernetesObject & { spec: { replicas: number; template: Pod } };

let controlPlane: ControlPlane;
let kube: KubeClient;
let simulator: RunningSimulator;
let apiUrl: string;
let leaderPort: number;
// The operator runs as the ServiceAccount of operator/deploy/rbac.yaml: the tests prove that RBAC is enough.
let operatorKubeconfig: string;
const operators: ProgramProcess[] = [];

function path(type: ResourceType, name?: string): string {
  return resourcePath(type, NAMESPACE, name);
}

async function startOperator(
  extraEnv: Record<string, string> = {},
): Promise<{ process: ProgramProcess; port: number }> {
  const port = await freePort();
  const operator = new ProgramProcess(process.execPath, [OPERATOR_BIN], {
    env: {
      PATH: process.env.PATH,
      KUBECONFIG: operatorKubeconfig,
      PORT: String(port),
      LEADER_ELECT: 'true',
      LEASE_NAMESPACE: OPERATOR_NAMESPACE,
      LEASE_DURATION_MS: String(LEASE_MS),
      RESYNC_INTERVAL_MS: String(RESYNC_MS),
      GATEWAY_RECHECK_INTERVAL_MS: '600000',
      SHARD_IMAGE: 'localhost/shardfleet-shard:test',
      REST_PROXY_IMAGE: 'localhost/shardfleet-rest-proxy:test',
      LOG_LEVEL: 'info',
      ...extraEnv,
    },
  });
  operators.push(operator);
  await operator.waitForLine(/"msg":"listening"/, 30_000);
  return { process: operator, port };
}

async function metrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

function metricSum(text: string, name: string, labels: RegExp = /.*/): number {
  return text
    .split('\n')
    .filter((line) => line.startsWith(name) && labels.test(line))
    .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
}

async function putSecret(name: string, token: string): Promise<void> {
  await kube.apply(path(SECRETS, name), {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: NAMESPACE },
    data: { token: Buffer.from(token).toString('base64') },
  });
}

async function createBot(name: string, spec: Record<string, unknown>): Promise<Bot> {
  return kube.create<Bot>(path(DISCORD_BOTS), {
    apiVersion: DISCORD_BOTS.apiVersion,
    kind: 'DiscordBot',
    metadata: { name, namespace: NAMESPACE },
    spec: { redis: { url: 'redis://redis.bots.svc:6379' }, discord: { apiUrl }, ...spec },
  });
}

async function getBot(name: string): Promise<Bot | undefined> {
  return kube.get<Bot>(path(DISCORD_BOTS, name));
}

function condition(bot: Bot | undefined, type: string): Condition | undefined {
  return bot?.status?.conditions?.find((candidate) => candidate.type === type);
}

async function waitForCondition(name: string, type: string, status: string, reason: string): Promise<Bot> {
  return waitUntil(
    async () => {
      const bot = await getBot(name);
      const found = condition(bot, type);
      return found?.status === status &&
        found.reason === reason &&
        found.observedGeneration === bot?.metadata?.generation
        ? bot
        : undefined;
    },
    { ...WAIT, description: `${name}: condition ${type}=${status} (${reason})` },
  );
}

function envOf(statefulSet: StatefulSet): Record<string, unknown> {
  const [container] = statefulSet.spec.template.spec.containers;
  return Object.fromEntries(
    (container?.env ?? []).map((item) => [
      item.name,
      item.value ?? (item as { valueFrom?: unknown }).valueFrom,
    ]),
  );
}

async function children(name: string): Promise<Record<string, string | undefined>> {
  const pdb = podDisruptionBudgets('policy/v1beta1');
  const entries: [string, string][] = [
    ['StatefulSet', path(STATEFUL_SETS, `${name}-shards`)],
    ['Service/shards', path(SERVICES, `${name}-shards`)],
    ['Deployment/rest-proxy', path(DEPLOYMENTS, `${name}-rest-proxy`)],
    ['Service/rest-proxy', path(SERVICES, `${name}-rest-proxy`)],
    ['Secret/proxy-auth', path(SECRETS, `${name}-proxy-auth`)],
    ['PodDisruptionBudget', path(pdb, `${name}-shards`)],
  ];
  const versions = await Promise.all(
    entries.map(
      async ([, objectPath]) => (await kube.get<KubernetesObject>(objectPath))?.metadata?.resourceVersion,
    ),
  );
  return Object.fromEntries(entries.map(([label], index) => [label, versions[index]]));
}

// Writes of anything but the Lease (label order as prom-client prints it: verb, resource, code).
const WRITES = /verb="(PATCH|POST|PUT|DELETE)",resource="(?!leases")/;

async function operatorWrites(): Promise<number> {
  return metricSum(await metrics(leaderPort), 'shardfleet_kube_requests_total', WRITES);
}

// The StatefulSet controller writes the StatefulSet's status while it creates pods.
type Workload = KubernetesObject & {
  spec: { replicas?: number };
  status?: { observedGeneration?: number; replicas?: number; updatedReplicas?: number };
};

// The controller-manager writes a workload's status until it has made its pods; only then does a
// resourceVersion that moves mean the operator wrote.
async function waitForSettledWorkloads(name: string): Promise<void> {
  for (const workloadPath of [
    path(STATEFUL_SETS, `${name}-shards`),
    path(DEPLOYMENTS, `${name}-rest-proxy`),
  ]) {
    await waitUntil(
      async () => {
        const current = await kube.get<Workload>(workloadPath);
        return (
          current !== undefined &&
          current.status?.observedGeneration === current.metadata?.generation &&
          current.status?.replicas === current.spec.replicas &&
          current.status?.updatedReplicas === current.spec.replicas
        );
      },
      { ...WAIT, description: `${workloadPath} settled` },
    );
  }
}

// Several resync periods with nothing to do: no write of the operator, and no resourceVersion moves.
async function expectNoChurn(name: string): Promise<void> {
  const before = {
    bot: (await getBot(name))?.metadata?.resourceVersion,
    children: await children(name),
    writes: await operatorWrites(),
  };
  await new Promise((resolve) => setTimeout(resolve, RESYNC_MS * 4));
  const after = {
    bot: (await getBot(name))?.metadata?.resourceVersion,
    children: await children(name),
    writes: await operatorWrites(),
  };
  expect(after).toEqual(before);
}

const RBAC_PATHS: Record<string, (namespace?: string) => string> = {
  ServiceAccount: (namespace) => `/api/v1/namespaces/${namespace}/serviceaccounts`,
  ClusterRole: () => '/apis/rbac.authorization.k8s.io/v1/clusterroles',
  ClusterRoleBinding: () => '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings',
  Role: (namespace) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/roles`,
  RoleBinding: (namespace) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}/rolebindings`,
};

/** Installs the operator's RBAC and returns a kubeconfig with its ServiceAccount's token. */
async function operatorCredentials(): Promise<string> {
  await kube.create('/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: OPERATOR_NAMESPACE },
  });
  for (const document of parseAllDocuments(await readFile(RBAC_FILE, 'utf8'))) {
    const object = document.toJS() as KubernetesObject;
    const toPath = RBAC_PATHS[object.kind ?? ''];
    if (toPath === undefined) throw new Error(`no path for ${object.kind}`);
    await kube.create(toPath(object.metadata?.namespace), object);
  }
  // Kubernetes 1.20 makes a token Secret for every ServiceAccount.
  const token = await waitUntil(
    async () => {
      const secrets = await kube.list<KubernetesObject & { type?: string; data?: Record<string, string> }>(
        `/api/v1/namespaces/${OPERATOR_NAMESPACE}/secrets`,
      );
      const secret = secrets.items.find(
        (item) =>
          item.type === 'kubernetes.io/service-account-token' &&
          item.metadata?.annotations?.['kubernetes.io/service-account.name'] === 'shardfleet-operator',
      );
      return secret?.data?.token === undefined
        ? undefined
        : Buffer.from(secret.data.token, 'base64').toString();
    },
    { ...WAIT, description: 'the operator ServiceAccount token' },
  );
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [
      {
        name: 'test',
        server: controlPlane.server,
        caData: Buffer.from(controlPlane.caCertificate).toString('base64'),
      },
    ],
    users: [{ name: 'shardfleet-operator', token }],
    contexts: [{ name: 'test', cluster: 'test', user: 'shardfleet-operator' }],
    currentContext: 'test',
  });
  const file = join(controlPlane.dir, 'operator.kubeconfig');
  await writeFile(file, kubeConfig.exportConfig(), { mode: 0o600 });
  return file;
}

beforeAll(async () => {
  if (!existsSync(OPERATOR_DIST)) throw new Error(`${OPERATOR_DIST} is missing: run \`npm run build\` first`);
  // The first run builds Kubernetes from Debian's source package (minutes); later runs reuse it.
  controlPlane = await startControlPlane();
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
  kube = new KubeClient(kubeConfig);
  simulator = await startSimulator({ guilds: 5_000 });
  apiUrl = `${simulator.url}/api`;
  await kube.create('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', discordBotCrd());
  await kube.create('/api/v1/namespaces', {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: { name: NAMESPACE },
  });
  await waitUntil(async () => (await kube.list(path(DISCORD_BOTS))).items !== undefined, {
    ...WAIT,
    description: 'the DiscordBot resource to be served',
  });
  await putSecret('fleet-token', SIMULATOR_TOKEN);
  operatorKubeconfig = await operatorCredentials();
  leaderPort = (await startOperator()).port;
}, 900_000);

afterAll(async () => {
  await Promise.all(operators.map((operator) => operator.stop('SIGTERM', 10_000)));
  kube?.close();
  await simulator?.close();
  await controlPlane?.stop();
}, 120_000);

describe('the DiscordBot operator against a real kube-apiserver', { timeout: 180_000 }, () => {
  it('has the API server refuse an invalid DiscordBot, naming the field', async () => {
    const error = await createBot('invalid', {
      tokenSecretRef: { name: 'fleet-token' },
      sharding: { shardsPerPod: 0 },
    }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(KubeApiError);
    expect((error as KubeApiError).status).toBe(422);
    expect((error as KubeApiError).message).toContain('spec.sharding.shardsPerPod');
  });

  it('runs 5 shards in 3 pods for 5,000 guilds at 2 shards per pod, with the contract environment', async () => {
    const bot = await createBot('fleet', {
      tokenSecretRef: { name: 'fleet-token' },
      sharding: { shardsPerPod: 2 },
      intents: ['Guilds', 'GuildMessages'],
    });
    const statefulSet = await waitUntil(() => kube.get<StatefulSet>(path(STATEFUL_SETS, 'fleet-shards')), {
      ...WAIT,
      description: 'the StatefulSet fleet-shards',
    });
    expect(statefulSet.spec.replicas).toBe(3);
    expect(statefulSet.metadata?.ownerReferences?.[0]).toMatchObject({
      kind: 'DiscordBot',
      name: 'fleet',
      uid: bot.metadata?.uid,
      controller: true,
    });
    expect(envOf(statefulSet)).toMatchObject({
      SHARDFLEET_BOT: 'bots.fleet',
      DISCORD_TOKEN: { secretKeyRef: { name: 'fleet-token', key: 'token' } },
      DISCORD_API_URL: apiUrl,
      SHARD_COUNT: '5',
      SHARDS_PER_POD: '2',
      POD_NAME: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } },
      INTENTS: String(1 | 512),
      REDIS_URL: 'redis://redis.bots.svc:6379',
      PORT: '8080',
    });
    expect(JSON.stringify(statefulSet)).not.toContain(SIMULATOR_TOKEN);

    const running = await waitForCondition('fleet', 'TokenValid', 'True', 'TokenAccepted');
    const status = (await waitForCondition('fleet', 'Progressing', 'True', 'ShardsStarting')).status!;
    expect(status).toMatchObject({
      shards: 5,
      shardsPerPod: 2,
      replicas: 3,
      readyShards: 0,
      phase: 'Provisioning',
    });
    expect(status.gateway).toMatchObject({ recommendedShards: 5, maxConcurrency: 1 });
    expect(condition(running, 'Ready')).toMatchObject({ status: 'False', reason: 'ShardsNotReady' });
    expect(condition(running, 'Degraded')).toMatchObject({ status: 'False' });

    const versions = await children('fleet');
    expect(Object.entries(versions).filter(([, version]) => version === undefined)).toEqual([]);
    // The StatefulSet controller makes the pods (Pending: there is no node).
    await waitUntil(
      async () => {
        const pods = await kube.list<KubernetesObject>(path(PODS), {
          labelSelector: 'app.kubernetes.io/instance=fleet,app.kubernetes.io/component=shard',
        });
        return pods.items.length === 3;
      },
      { ...WAIT, description: '3 shard pods' },
    );
    const events = await kube.list<
      KubernetesObject & { reason?: string; involvedObject?: { name?: string } }
    >(resourcePath({ apiVersion: 'v1', kind: 'Event', plural: 'events' }, NAMESPACE));
    expect(
      events.items.some((event) => event.involvedObject?.name === 'fleet' && event.reason === 'Applied'),
    ).toBe(true);
  });

  it('makes no writes while nothing changes', async () => {
    await waitForSettledWorkloads('fleet');
    await expectNoChurn('fleet');
  });

  it('updates the StatefulSet when shardsPerPod changes', async () => {
    await kube.request(
      'PATCH',
      path(DISCORD_BOTS, 'fleet'),
      JSON.stringify({ spec: { sharding: { shardsPerPod: 5 } } }),
      'application/merge-patch+json',
    );
    const statefulSet = await waitUntil(
      async () => {
        const current = await kube.get<StatefulSet>(path(STATEFUL_SETS, 'fleet-shards'));
        return current?.spec.replicas === 1 ? current : undefined;
      },
      { ...WAIT, description: 'the StatefulSet at 1 replica' },
    );
    expect(envOf(statefulSet)).toMatchObject({ SHARD_COUNT: '5', SHARDS_PER_POD: '5' });
    const bot = await waitForCondition('fleet', 'Progressing', 'True', 'ShardsStarting');
    expect(bot.status).toMatchObject({
      shards: 5,
      shardsPerPod: 5,
      replicas: 1,
      observedGeneration: bot.metadata?.generation,
    });
  });

  it('runs the bot pods from spec.bot, and removes them when spec.bot goes', async () => {
    await kube.request(
      'PATCH',
      path(DISCORD_BOTS, 'fleet'),
      JSON.stringify({ spec: { bot: { image: 'example/bot:1', replicas: 2 } } }),
      'application/merge-patch+json',
    );
    const deployment = await waitUntil(() => kube.get<StatefulSet>(path(DEPLOYMENTS, 'fleet-bot')), {
      ...WAIT,
      description: 'the Deployment fleet-bot',
    });
    expect(deployment.spec.replicas).toBe(2);
    expect(envOf(deployment)).toMatchObject({
      SHARDFLEET_BOT: 'bots.fleet',
      REST_PROXY_URL: 'http://fleet-rest-proxy.bots.svc:8080',
      REST_PROXY_TOKEN: { secretKeyRef: { name: 'fleet-proxy-auth', key: 'token' } },
      CONSUMER_GROUP: 'bot',
    });
    await kube.request(
      'PATCH',
      path(DISCORD_BOTS, 'fleet'),
      JSON.stringify({ spec: { bot: null } }),
      'application/merge-patch+json',
    );
    await waitUntil(async () => (await kube.get(path(DEPLOYMENTS, 'fleet-bot'))) === undefined, {
      ...WAIT,
      description: 'the Deployment fleet-bot to be deleted',
    });
  });

  it('reports a refused token and leaves the children alone', async () => {
    await waitForSettledWorkloads('fleet');
    const before = await children('fleet');
    await putSecret('fleet-token', 'a-token-discord-refuses');
    await waitForCondition('fleet', 'TokenValid', 'False', 'InvalidToken');
    const bot = await waitForCondition('fleet', 'Ready', 'False', 'InvalidToken');
    expect(bot.status?.phase).toBe('Failed');
    expect(await children('fleet')).toEqual(before);
    await expectNoChurn('fleet');
    await putSecret('fleet-token', SIMULATOR_TOKEN);
    await waitForCondition('fleet', 'TokenValid', 'True', 'TokenAccepted');
  });

  it('reports a missing Secret without churn, and reconciles when it appears', async () => {
    await createBot('late', { tokenSecretRef: { name: 'late-token' }, sharding: { shardsPerPod: 2 } });
    const bot = await waitForCondition('late', 'TokenValid', 'False', 'SecretNotFound');
    expect(condition(bot, 'TokenValid')?.message).toContain('"late-token"');
    expect(bot.status?.phase).toBe('Pending');
    expect(await kube.get(path(STATEFUL_SETS, 'late-shards'))).toBeUndefined();
    await expectNoChurn('late');
    await putSecret('late-token', SIMULATOR_TOKEN);
    await waitForCondition('late', 'TokenValid', 'True', 'TokenAccepted');
    await waitUntil(() => kube.get(path(STATEFUL_SETS, 'late-shards')), {
      ...WAIT,
      description: 'late-shards',
    });
  });

  it('reports an unreachable Discord as Degraded', async () => {
    const closedPort = await freePort();
    await createBot('offline', {
      tokenSecretRef: { name: 'fleet-token' },
      discord: { apiUrl: `http://127.0.0.1:${closedPort}/api` },
    });
    const bot = await waitForCondition('offline', 'Degraded', 'True', 'DiscordUnreachable');
    expect(bot.status?.phase).toBe('Degraded');
    expect(await kube.get(path(STATEFUL_SETS, 'offline-shards'))).toBeUndefined();
  });

  it('holds a rollout the identify budget cannot pay for', async () => {
    const poor = await startSimulator({ guilds: 5_000, sessionLimit: 3 });
    try {
      await createBot('poor', {
        tokenSecretRef: { name: 'fleet-token' },
        discord: { apiUrl: `${poor.url}/api` },
      });
      const bot = await waitForCondition('poor', 'Progressing', 'False', 'InsufficientIdentifyBudget');
      expect(condition(bot, 'Progressing')?.message).toContain('needs 5 identifies');
      expect(await kube.get(path(STATEFUL_SETS, 'poor-shards'))).toBeUndefined();
      await kube.request('DELETE', path(DISCORD_BOTS, 'poor'));
    } finally {
      await poor.close();
    }
  });

  it('accepts a spec the schema allows but Discord does not, and names the field', async () => {
    await createBot('typo', { tokenSecretRef: { name: 'fleet-token' }, intents: ['Guilds', 'GuildMesages'] });
    const bot = await waitForCondition('typo', 'Ready', 'False', 'InvalidSpec');
    expect(condition(bot, 'Ready')?.message).toMatch(/spec\.intents.*GuildMesages/);
  });

  it("refuses to take over an object of another owner that has a child's name", async () => {
    const foreign = {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: 'clash-proxy-auth', namespace: NAMESPACE },
      stringData: { token: 'theirs' },
    };
    await kube.request(
      'POST',
      `${path(SECRETS)}?fieldManager=someone-else`,
      JSON.stringify(foreign),
      'application/json',
    );
    const before = await kube.get<KubernetesObject & { data?: Record<string, string> }>(
      path(SECRETS, 'clash-proxy-auth'),
    );
    await createBot('clash', { tokenSecretRef: { name: 'fleet-token' } });
    const bot = await waitForCondition('clash', 'Ready', 'False', 'ChildConflict');
    expect(condition(bot, 'Ready')?.message).toContain(
      'Secret/clash-proxy-auth: taken by an object shardfleet does not manage',
    );
    expect(await kube.get(path(STATEFUL_SETS, 'clash-shards'))).toBeUndefined();
    const after = await kube.get<KubernetesObject & { data?: Record<string, string> }>(
      path(SECRETS, 'clash-proxy-auth'),
    );
    expect(after?.data).toEqual(before?.data);
    expect(Buffer.from(after?.data?.token ?? '', 'base64').toString()).toBe('theirs');
  });

  it('removes the children with the DiscordBot (garbage collection)', async () => {
    await waitUntil(() => kube.get(path(STATEFUL_SETS, 'late-shards')), {
      ...WAIT,
      description: 'late-shards',
    });
    await kube.request('DELETE', path(DISCORD_BOTS, 'late'));
    await waitUntil(
      async () => Object.values(await children('late')).every((version) => version === undefined),
      { ...WAIT, description: 'the children of "late" to be deleted' },
    );
  });

  it('lets only the leader write when two replicas run, and fails over', async () => {
    const [leader] = operators;
    const standby = await startOperator();
    await waitUntil(
      async () => metricSum(await metrics(standby.port), 'shardfleet_operator_leader') === 0 || undefined,
      {
        ...WAIT,
        description: 'the second replica standing by',
      },
    );
    await createBot('second', { tokenSecretRef: { name: 'fleet-token' } });
    await waitUntil(() => kube.get(path(STATEFUL_SETS, 'second-shards')), {
      ...WAIT,
      description: 'second-shards',
    });
    const standbyMetrics = await metrics(standby.port);
    expect(metricSum(standbyMetrics, 'shardfleet_reconcile_total')).toBe(0);
    // Only the Lease: no apply, create or delete of anything else.
    expect(metricSum(standbyMetrics, 'shardfleet_kube_requests_total', WRITES)).toBe(0);
    expect(standby.process.output).toMatch(/waiting for the lease/);
    expect(standby.process.output).not.toMatch(/became the leader/);

    await leader!.stop('SIGTERM', 10_000);
    await standby.process.waitForLine(/became the leader/, 60_000);
    await createBot('third', { tokenSecretRef: { name: 'fleet-token' } });
    await waitUntil(() => kube.get(path(STATEFUL_SETS, 'third-shards')), {
      ...WAIT,
      description: 'third-shards',
    });
  });

  it('takes over from a leader that dies without releasing the lease', async () => {
    const leader = operators[1]!;
    const standby = await startOperator();
    await standby.process.waitForLine(/waiting for the lease/, 30_000);
    // SIGKILL: no release; the standby must wait for the lease to expire.
    await leader.stop('SIGKILL', 5_000);
    await standby.process.waitForLine(/became the leader/, 60_000);
    await createBot('fourth', { tokenSecretRef: { name: 'fleet-token' } });
    await waitUntil(() => kube.get(path(STATEFUL_SETS, 'fourth-shards')), {
      ...WAIT,
      description: 'fourth-shards',
    });
  });

  it('never logs a token', () => {
    const output = operators.map((operator) => operator.output).join('\n');
    expect(output).toMatch(/applied children/);
    expect(output).not.toContain(SIMULATOR_TOKEN);
    expect(output).not.toContain('a-token-discord-refuses');
  });
});
