import { createHash, randomBytes } from 'node:crypto';
import type {
  KubernetesObject,
  V1Container,
  V1EnvVar,
  V1OwnerReference,
  V1PodSecurityContext,
  V1PodSpec,
  V1Probe,
  V1ResourceRequirements,
  V1SecurityContext,
} from '@kubernetes/client-node';
import type { FleetPlan } from '@shardfleet/protocol';
import type { DiscordBotSpec } from '../crd/discordBotSchema.js';
import { DISCORD_BOTS } from '../kube/resources.js';
import { APPLIED_HASH_ANNOTATION, childLabels, childNames, type Component, selectorLabels } from './names.js';

/** The port of every shardfleet program: health, readiness and metrics (`PORT`). */
export const PROGRAM_PORT = 8_080;
/** The key of the generated proxy secret. */
export const PROXY_AUTH_KEY = 'token';
/** Non-root user of every pod (the images' `USER`). */
export const RUN_AS_USER = 1_000;

/** What the desired children depend on besides the spec. */
export interface DesiredChildrenInput {
  readonly bot: { readonly name: string; readonly namespace: string; readonly uid: string };
  readonly spec: DiscordBotSpec;
  readonly intents: number;
  readonly plan: FleetPlan;
  readonly shardImage: string;
  readonly restProxyImage: string;
  /** `policy/v1` or `policy/v1beta1`, from discovery. */
  readonly pdbApiVersion: string;
  /** The proxy secret: the stored one, or one generated for this bot until the cache shows it. */
  readonly proxyAuthToken: string;
}

/** The children of a DiscordBot, each a complete object for server-side apply. */
export interface DesiredChildren {
  readonly proxyAuthSecret: KubernetesObject;
  readonly shardService: KubernetesObject;
  readonly shardStatefulSet: KubernetesObject;
  readonly shardDisruptionBudget: KubernetesObject;
  readonly restProxyDeployment: KubernetesObject;
  readonly restProxyService: KubernetesObject;
  /** `undefined` when the spec has no `bot`. */
  readonly botDeployment: KubernetesObject | undefined;
}

const DEFAULT_SHARD_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { memory: '512Mi' },
};
const DEFAULT_PROXY_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '50m', memory: '96Mi' },
  limits: { memory: '256Mi' },
};
const DEFAULT_BOT_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '100m', memory: '128Mi' },
  limits: { memory: '512Mi' },
};

const RESTRICTED_POD: V1PodSecurityContext = {
  runAsNonRoot: true,
  runAsUser: RUN_AS_USER,
  runAsGroup: RUN_AS_USER,
  fsGroup: RUN_AS_USER,
  seccompProfile: { type: 'RuntimeDefault' },
};
const RESTRICTED_CONTAINER: V1SecurityContext = {
  runAsNonRoot: true,
  readOnlyRootFilesystem: true,
  allowPrivilegeEscalation: false,
  privileged: false,
  capabilities: { drop: ['ALL'] },
};

function probe(path: string, failureThreshold: number): V1Probe {
  return { httpGet: { path, port: 'http' }, periodSeconds: 10, timeoutSeconds: 3, failureThreshold };
}

/** A container of a shardfleet program: restricted, with /tmp as the only writable place. */
function programContainer(
  name: string,
  image: string,
  env: V1EnvVar[],
  resources: V1ResourceRequirements | undefined,
): V1Container {
  return {
    name,
    image,
    env,
    ports: [{ name: 'http', containerPort: PROGRAM_PORT, protocol: 'TCP' }],
    readinessProbe: probe('/readyz', 3),
    livenessProbe: probe('/healthz', 6),
    resources,
    securityContext: RESTRICTED_CONTAINER,
    volumeMounts: [{ name: 'tmp', mountPath: '/tmp' }],
  };
}

function podSpec(container: V1Container, extra: Partial<V1PodSpec> = {}): V1PodSpec {
  return {
    automountServiceAccountToken: false,
    enableServiceLinks: false,
    securityContext: RESTRICTED_POD,
    terminationGracePeriodSeconds: 30,
    containers: [container],
    volumes: [{ name: 'tmp', emptyDir: { sizeLimit: '64Mi' } }],
    ...extra,
  };
}

function secretEnv(name: string, secret: string, key: string): V1EnvVar {
  return { name, valueFrom: { secretKeyRef: { name: secret, key } } };
}

function redisEnv(spec: DiscordBotSpec): V1EnvVar {
  const ref = spec.redis.urlSecretRef;
  return ref === undefined
    ? { name: 'REDIS_URL', value: spec.redis.url ?? '' }
    : secretEnv('REDIS_URL', ref.name, ref.key);
}

/** A digest of an object, stable across key order. */
export function digest(value: unknown): string {
  const canonical = (input: unknown): unknown => {
    if (Array.isArray(input)) return input.map(canonical);
    if (input !== null && typeof input === 'object') {
      return Object.fromEntries(
        Object.keys(input)
          .filter((key) => (input as Record<string, unknown>)[key] !== undefined)
          .sort()
          .map((key) => [key, canonical((input as Record<string, unknown>)[key])]),
      );
    }
    return input;
  };
  return createHash('sha256')
    .update(JSON.stringify(canonical(value)))
    .digest('hex')
    .slice(0, 32);
}

/**
 * Marks a child with the digest of its own content (secret values left out), so a later
 * reconcile skips the apply when the digest in the cache matches.
 */
function withAppliedHash<T extends KubernetesObject & { data?: unknown }>(object: T): T {
  const { data: _data, ...hashed } = object;
  const hash = digest(hashed);
  return {
    ...object,
    metadata: {
      ...object.metadata,
      annotations: { ...object.metadata?.annotations, [APPLIED_HASH_ANNOTATION]: hash },
    },
  };
}

function ownedMetadata(input: DesiredChildrenInput, name: string, component: Component | 'auth') {
  const owner: V1OwnerReference = {
    apiVersion: DISCORD_BOTS.apiVersion,
    kind: DISCORD_BOTS.kind,
    name: input.bot.name,
    uid: input.bot.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
  return {
    name,
    namespace: input.bot.namespace,
    labels: childLabels(input.bot.name, component),
    ownerReferences: [owner],
  };
}

/** The environment of a shard worker, per the architecture contract. */
export function shardEnv(input: DesiredChildrenInput): V1EnvVar[] {
  const { spec, plan } = input;
  const env: V1EnvVar[] = [
    { name: 'SHARDFLEET_BOT', value: `${input.bot.namespace}.${input.bot.name}` },
    secretEnv('DISCORD_TOKEN', spec.tokenSecretRef.name, spec.tokenSecretRef.key),
    { name: 'DISCORD_API_URL', value: spec.discord.apiUrl },
    { name: 'SHARD_COUNT', value: String(plan.shards) },
    { name: 'SHARDS_PER_POD', value: String(plan.shardsPerPod) },
    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
    { name: 'INTENTS', value: String(input.intents) },
    { name: 'EVENTS', value: spec.events.join(',') },
  ];
  if (spec.presence !== undefined) env.push({ name: 'PRESENCE', value: JSON.stringify(spec.presence) });
  env.push(redisEnv(spec), { name: 'PORT', value: String(PROGRAM_PORT) });
  if (spec.discord.identifyIntervalMs !== undefined) {
    env.push({ name: 'IDENTIFY_INTERVAL_MS', value: String(spec.discord.identifyIntervalMs) });
  }
  env.push({ name: 'STREAM_MAX_LENGTH', value: String(spec.stream.maxLength) });
  return env;
}

/** A fresh random proxy secret: 32 bytes, hex. */
export function newProxyAuthToken(): string {
  return randomBytes(32).toString('hex');
}

/** Every child of a DiscordBot (pure). */
export function desiredChildren(input: DesiredChildrenInput): DesiredChildren {
  const { spec, plan, bot } = input;
  const names = childNames(bot.name);
  const shardSelector = selectorLabels(bot.name, 'shard');
  const proxySelector = selectorLabels(bot.name, 'rest-proxy');
  const restProxyUrl = `http://${names.restProxy}.${bot.namespace}.svc:${PROGRAM_PORT}`;

  const proxyAuthSecret = withAppliedHash({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: ownedMetadata(input, names.proxyAuth, 'auth'),
    type: 'Opaque',
    data: { [PROXY_AUTH_KEY]: Buffer.from(input.proxyAuthToken).toString('base64') },
  });

  const shardService = withAppliedHash({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(input, names.shards, 'shard'),
    spec: {
      clusterIP: 'None',
      publishNotReadyAddresses: true,
      selector: shardSelector,
      ports: [{ name: 'http', port: PROGRAM_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  });

  const shardStatefulSet = withAppliedHash({
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: ownedMetadata(input, names.shards, 'shard'),
    spec: {
      serviceName: names.shards,
      replicas: plan.pods,
      podManagementPolicy: 'Parallel',
      updateStrategy: { type: 'RollingUpdate' },
      selector: { matchLabels: shardSelector },
      template: {
        metadata: { labels: childLabels(bot.name, 'shard') },
        spec: podSpec(
          programContainer(
            'shard',
            spec.shard.image ?? input.shardImage,
            shardEnv(input),
            spec.shard.resources ?? DEFAULT_SHARD_RESOURCES,
          ),
          {
            nodeSelector: spec.shard.nodeSelector,
            tolerations: spec.shard.tolerations,
            affinity: spec.shard.affinity,
          },
        ),
      },
    },
  });

  // One shard pod down at a time: every restarted pod spends identifies.
  const shardDisruptionBudget = withAppliedHash({
    apiVersion: input.pdbApiVersion,
    kind: 'PodDisruptionBudget',
    metadata: ownedMetadata(input, names.shards, 'shard'),
    spec: { maxUnavailable: 1, selector: { matchLabels: shardSelector } },
  });

  const restProxyDeployment = withAppliedHash({
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: ownedMetadata(input, names.restProxy, 'rest-proxy'),
    spec: {
      replicas: spec.restProxy.replicas,
      selector: { matchLabels: proxySelector },
      template: {
        metadata: { labels: childLabels(bot.name, 'rest-proxy') },
        spec: podSpec(
          programContainer(
            'rest-proxy',
            spec.restProxy.image ?? input.restProxyImage,
            [
              // Names the proxy's Redis keys after the bot, beside its other sf:{bot}:... keys.
              { name: 'SHARDFLEET_BOT', value: `${bot.namespace}.${bot.name}` },
              secretEnv('DISCORD_TOKEN', spec.tokenSecretRef.name, spec.tokenSecretRef.key),
              { name: 'DISCORD_API_URL', value: spec.discord.apiUrl },
              secretEnv('PROXY_AUTH_TOKEN', names.proxyAuth, PROXY_AUTH_KEY),
              redisEnv(spec),
              { name: 'PORT', value: String(PROGRAM_PORT) },
            ],
            spec.restProxy.resources ?? DEFAULT_PROXY_RESOURCES,
          ),
        ),
      },
    },
  });

  const restProxyService = withAppliedHash({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: ownedMetadata(input, names.restProxy, 'rest-proxy'),
    spec: {
      type: 'ClusterIP',
      selector: proxySelector,
      ports: [{ name: 'http', port: PROGRAM_PORT, targetPort: 'http', protocol: 'TCP' }],
    },
  });

  const botDeployment =
    spec.bot === undefined
      ? undefined
      : withAppliedHash({
          apiVersion: 'apps/v1',
          kind: 'Deployment',
          metadata: ownedMetadata(input, names.bot, 'bot'),
          spec: {
            replicas: spec.bot.replicas,
            selector: { matchLabels: selectorLabels(bot.name, 'bot') },
            template: {
              metadata: { labels: childLabels(bot.name, 'bot') },
              spec: podSpec({
                ...programContainer(
                  'bot',
                  spec.bot.image,
                  [
                    { name: 'SHARDFLEET_BOT', value: `${bot.namespace}.${bot.name}` },
                    redisEnv(spec),
                    { name: 'REST_PROXY_URL', value: restProxyUrl },
                    secretEnv('REST_PROXY_TOKEN', names.proxyAuth, PROXY_AUTH_KEY),
                    { name: 'CONSUMER_GROUP', value: 'bot' },
                    { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
                    { name: 'PORT', value: String(PROGRAM_PORT) },
                    ...((spec.bot.env ?? []) as unknown as V1EnvVar[]),
                  ],
                  spec.bot.resources ?? DEFAULT_BOT_RESOURCES,
                ),
                command: spec.bot.command,
                args: spec.bot.args,
              }),
            },
          },
        });

  return {
    proxyAuthSecret,
    shardService,
    shardStatefulSet,
    shardDisruptionBudget,
    restProxyDeployment,
    restProxyService,
    botDeployment,
  };
}
