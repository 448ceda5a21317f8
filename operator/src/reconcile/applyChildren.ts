import type { KubernetesObject } from '@kubernetes/client-node';
import type { KubeClient } from '../kube/KubeClient.js';
import {
  DEPLOYMENTS,
  podDisruptionBudgets,
  type ResourceType,
  resourcePath,
  SECRETS,
  SERVICES,
  STATEFUL_SETS,
} from '../kube/resources.js';
import type { AppliedMemo } from './AppliedMemo.js';
import type { DesiredChildren } from './desiredChildren.js';
import { APPLIED_HASH_ANNOTATION } from './names.js';
import type { ObservedChildren } from './observe.js';

export type ChildName = keyof DesiredChildren & keyof ObservedChildren;

/**
 * The children in two tiers, each applied in parallel: first the shard StatefulSet (the shards
 * take longest to come up, so they start first) with its Service and the proxy Secret; then what
 * refers to the Secret (the proxy and bot Deployments, whose pods need it) and the rest.
 */
const TIERS: readonly (readonly ChildName[])[] = [
  ['shardStatefulSet', 'shardService', 'proxyAuthSecret'],
  ['restProxyService', 'restProxyDeployment', 'shardDisruptionBudget', 'botDeployment'],
];

/** Every child but the shard StatefulSet: held back in a new bot's first pass. */
export const ALL_BUT_SHARD_STATEFUL_SET: ReadonlySet<ChildName> = new Set(
  TIERS.flat().filter((name) => name !== 'shardStatefulSet'),
);

function typeOf(object: KubernetesObject): ResourceType {
  switch (object.kind) {
    case 'Secret':
      return SECRETS;
    case 'Service':
      return SERVICES;
    case 'Deployment':
      return DEPLOYMENTS;
    case 'StatefulSet':
      return STATEFUL_SETS;
    case 'PodDisruptionBudget':
      return podDisruptionBudgets(object.apiVersion as 'policy/v1' | 'policy/v1beta1');
    default:
      throw new Error(`no resource type for kind ${String(object.kind)}`);
  }
}

/** `Kind/name` of an object, for events and logs. */
export function describeObject(object: KubernetesObject): string {
  return `${object.kind}/${object.metadata?.name ?? ''}`;
}

/** Whether the cached child differs from the desired one (or is missing). */
export function needsApply(
  memo: AppliedMemo,
  desired: KubernetesObject,
  cached: KubernetesObject | undefined,
): boolean {
  const hash = desired.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] ?? '';
  return !memo.isCurrent(memoKey(desired), hash, cached);
}

function memoKey(object: KubernetesObject): string {
  return `${object.metadata?.namespace}/${object.metadata?.labels?.['app.kubernetes.io/instance']}/${describeObject(object)}`;
}

async function applyChild(
  client: KubeClient,
  memo: AppliedMemo,
  name: ChildName,
  desired: DesiredChildren,
  observed: ObservedChildren,
  held: ReadonlySet<ChildName>,
): Promise<string | undefined> {
  const object = desired[name];
  const cached = observed[name];
  if (object === undefined) {
    if (cached === undefined || cached.metadata?.deletionTimestamp !== undefined) return undefined;
    await client
      .request('DELETE', resourcePath(typeOf(cached), cached.metadata?.namespace, cached.metadata?.name))
      .catch((error: unknown) => {
        if ((error as { status?: number }).status !== 404) throw error;
      });
    return `-${describeObject(cached)}`;
  }
  if (held.has(name) || !needsApply(memo, object, cached)) return undefined;
  await client.apply(resourcePath(typeOf(object), object.metadata?.namespace, object.metadata?.name), object);
  memo.remember(memoKey(object), object.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] ?? '', cached);
  return describeObject(object);
}

/**
 * Server-side applies each desired child that differs from the cache, skips `held` ones, and
 * deletes the bot Deployment when the spec no longer has a bot.
 *
 * @returns `Kind/name` of each child written.
 */
export async function applyChildren(
  client: KubeClient,
  memo: AppliedMemo,
  desired: DesiredChildren,
  observed: ObservedChildren,
  held: ReadonlySet<ChildName> = new Set(),
): Promise<string[]> {
  const written: string[] = [];
  for (const tier of TIERS) {
    const results = await Promise.all(
      tier.map((name) => applyChild(client, memo, name, desired, observed, held)),
    );
    written.push(...results.filter((result): result is string => result !== undefined));
  }
  return written;
}
