import type { KubernetesObject } from '@kubernetes/client-node';
import { APPLIED_HASH_ANNOTATION } from './names.js';

interface Entry {
  readonly hash: string;
  /** The resourceVersion the cache showed when the write was made. */
  readonly staleVersion: string | undefined;
}

/**
 * Remembers what the operator wrote until the informer cache shows it, so a reconcile that runs
 * before the watch event arrives does not write the same thing again.
 */
export class AppliedMemo {
  readonly #entries = new Map<string, Entry>();

  /** Whether `cached` (the cache's copy, if any) already is what `hash` describes. */
  public isCurrent(key: string, hash: string, cached: KubernetesObject | undefined): boolean {
    if (cached?.metadata?.annotations?.[APPLIED_HASH_ANNOTATION] === hash) {
      this.#entries.delete(key);
      return true;
    }
    const entry = this.#entries.get(key);
    return (
      entry !== undefined && entry.hash === hash && entry.staleVersion === cached?.metadata?.resourceVersion
    );
  }

  public remember(key: string, hash: string, cached: KubernetesObject | undefined): void {
    this.#entries.set(key, { hash, staleVersion: cached?.metadata?.resourceVersion });
  }

  /** Forgets every entry whose key starts with `prefix` (a deleted bot). */
  public forgetPrefix(prefix: string): void {
    for (const key of this.#entries.keys()) if (key.startsWith(prefix)) this.#entries.delete(key);
  }
}
