import type { KubernetesObject, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { DiscordBotSpec } from '../crd/discordBotSchema.js';
import type { InformerSet } from '../kube/InformerSet.js';
import { PROXY_AUTH_KEY } from './desiredChildren.js';
import type { PodReadiness } from './desiredStatus.js';
import { childNames, COMPONENT_LABEL, INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL } from './names.js';

/** The informer caches a reconcile reads. */
export interface Caches {
  readonly bots: InformerSet<KubernetesObject & { spec?: unknown; status?: unknown }>;
  readonly statefulSets: InformerSet<KubernetesObject>;
  readonly deployments: InformerSet<KubernetesObject>;
  readonly services: InformerSet<KubernetesObject>;
  readonly disruptionBudgets: InformerSet<KubernetesObject>;
  readonly pods: InformerSet<V1Pod>;
  readonly secrets: InformerSet<V1Secret>;
}

/** The cached children of a bot (what exists now). */
export interface ObservedChildren {
  readonly proxyAuthSecret: V1Secret | undefined;
  readonly shardService: KubernetesObject | undefined;
  readonly shardStatefulSet: KubernetesObject | undefined;
  readonly shardDisruptionBudget: KubernetesObject | undefined;
  readonly restProxyDeployment: KubernetesObject | undefined;
  readonly restProxyService: KubernetesObject | undefined;
  readonly botDeployment: KubernetesObject | undefined;
}

/** What the caches show of a bot's world; never a request. */
export type Observed =
  | { readonly ok: false; readonly missing: string }
  | {
      readonly ok: true;
      /** The bot token; kept in memory only, never logged. */
      readonly token: string;
      readonly children: ObservedChildren;
      readonly proxyAuthToken: string | undefined;
      readonly shardPods: readonly PodReadiness[];
      /** `Kind/name` of objects that have a child's name but are not shardfleet's. */
      readonly foreign: readonly string[];
    };

function secretValue(
  caches: Caches,
  namespace: string,
  name: string,
  key: string,
): string | { missing: string } {
  const secret = caches.secrets.get(name, namespace);
  if (secret === undefined) return { missing: `Secret "${name}" not found in namespace "${namespace}"` };
  const encoded = secret.data?.[key];
  if (encoded === undefined || encoded === '') return { missing: `Secret "${name}" has no key "${key}"` };
  return Buffer.from(encoded, 'base64').toString('utf8').trim();
}

/** Reads the referenced Secrets, the children and the shard pods of a bot from the caches. */
export function observe(caches: Caches, namespace: string, bot: string, spec: DiscordBotSpec): Observed {
  const token = secretValue(caches, namespace, spec.tokenSecretRef.name, spec.tokenSecretRef.key);
  if (typeof token !== 'string') return { ok: false, missing: token.missing };
  const redisRef = spec.redis.urlSecretRef;
  if (redisRef !== undefined) {
    const url = secretValue(caches, namespace, redisRef.name, redisRef.key);
    if (typeof url !== 'string') return { ok: false, missing: url.missing };
  }
  const names = childNames(bot);
  // The caches hold every object of these kinds: one with a child's name that shardfleet does not
  // manage belongs to somebody else and must not be taken over.
  const foreign: string[] = [];
  const managed = <T extends KubernetesObject>(object: T | undefined): T | undefined =>
    object?.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY ? object : undefined;
  const owned = <T extends KubernetesObject>(object: T | undefined, kind: string): T | undefined => {
    if (object === undefined || managed(object) !== undefined) return object;
    foreign.push(`${kind}/${object.metadata?.name ?? ''}`);
    return undefined;
  };
  const proxyAuthSecret = owned(caches.secrets.get(names.proxyAuth, namespace), 'Secret');
  const proxyAuthEncoded = proxyAuthSecret?.data?.[PROXY_AUTH_KEY];
  const shardPods = caches.pods
    .list(namespace)
    .filter(
      (pod) =>
        pod.metadata?.labels?.[INSTANCE_LABEL] === bot && pod.metadata.labels[COMPONENT_LABEL] === 'shard',
    )
    .map((pod) => ({
      name: pod.metadata?.name ?? '',
      ready:
        pod.metadata?.deletionTimestamp === undefined &&
        (pod.status?.conditions ?? []).some(
          (condition) => condition.type === 'Ready' && condition.status === 'True',
        ),
    }));
  return {
    ok: true,
    token,
    proxyAuthToken:
      proxyAuthEncoded === undefined ? undefined : Buffer.from(proxyAuthEncoded, 'base64').toString('utf8'),
    shardPods,
    foreign,
    children: {
      proxyAuthSecret,
      shardService: owned(caches.services.get(names.shards, namespace), 'Service'),
      shardStatefulSet: owned(caches.statefulSets.get(names.shards, namespace), 'StatefulSet'),
      shardDisruptionBudget: owned(
        caches.disruptionBudgets.get(names.shards, namespace),
        'PodDisruptionBudget',
      ),
      restProxyDeployment: owned(caches.deployments.get(names.restProxy, namespace), 'Deployment'),
      restProxyService: owned(caches.services.get(names.restProxy, namespace), 'Service'),
      // Without spec.bot a Deployment of that name is nobody's concern here.
      botDeployment:
        spec.bot === undefined
          ? managed(caches.deployments.get(names.bot, namespace))
          : owned(caches.deployments.get(names.bot, namespace), 'Deployment'),
    },
  };
}
