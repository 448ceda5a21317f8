import type { ApiextensionsV1Api, KubernetesObject } from '@kubernetes/client-node';

export interface FixtureOptions {
  /** The end-to-end test's namespace. */
  namespace: string;
  /** Guilds of the simulated bot. @defaultValue `3000` */
  guilds?: number;
  /** The simulator's identify buckets. @defaultValue `2` */
  maxConcurrency?: number;
}

export declare const DefaultFixtureOptions: Readonly<Required<Omit<FixtureOptions, 'namespace'>>>;

/** Deployments and Services of Redis and the simulator, as Kubernetes objects. */
export declare function fixtureManifests(options: FixtureOptions): Record<string, unknown>[];

/** The token the simulator accepts (`--token`): a test value, not a secret. */
export declare const SIMULATOR_TOKEN: string;
/** The simulator's one port (REST under `/api/v10`, gateway at `/`, control API under `/_sim`). */
export declare const SIMULATOR_PORT: number;
/** The namespace `operator/deploy/` installs the operator in: `shardfleet-system`. */
export declare const OPERATOR_NAMESPACE: string;
/** `shardfleet.dev/v1alpha1`. */
export declare const DISCORD_BOT_API_VERSION: string;

/**
 * Waits until the CustomResourceDefinition `name` is established (its resources are served);
 * rejects after `timeoutMs` with the conditions last seen.
 */
export declare function waitForCrdEstablished(
  extensions: ApiextensionsV1Api,
  name: string,
  options?: { timeoutMs?: number },
): Promise<void>;

/** `http://simulator.<namespace>.svc.cluster.local:8787`: the simulator as pods reach it. */
export declare function simulatorServiceUrl(namespace: string): string;

export interface OperatorManifestOptions {
  /** Operator replicas (one leads, the others stand by). @defaultValue `1` */
  replicas?: number;
  /** @defaultValue `'localhost/shardfleet/operator:e2e'` */
  operatorImage?: string;
  /** The operator's `SHARD_IMAGE`. @defaultValue `'localhost/shardfleet/shard:e2e'` */
  shardImage?: string;
  /** The operator's `REST_PROXY_IMAGE`. @defaultValue `'localhost/shardfleet/rest-proxy:e2e'` */
  restProxyImage?: string;
  /** The operator's `LOG_LEVEL`. @defaultValue `'info'` */
  logLevel?: string;
}

/**
 * `operator/deploy/`'s objects in kustomization order (Namespace, CRD, RBAC, Deployment) as
 * client-node models, with the e2e images; apply them with `KubernetesObjectApi`.
 */
export declare function operatorManifests(options?: OperatorManifestOptions): KubernetesObject[];

export interface ChartManifestOptions {
  /** The operator's replicas (`replicaCount`). @defaultValue `1` */
  replicas?: number;
}

/**
 * The objects of `charts/shardfleet` released as `shardfleet` in `shardfleet-system`, with the e2e
 * images and every monitoring object on, as client-node models.
 */
export declare function chartManifests(options?: ChartManifestOptions): Promise<KubernetesObject[]>;

/** Minimal ServiceMonitor, PodMonitor and PrometheusRule CRDs (monitoring.coreos.com/v1). */
export declare function monitoringCrdManifests(): KubernetesObject[];

export interface BotManifestOptions {
  /** The end-to-end test's namespace (where Redis and the simulator run). */
  namespace: string;
  /** The DiscordBot's name. @defaultValue `'fleet'` */
  name?: string;
  /** `spec.sharding.shardsPerPod`. @defaultValue `2` */
  shardsPerPod?: number;
  /** `spec.bot.replicas`. @defaultValue `2` */
  botReplicas?: number;
  /** `spec.restProxy.replicas`. @defaultValue `1` */
  restProxyReplicas?: number;
}

/** The bot's token Secret (`<name>-token`) and its DiscordBot (`shards: auto`, the e2e bot image). */
export declare function botManifests(options: BotManifestOptions): Record<string, unknown>[];
