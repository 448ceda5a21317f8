import type { KubeConfig, KubernetesObject, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { OperatorConfig } from '../config.js';
import { FetchGatewayClient, GatewayChecker, type IGatewayClient } from '../gateway/GatewayChecker.js';
import { EventRecorder } from '../kube/EventRecorder.js';
import { type InformerHealth, InformerSet } from '../kube/InformerSet.js';
import { KubeApiError } from '../kube/KubeApiError.js';
import type { KubeClient } from '../kube/KubeClient.js';
import {
  DEPLOYMENTS,
  DISCORD_BOTS,
  PODS,
  podDisruptionBudgets,
  SECRETS,
  SERVICES,
  STATEFUL_SETS,
} from '../kube/resources.js';
import type { OperatorMetrics } from '../OperatorMetrics.js';
import { type DiscordBotObject, Reconciler } from '../reconcile/Reconciler.js';
import { INSTANCE_LABEL, MANAGED_BY, MANAGED_BY_LABEL, MANAGED_BY_SELECTOR } from '../reconcile/names.js';
import type { Caches } from '../reconcile/observe.js';
import { WorkQueue } from './WorkQueue.js';

/** Picks the PodDisruptionBudget version the cluster serves: `policy/v1` from 1.21, else `policy/v1beta1`. */
export async function discoverPdbApiVersion(client: KubeClient): Promise<'policy/v1' | 'policy/v1beta1'> {
  const v1 = await client.get<{ resources?: { name: string }[] }>('/apis/policy/v1');
  return v1?.resources?.some((resource) => resource.name === 'poddisruptionbudgets')
    ? 'policy/v1'
    : 'policy/v1beta1';
}

const CHILD_SUFFIX = /^(.+)-(?:shards|rest-proxy|bot|proxy-auth)$/;

function keyOf(object: KubernetesObject): string {
  return `${object.metadata?.namespace ?? ''}/${object.metadata?.name ?? ''}`;
}

/**
 * The DiscordBot controller: informers for the bots, their children and Secrets; every change
 * maps to the owning bot's key; a work queue reconciles keys; a periodic resync re-queues all.
 * Workers start after every informer's first list.
 */
export class Controller {
  readonly #caches: Caches;
  readonly #queue: WorkQueue;
  readonly #reconciler: Reconciler;
  readonly #log: Logger;
  readonly #resyncIntervalMs: number;
  #resyncTimer: NodeJS.Timeout | undefined;
  #started = false;

  public constructor(
    kubeConfig: KubeConfig,
    client: KubeClient,
    config: OperatorConfig,
    metrics: OperatorMetrics,
    pdbApiVersion: 'policy/v1' | 'policy/v1beta1',
    log: Logger,
    gatewayClient: IGatewayClient = new FetchGatewayClient(),
  ) {
    this.#log = log;
    this.#resyncIntervalMs = config.resyncIntervalMs;
    const set = <T extends KubernetesObject>(type: typeof SECRETS, selector?: string) =>
      new InformerSet<T>(kubeConfig, client, type, config.namespaces, log, selector);
    this.#caches = {
      bots: set<DiscordBotObject>(DISCORD_BOTS),
      // Whole kinds, not only labelled children: an object of another owner with a child's name
      // must be seen so it is not taken over. Pods (many, and never named after a bot) are filtered.
      statefulSets: set(STATEFUL_SETS),
      deployments: set(DEPLOYMENTS),
      services: set(SERVICES),
      disruptionBudgets: set(podDisruptionBudgets(pdbApiVersion)),
      pods: set<V1Pod>(PODS, MANAGED_BY_SELECTOR),
      secrets: set<V1Secret>(SECRETS),
    };
    const countingClient: IGatewayClient = {
      fetchGatewayBot: async (apiUrl, token) => {
        try {
          const info = await gatewayClient.fetchGatewayBot(apiUrl, token);
          metrics.gatewayChecks.inc({ result: 'ok' });
          return info;
        } catch (error) {
          metrics.gatewayChecks.inc({
            result:
              error instanceof Error && error.name === 'InvalidTokenError' ? 'invalid_token' : 'unreachable',
          });
          throw error;
        }
      },
    };
    const gateway = new GatewayChecker(countingClient, {
      recheckIntervalMs: config.gatewayRecheckIntervalMs,
    });
    this.#reconciler = new Reconciler(
      this.#caches,
      client,
      gateway,
      new EventRecorder(client, config.identity, log),
      metrics,
      { shardImage: config.shardImage, restProxyImage: config.restProxyImage, pdbApiVersion },
      log,
    );
    this.#queue = new WorkQueue(
      (key) => this.#reconciler.reconcile(key),
      (error) => error instanceof KubeApiError && error.isConflict,
      {
        workers: config.workers,
        onProcessed: (key, outcome, durationMs, error) => {
          metrics.reconcileTotal.inc({ result: outcome });
          metrics.reconcileDuration.observe(durationMs / 1_000);
          metrics.queueDepth.set(this.#queue.length);
          if (outcome === 'error')
            this.#log.warn(
              { bot: key.replace('/', '.'), err: (error as Error).message },
              'reconcile failed; retrying with backoff',
            );
        },
      },
    );
    this.#wire();
  }

  #wire(): void {
    this.#caches.bots.on((bot) => this.#queue.add(keyOf(bot)));
    for (const cache of [
      this.#caches.statefulSets,
      this.#caches.deployments,
      this.#caches.services,
      this.#caches.disruptionBudgets,
      this.#caches.pods,
      this.#caches.secrets,
    ]) {
      cache.on((object) => this.#enqueueOwner(object));
    }
    // A Secret also matters to the bots that refer to it (token, Redis URL).
    this.#caches.secrets.on((secret) => {
      const name = secret.metadata?.name;
      for (const bot of this.#caches.bots.list(secret.metadata?.namespace ?? '')) {
        const spec = bot.spec as
          { tokenSecretRef?: { name?: string }; redis?: { urlSecretRef?: { name?: string } } } | undefined;
        if (spec?.tokenSecretRef?.name === name || spec?.redis?.urlSecretRef?.name === name) {
          this.#queue.add(keyOf(bot));
        }
      }
    });
  }

  // A child names its bot in a label; an object of another owner with a child's name (say
  // `mybot-shards`) matters to that bot too, so it is looked at again when the object goes.
  #enqueueOwner(object: KubernetesObject): void {
    const namespace = object.metadata?.namespace ?? '';
    if (object.metadata?.labels?.[MANAGED_BY_LABEL] === MANAGED_BY) {
      const instance = object.metadata.labels[INSTANCE_LABEL];
      if (instance !== undefined) this.#queue.add(`${namespace}/${instance}`);
      return;
    }
    const bot = CHILD_SUFFIX.exec(object.metadata?.name ?? '')?.[1];
    if (bot !== undefined && this.#caches.bots.get(bot, namespace) !== undefined)
      this.#queue.add(`${namespace}/${bot}`);
  }

  /** Starts the informers, waits for their first lists, then starts the workers and the resync. */
  public async start(): Promise<void> {
    const caches = Object.values(this.#caches) as InformerSet<KubernetesObject>[];
    await Promise.all(caches.map((cache) => cache.start()));
    this.#started = true;
    this.#queue.start();
    for (const bot of this.#caches.bots.list()) this.#queue.add(keyOf(bot));
    this.#resyncTimer = setInterval(() => {
      for (const bot of this.#caches.bots.list()) this.#queue.add(keyOf(bot));
    }, this.#resyncIntervalMs);
    this.#resyncTimer.unref();
    this.#log.info({ bots: this.#caches.bots.list().length }, 'controller started');
  }

  public async stop(): Promise<void> {
    clearInterval(this.#resyncTimer);
    await this.#queue.shutDown();
    await Promise.all(
      (Object.values(this.#caches) as InformerSet<KubernetesObject>[]).map((cache) => cache.stop()),
    );
  }

  /** Whether the workers run (every informer listed once). */
  public get started(): boolean {
    return this.#started;
  }

  public health(): InformerHealth[] {
    return (Object.values(this.#caches) as InformerSet<KubernetesObject>[]).flatMap((cache) =>
      cache.health(),
    );
  }
}
