import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from './KubeClient.js';
import { type ChangeHandler, ResilientInformer } from './ResilientInformer.js';
import type { ResourceType } from './resources.js';

/** Health of one informer, for /healthz. */
export interface InformerHealth {
  readonly name: string;
  readonly synced: boolean;
  readonly healthy: boolean;
  readonly lastError?: string;
}

/**
 * The cache of one resource across the watched namespaces: one informer per namespace, or one
 * for the whole cluster when no namespaces are given.
 */
export class InformerSet<T extends KubernetesObject> {
  readonly #informers = new Map<string | undefined, ResilientInformer<T>>();

  public constructor(
    kubeConfig: KubeConfig,
    client: KubeClient,
    type: ResourceType,
    namespaces: readonly string[],
    log: Logger,
    labelSelector?: string,
  ) {
    const scopes = namespaces.length === 0 ? [undefined] : namespaces;
    for (const namespace of scopes) {
      this.#informers.set(
        namespace,
        new ResilientInformer<T>(kubeConfig, client, { type, namespace, labelSelector }, log),
      );
    }
  }

  public on(handler: ChangeHandler<T>): void {
    for (const informer of this.#informers.values()) informer.on(handler);
  }

  public get(name: string, namespace: string): T | undefined {
    return (this.#informers.get(namespace) ?? this.#informers.get(undefined))?.get(name, namespace);
  }

  public list(namespace?: string): readonly T[] {
    if (namespace === undefined) return [...this.#informers.values()].flatMap((informer) => informer.list());
    return (this.#informers.get(namespace) ?? this.#informers.get(undefined))?.list(namespace) ?? [];
  }

  public async start(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((informer) => informer.start()));
  }

  public async stop(): Promise<void> {
    await Promise.all([...this.#informers.values()].map((informer) => informer.stop()));
  }

  public health(): InformerHealth[] {
    return [...this.#informers.values()].map((informer) => ({
      name: informer.name,
      synced: informer.synced,
      healthy: informer.healthy,
      lastError: informer.lastError,
    }));
  }
}
