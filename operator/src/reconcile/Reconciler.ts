import type { KubernetesObject } from '@kubernetes/client-node';
import { hasIdentifyBudgetForStart, identifiesForStart, planFleet } from '@shardfleet/protocol';
import type { Logger } from 'pino';
import { DISCORD_BOT_KIND } from '../crd/discordBotSchema.js';
import type { Condition, DiscordBotStatus } from '../crd/discordBotStatusSchema.js';
import {
  type GatewayChecker,
  type GatewayInfo,
  GatewayUnreachableError,
  InvalidTokenError,
} from '../gateway/GatewayChecker.js';
import type { IEventRecorder } from '../kube/EventRecorder.js';
import type { KubeClient } from '../kube/KubeClient.js';
import { DISCORD_BOTS, resourcePath } from '../kube/resources.js';
import type { OperatorMetrics } from '../OperatorMetrics.js';
import type { ReconcileResult } from '../controller/WorkQueue.js';
import { AppliedMemo } from './AppliedMemo.js';
import { ALL_BUT_SHARD_STATEFUL_SET, applyChildren, type ChildName, needsApply } from './applyChildren.js';
import { desiredChildren, newProxyAuthToken } from './desiredChildren.js';
import { countReadiness, desiredStatus, type Observation, statusDiffers } from './desiredStatus.js';
import { checkSpec } from './guards.js';
import { type Caches, observe } from './observe.js';

const FIRST_PASS_BACKSTOP_MS = 1_000;

/** A DiscordBot as the cache holds it. */
export type DiscordBotObject = KubernetesObject & { spec?: unknown; status?: DiscordBotStatus };

/** What the reconciler needs from the operator's configuration. */
export interface ReconcilerSettings {
  readonly shardImage: string;
  readonly restProxyImage: string;
  readonly pdbApiVersion: 'policy/v1' | 'policy/v1beta1';
}

/**
 * Reconciles one DiscordBot from its key: fetch (cache) -> guards (deleted, invalid spec) ->
 * observe (cache reads) -> gateway check -> desired children (pure) -> apply -> status (pure,
 * written only when it differs).
 */
export class Reconciler {
  readonly #memo = new AppliedMemo();
  readonly #statusMemo = new Map<string, { json: string; staleVersion: string | undefined }>();
  /** Bots held by a too-low identify budget, and when Discord said it resets (ms since the epoch). */
  readonly #budgetResets = new Map<string, number>();
  /**
   * Proxy secrets generated for bots whose Secret the cache does not show yet: the same one is
   * applied until it does, so proxy and bot pods never start with different secrets.
   */
  readonly #newProxyAuthTokens = new Map<string, string>();
  /** What a new bot's first pass wrote, told in one Event with the rest by its second pass. */
  readonly #firstPassWritten = new Map<string, string[]>();

  public constructor(
    private readonly caches: Caches,
    private readonly client: KubeClient,
    private readonly gateway: GatewayChecker,
    private readonly events: IEventRecorder,
    private readonly metrics: OperatorMetrics,
    private readonly settings: ReconcilerSettings,
    private readonly log: Logger,
  ) {}

  public async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace, name] = key.split('/') as [string, string];
    const bot = this.caches.bots.get(name, namespace) as DiscordBotObject | undefined;
    if (bot === undefined || bot.metadata?.deletionTimestamp !== undefined) {
      // The children go with it (owner references, garbage collection).
      this.#forget(key, `${namespace}.${name}`);
      return {};
    }
    const log = this.log.child({ bot: `${namespace}.${name}` });
    const generation = bot.metadata?.generation ?? 0;

    const checked = checkSpec(name, bot.spec);
    if (!checked.ok) {
      await this.#finish(bot, key, { type: 'InvalidSpec', message: checked.message }, log);
      return {};
    }
    const { spec, intents } = checked.value;

    const observed = observe(this.caches, namespace, name, spec);
    if (!observed.ok) {
      await this.#finish(bot, key, { type: 'SecretNotFound', message: observed.missing }, log);
      return {};
    }

    if (observed.foreign.length > 0) {
      const taken = observed.foreign.join(', ');
      await this.#finish(
        bot,
        key,
        {
          type: 'ChildConflict',
          message: `${taken}: taken by an object shardfleet does not manage; rename or delete it`,
        },
        log,
      );
      return {};
    }

    // The cached gateway answer is stale once the identify budget that held a rollout has reset.
    const budgetReset = this.#budgetResets.get(key);
    if (budgetReset !== undefined && Date.now() >= budgetReset) {
      this.#budgetResets.delete(key);
      this.gateway.forget(key);
    }

    let gateway: GatewayInfo;
    let recheckInMs: number;
    try {
      ({ info: gateway, recheckInMs } = await this.gateway.check(
        key,
        generation,
        spec.discord.apiUrl,
        observed.token,
      ));
    } catch (error) {
      if (error instanceof InvalidTokenError) {
        await this.#finish(bot, key, { type: 'InvalidToken', message: error.message }, log);
        return {};
      }
      if (error instanceof GatewayUnreachableError) {
        await this.#finish(bot, key, { type: 'DiscordUnreachable', message: error.message }, log);
      }
      throw error;
    }

    const plan = planFleet(spec.sharding, gateway);
    const desired = desiredChildren({
      bot: { name, namespace, uid: bot.metadata?.uid ?? '' },
      spec,
      intents,
      plan,
      shardImage: this.settings.shardImage,
      restProxyImage: this.settings.restProxyImage,
      pdbApiVersion: this.settings.pdbApiVersion,
      proxyAuthToken: this.#proxyAuthToken(key, observed.proxyAuthToken),
    });
    // A new or changed StatefulSet restarts every shard: only with the identifies to pay for it.
    const rollout = needsApply(this.#memo, desired.shardStatefulSet, observed.children.shardStatefulSet);
    const affordable = !rollout || hasIdentifyBudgetForStart(plan, gateway.sessionStartLimit.remaining);
    // A new bot's first pass applies only its shard StatefulSet and the bot goes to the back of the queue:
    // shards take longest to come up (identify intervals), so when many bots arrive at once every
    // fleet starts before any bot's other children and status are written.
    const firstPass = affordable && observed.children.shardStatefulSet === undefined;
    let held: ReadonlySet<ChildName> = new Set();
    if (!affordable) held = new Set(['shardStatefulSet']);
    else if (firstPass) held = ALL_BUT_SHARD_STATEFUL_SET;
    const written = await applyChildren(this.client, this.#memo, desired, observed.children, held);
    if (firstPass) {
      this.#firstPassWritten.set(key, [...(this.#firstPassWritten.get(key) ?? []), ...written]);
      // The StatefulSet's watch event queues the bot again; this is the backstop.
      return { requeueAfterMs: FIRST_PASS_BACKSTOP_MS };
    }
    written.unshift(...(this.#firstPassWritten.get(key) ?? []));
    this.#firstPassWritten.delete(key);
    if (written.length > 0) {
      log.info({ written }, 'applied children');
      void this.events.record(
        bot,
        'Normal',
        'Applied',
        `applied ${written.join(', ')} (${plan.shards} shards in ${plan.pods} pods)`,
      );
    }

    const shardsNow = affordable
      ? plan
      : { shards: bot.status?.shards ?? 0, shardsPerPod: bot.status?.shardsPerPod ?? 0 };
    const readiness = countReadiness(observed.shardPods, shardsNow.shards, shardsNow.shardsPerPod);
    const observation: Observation = affordable
      ? { type: 'Applied', gateway, plan, readiness }
      : {
          type: 'InsufficientIdentifyBudget',
          gateway,
          plan,
          readiness,
          message:
            `starting ${plan.shards} shards needs ${identifiesForStart(plan)} identifies, Discord allows ` +
            `${gateway.sessionStartLimit.remaining} more until the limit resets in ${Math.ceil(gateway.sessionStartLimit.resetAfter / 1_000)} s; ` +
            'the StatefulSet is left as it is',
        };
    await this.#finish(bot, key, observation, log);
    if (affordable) return { requeueAfterMs: Math.max(1_000, recheckInMs) };
    const resetAt = Date.parse(gateway.checkedAt) + gateway.sessionStartLimit.resetAfter + 1_000;
    this.#budgetResets.set(key, resetAt);
    return { requeueAfterMs: Math.max(1_000, Math.min(recheckInMs, resetAt - Date.now())) };
  }

  async #finish(bot: DiscordBotObject, key: string, observation: Observation, log: Logger): Promise<void> {
    const botId = key.replace('/', '.');
    const current = bot.status;
    const status = desiredStatus(current, bot.metadata?.generation ?? 0, observation, new Date());
    if (status.shards !== undefined) this.metrics.botShards.set({ bot: botId }, status.shards);
    if (status.readyShards !== undefined) this.metrics.botReadyShards.set({ bot: botId }, status.readyShards);
    if (!this.#statusChanged(key, bot, status)) return;
    const body = {
      apiVersion: DISCORD_BOTS.apiVersion,
      kind: DISCORD_BOT_KIND,
      metadata: { name: bot.metadata?.name, namespace: bot.metadata?.namespace },
      status,
    };
    await this.client.apply(
      `${resourcePath(DISCORD_BOTS, bot.metadata?.namespace, bot.metadata?.name)}/status`,
      body,
    );
    this.#statusMemo.set(key, { json: JSON.stringify(status), staleVersion: bot.metadata?.resourceVersion });
    this.#recordTransitions(bot, current?.conditions ?? [], status.conditions ?? [], log);
  }

  #statusChanged(key: string, bot: DiscordBotObject, status: DiscordBotStatus): boolean {
    const memo = this.#statusMemo.get(key);
    if (memo !== undefined && memo.staleVersion === bot.metadata?.resourceVersion)
      return memo.json !== JSON.stringify(status);
    return statusDiffers(bot.status, status);
  }

  // Events for what a person should see: the Ready condition changing, or a new problem.
  #recordTransitions(
    bot: DiscordBotObject,
    before: readonly Condition[],
    after: readonly Condition[],
    log: Logger,
  ): void {
    const previous = new Map(before.map((condition) => [condition.type, condition]));
    const ready = after.find((condition) => condition.type === 'Ready');
    if (ready === undefined) return;
    const was = previous.get('Ready');
    if (was !== undefined && was.status === ready.status && was.reason === ready.reason) return;
    if (ready.status === 'True') {
      void this.events.record(bot, 'Normal', ready.reason, ready.message);
      log.info({ reason: ready.reason }, ready.message);
    } else if (ready.reason !== 'ShardsNotReady') {
      void this.events.record(bot, 'Warning', ready.reason, ready.message);
      log.warn({ reason: ready.reason }, ready.message);
    }
  }

  #proxyAuthToken(key: string, stored: string | undefined): string {
    if (stored !== undefined) {
      this.#newProxyAuthTokens.delete(key);
      this.#firstPassWritten.delete(key);
      return stored;
    }
    let token = this.#newProxyAuthTokens.get(key);
    if (token === undefined) {
      token = newProxyAuthToken();
      this.#newProxyAuthTokens.set(key, token);
    }
    return token;
  }

  #forget(key: string, botId: string): void {
    this.gateway.forget(key);
    this.#newProxyAuthTokens.delete(key);
    this.#statusMemo.delete(key);
    this.#budgetResets.delete(key);
    this.#memo.forgetPrefix(`${key.split('/')[0]}/${key.split('/')[1]}/`);
    this.metrics.botShards.remove({ bot: botId });
    this.metrics.botReadyShards.remove({ bot: botId });
  }
}
