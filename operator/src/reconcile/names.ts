/** The label every child carries, and the informers select on. */
export const MANAGED_BY_LABEL = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'shardfleet';
/** Label selector of the children's informers. */
export const MANAGED_BY_SELECTOR = `${MANAGED_BY_LABEL}=${MANAGED_BY}`;
export const INSTANCE_LABEL = 'app.kubernetes.io/instance';
export const COMPONENT_LABEL = 'app.kubernetes.io/component';
/** Annotation with the digest of what the operator last applied to a child. */
export const APPLIED_HASH_ANNOTATION = 'shardfleet.dev/applied-hash';

/** The parts of a bot's fleet, as `app.kubernetes.io/component`. */
export type Component = 'shard' | 'rest-proxy' | 'bot';

/** The names of a DiscordBot's children. */
export function childNames(bot: string) {
  return {
    shards: `${bot}-shards`,
    restProxy: `${bot}-rest-proxy`,
    bot: `${bot}-bot`,
    proxyAuth: `${bot}-proxy-auth`,
  } as const;
}

/** Labels of a child, and the selector labels of its pods (a subset that never changes). */
export function selectorLabels(bot: string, component: Component): Record<string, string> {
  return { 'app.kubernetes.io/name': 'shardfleet', [INSTANCE_LABEL]: bot, [COMPONENT_LABEL]: component };
}

export function childLabels(bot: string, component: Component | 'auth'): Record<string, string> {
  return {
    'app.kubernetes.io/name': 'shardfleet',
    [INSTANCE_LABEL]: bot,
    [COMPONENT_LABEL]: component,
    [MANAGED_BY_LABEL]: MANAGED_BY,
  };
}

/**
 * The longest DiscordBot name: `<name>-rest-proxy` must be a Service name (63) and
 * `<name>-shards-<hash>` a StatefulSet revision label (63).
 */
export const MAX_BOT_NAME_LENGTH = 45;

/** A Service name: lowercase letters, digits and `-`, starting with a letter. */
export const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
