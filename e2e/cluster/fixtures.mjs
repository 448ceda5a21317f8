// The end-to-end test's fixtures inside the cluster: Redis and the Discord simulator, each a
// Deployment behind a Service of the same name, so the operator's children find them by name
// (`redis.<namespace>.svc.cluster.local`, `simulator.<namespace>.svc.cluster.local`) as they
// would find a real Redis and reach Discord. Images come from `npm run images:build`; nothing is
// pulled. Beside them: the operator as `operator/deploy/` installs it, with the e2e images, and the
// bot the spec runs (its token Secret and DiscordBot).
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { renderChart } from '../helm/index.mjs';
import { imageName, imageRepository, IMAGE_TAG } from '../images/imageDefinitions.mjs';

/** The token the simulator accepts: a test value (`--token`), not a secret. */
export const SIMULATOR_TOKEN = 'simulator-token';
/** The simulator's one port: REST under `/api/v10`, the gateway at `/`, the control API under `/_sim`. */
export const SIMULATOR_PORT = 8787;
/** The namespace `operator/deploy/` installs the operator in. */
export const OPERATOR_NAMESPACE = 'shardfleet-system';
/** `apiVersion` of the DiscordBot resource. */
export const DISCORD_BOT_API_VERSION = 'shardfleet.dev/v1alpha1';

/**
 * Waits until the CustomResourceDefinition `name` is established (its resources are served);
 * rejects after `timeoutMs` with the conditions last seen.
 */
export async function waitForCrdEstablished(extensions, name, { timeoutMs = 60_000 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await extensions.readCustomResourceDefinition({ name });
    const conditions = status?.conditions ?? [];
    if (conditions.some(({ type, status: value }) => type === 'Established' && value === 'True')) return;
    if (Date.now() > deadline) {
      throw new Error(
        `the CRD ${name} is not established after ${timeoutMs} ms: ${JSON.stringify(conditions)}`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

export const DefaultFixtureOptions = Object.freeze({
  guilds: 3_000,
  maxConcurrency: 2,
});

/** Restricted pod security: what every fixture container runs with. */
const restricted = Object.freeze({
  runAsNonRoot: true,
  runAsUser: 1000,
  allowPrivilegeEscalation: false,
  readOnlyRootFilesystem: true,
  capabilities: { drop: ['ALL'] },
  seccompProfile: { type: 'RuntimeDefault' },
});

function deploymentWithService({ namespace, name, image, args, port, readinessPath, writablePath }) {
  const labels = { 'app.kubernetes.io/name': name, 'app.kubernetes.io/part-of': 'shardfleet-e2e' };
  return [
    {
      apiVersion: 'apps/v1',
      kind: 'Deployment',
      metadata: { name, namespace, labels },
      spec: {
        replicas: 1,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            automountServiceAccountToken: false,
            containers: [
              {
                name,
                image,
                imagePullPolicy: 'Never',
                args,
                // `protocol` spelled out: Kubernetes 1.20's server-side apply refuses a port list
                // whose elements omit a key field of the list ("omits key field protocol").
                ports: [{ name: 'main', containerPort: port, protocol: 'TCP' }],
                readinessProbe: readinessPath
                  ? { httpGet: { path: readinessPath, port }, periodSeconds: 2 }
                  : { tcpSocket: { port }, periodSeconds: 2 },
                securityContext: restricted,
                volumeMounts: [{ name: 'writable', mountPath: writablePath }],
              },
            ],
            volumes: [{ name: 'writable', emptyDir: {} }],
          },
        },
      },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace, labels },
      spec: { selector: labels, ports: [{ name: 'main', port, targetPort: port, protocol: 'TCP' }] },
    },
  ];
}

/**
 * Redis and the simulator for one end-to-end namespace. The simulator tells clients its Service
 * name as its public URL, so `/gateway/bot` sends shard pods to `ws://simulator.<namespace>...`.
 *
 * @param {import('./fixtures.d.mts').FixtureOptions} options
 * @returns {Record<string, unknown>[]}
 */
export function fixtureManifests(options) {
  const { namespace, guilds, maxConcurrency } = { ...DefaultFixtureOptions, ...options };
  const simulatorUrl = simulatorServiceUrl(namespace);
  return [
    ...deploymentWithService({
      namespace,
      name: 'redis',
      image: imageName('redis'),
      // The image's entrypoint binds 0.0.0.0:6379 and keeps its files in /tmp.
      args: [],
      port: 6379,
      writablePath: '/tmp',
    }),
    ...deploymentWithService({
      namespace,
      name: 'simulator',
      image: imageName('simulator'),
      args: [
        '--host',
        '0.0.0.0',
        '--port',
        String(SIMULATOR_PORT),
        '--public-url',
        simulatorUrl,
        '--token',
        SIMULATOR_TOKEN,
        '--guilds',
        String(guilds),
        '--max-concurrency',
        String(maxConcurrency),
      ],
      port: SIMULATOR_PORT,
      readinessPath: '/_sim/stats',
      writablePath: '/tmp',
    }),
  ];
}

/** The simulator's URL inside the cluster (its Service name). */
export function simulatorServiceUrl(namespace) {
  return `http://simulator.${namespace}.svc.cluster.local:${SIMULATOR_PORT}`;
}

const OPERATOR_DEPLOY_DIR = fileURLToPath(new URL('../../operator/deploy/', import.meta.url));

/**
 * The objects of `operator/deploy/` in its kustomization's order (what `kubectl apply -k` would
 * apply), with the e2e images: the operator container runs `localhost/shardfleet/operator:e2e`
 * (`imagePullPolicy: Never`), and `SHARD_IMAGE` and `REST_PROXY_IMAGE` name the e2e shard and
 * proxy images. The objects are client-node models (`loadAllYaml`), so `KubernetesObjectApi`
 * serialises them back exactly, `x-kubernetes-*` schema fields of the CRD included (a plain object
 * would lose those: the serializer reads the models' camelCase property names).
 *
 * @param {import('./fixtures.d.mts').OperatorManifestOptions} [options]
 * @returns {k8s.KubernetesObject[]}
 */
export function operatorManifests(options = {}) {
  const { replicas, operatorImage, shardImage, restProxyImage, logLevel } = {
    replicas: 1,
    operatorImage: imageName('operator'),
    shardImage: imageName('shard'),
    restProxyImage: imageName('rest-proxy'),
    logLevel: 'info',
    ...options,
  };
  /** @type {{ resources?: string[] }} */
  const kustomization = k8s.loadYaml(readFileSync(`${OPERATOR_DEPLOY_DIR}kustomization.yaml`, 'utf8'));
  const objects = (kustomization.resources ?? []).flatMap((file) =>
    k8s.loadAllYaml(readFileSync(`${OPERATOR_DEPLOY_DIR}${file}`, 'utf8')).filter(Boolean),
  );
  const deployment = objects.find((object) => object.kind === 'Deployment');
  const container = deployment?.spec?.template?.spec?.containers?.find(({ name }) => name === 'operator');
  if (!container) throw new Error(`${OPERATOR_DEPLOY_DIR}: no Deployment with an "operator" container`);
  deployment.spec.replicas = replicas;
  container.image = operatorImage;
  container.imagePullPolicy = 'Never';
  const overrides = { SHARD_IMAGE: shardImage, REST_PROXY_IMAGE: restProxyImage, LOG_LEVEL: logLevel };
  for (const [name, value] of Object.entries(overrides)) {
    const variable = container.env?.find((candidate) => candidate.name === name);
    // A renamed variable must not leave the e2e run on the released images unnoticed.
    if (!variable) throw new Error(`${OPERATOR_DEPLOY_DIR}deployment.yaml: the operator has no ${name}`);
    variable.value = value;
  }
  return objects;
}

const CHART_DIR = fileURLToPath(new URL('../../charts/shardfleet/', import.meta.url));
const MONITORING_CRDS = fileURLToPath(new URL('monitoring-crds.yaml', import.meta.url));

/**
 * The chart's objects as `helm install shardfleet charts/shardfleet -n shardfleet-system` would
 * create them (rendered by `helm template`, or the local renderer without helm), with the e2e
 * images and every monitoring object on. Client-node models, like {@link operatorManifests}.
 *
 * @param {import('./fixtures.d.mts').ChartManifestOptions} [options]
 * @returns {Promise<k8s.KubernetesObject[]>}
 */
export async function chartManifests(options = {}) {
  const { replicas } = { replicas: 1, ...options };
  const localImage = (name) => ({ repository: imageRepository(name), tag: IMAGE_TAG });
  const { manifests } = await renderChart({
    chartDir: CHART_DIR,
    releaseName: 'shardfleet',
    namespace: OPERATOR_NAMESPACE,
    apiVersions: ['monitoring.coreos.com/v1'],
    values: {
      replicaCount: replicas,
      image: { ...localImage('operator'), pullPolicy: 'Never' },
      defaultImages: { shard: localImage('shard'), restProxy: localImage('rest-proxy') },
      monitoring: {
        serviceMonitor: { enabled: true },
        podMonitor: { enabled: true },
        prometheusRule: { enabled: true },
        dashboards: { enabled: true },
      },
    },
  });
  return k8s.loadAllYaml(manifests).filter(Boolean);
}

/**
 * Minimal CustomResourceDefinitions of the Prometheus Operator's ServiceMonitor, PodMonitor and
 * PrometheusRule, so the chart's monitoring objects can be created where that operator is absent.
 *
 * @returns {k8s.KubernetesObject[]}
 */
export function monitoringCrdManifests() {
  return k8s.loadAllYaml(readFileSync(MONITORING_CRDS, 'utf8')).filter(Boolean);
}

/**
 * The bot the end-to-end spec runs in `namespace`: its token Secret (`<name>-token`, the
 * simulator's token) and a DiscordBot sized automatically from the simulator's `/gateway/bot`,
 * with Redis and the simulator of {@link fixtureManifests} by Service name, the e2e bot image (the
 * example bot) and the intents it needs to read `!test-command`.
 *
 * @param {import('./fixtures.d.mts').BotManifestOptions} options
 * @returns {Record<string, unknown>[]}
 */
export function botManifests(options) {
  const { namespace, name, shardsPerPod, botReplicas, restProxyReplicas } = {
    name: 'fleet',
    shardsPerPod: 2,
    botReplicas: 2,
    restProxyReplicas: 1,
    ...options,
  };
  const tokenSecret = `${name}-token`;
  const labels = { 'app.kubernetes.io/part-of': 'shardfleet-e2e' };
  return [
    {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: tokenSecret, namespace, labels },
      type: 'Opaque',
      data: { token: Buffer.from(SIMULATOR_TOKEN).toString('base64') },
    },
    {
      apiVersion: DISCORD_BOT_API_VERSION,
      kind: 'DiscordBot',
      metadata: { name, namespace, labels },
      spec: {
        tokenSecretRef: { name: tokenSecret, key: 'token' },
        intents: ['Guilds', 'GuildMessages', 'MessageContent'],
        sharding: { shards: 'auto', shardsPerPod },
        redis: { url: `redis://redis.${namespace}.svc.cluster.local:6379` },
        discord: { apiUrl: `${simulatorServiceUrl(namespace)}/api` },
        restProxy: { replicas: restProxyReplicas },
        bot: { image: imageName('bot'), replicas: botReplicas },
      },
    },
  ];
}
