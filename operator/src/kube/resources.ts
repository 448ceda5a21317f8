import { API_GROUP, API_VERSION, DISCORD_BOT_PLURAL } from '../crd/discordBotSchema.js';

/** A namespaced API resource: where its objects live. */
export interface ResourceType {
  /** `apps/v1`, `v1`, ... */
  readonly apiVersion: string;
  readonly kind: string;
  /** The plural in the path, such as `statefulsets`. */
  readonly plural: string;
}

export const DISCORD_BOTS: ResourceType = {
  apiVersion: `${API_GROUP}/${API_VERSION}`,
  kind: 'DiscordBot',
  plural: DISCORD_BOT_PLURAL,
};
export const STATEFUL_SETS: ResourceType = {
  apiVersion: 'apps/v1',
  kind: 'StatefulSet',
  plural: 'statefulsets',
};
export const DEPLOYMENTS: ResourceType = { apiVersion: 'apps/v1', kind: 'Deployment', plural: 'deployments' };
export const SERVICES: ResourceType = { apiVersion: 'v1', kind: 'Service', plural: 'services' };
export const SECRETS: ResourceType = { apiVersion: 'v1', kind: 'Secret', plural: 'secrets' };
export const PODS: ResourceType = { apiVersion: 'v1', kind: 'Pod', plural: 'pods' };
export const EVENTS: ResourceType = { apiVersion: 'v1', kind: 'Event', plural: 'events' };
export const LEASES: ResourceType = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', plural: 'leases' };

/** PodDisruptionBudget in `policy/v1` (Kubernetes 1.21+) or `policy/v1beta1` (older), picked by discovery. */
export function podDisruptionBudgets(apiVersion: 'policy/v1' | 'policy/v1beta1'): ResourceType {
  return { apiVersion, kind: 'PodDisruptionBudget', plural: 'poddisruptionbudgets' };
}

/**
 * The API path of a resource's collection (in a namespace, or across all with `undefined`), or of
 * one object when `name` is given.
 */
export function resourcePath(type: ResourceType, namespace?: string, name?: string): string {
  const base = type.apiVersion.includes('/') ? `/apis/${type.apiVersion}` : `/api/${type.apiVersion}`;
  const scope = namespace === undefined ? '' : `/namespaces/${encodeURIComponent(namespace)}`;
  const object = name === undefined ? '' : `/${encodeURIComponent(name)}`;
  return `${base}${scope}/${type.plural}${object}`;
}
