import type { FleetPlan } from '@shardfleet/protocol';
import { shardsForWorker, workerIdFromPodName } from '@shardfleet/protocol';
import type {
  Condition,
  ConditionType,
  DiscordBotPhase,
  DiscordBotStatus,
} from '../crd/discordBotStatusSchema.js';
import type { GatewayInfo } from '../gateway/GatewayChecker.js';

/** Ready shard pods and the shards they hold. */
export interface Readiness {
  readonly readyReplicas: number;
  readonly readyShards: number;
}

/** What a reconcile found, as far as the status is concerned. */
export type Observation =
  | { readonly type: 'InvalidSpec'; readonly message: string }
  | { readonly type: 'SecretNotFound'; readonly message: string }
  | { readonly type: 'InvalidToken'; readonly message: string }
  | { readonly type: 'DiscordUnreachable'; readonly message: string }
  | { readonly type: 'ChildConflict'; readonly message: string }
  | {
      readonly type: 'InsufficientIdentifyBudget';
      readonly message: string;
      readonly gateway: GatewayInfo;
      readonly plan: FleetPlan;
      readonly readiness: Readiness;
    }
  | {
      readonly type: 'Applied';
      readonly gateway: GatewayInfo;
      readonly plan: FleetPlan;
      readonly readiness: Readiness;
    };

/** The minimum a pod must show to count: its name and whether its Ready condition is True. */
export interface PodReadiness {
  readonly name: string;
  readonly ready: boolean;
}

/**
 * Shards in ready pods: each ready worker `w < pods` holds
 * `min(shardsPerPod, shards - w * shardsPerPod)` shards.
 */
export function countReadiness(
  pods: readonly PodReadiness[],
  shards: number,
  shardsPerPod: number,
): Readiness {
  if (shards < 1 || shardsPerPod < 1) return { readyReplicas: 0, readyShards: 0 };
  const workers = Math.ceil(shards / shardsPerPod);
  const ready = new Set<number>();
  for (const pod of pods) {
    if (!pod.ready) continue;
    let worker: number;
    try {
      worker = workerIdFromPodName(pod.name);
    } catch {
      continue;
    }
    if (worker < workers) ready.add(worker);
  }
  let readyShards = 0;
  for (const worker of ready) readyShards += shardsForWorker(worker, shardsPerPod, shards).length;
  return { readyReplicas: ready.size, readyShards };
}

type ConditionWish = { status: Condition['status']; reason: string; message: string };

function wishes(observation: Observation): {
  phase: DiscordBotPhase;
  conditions: Record<ConditionType, ConditionWish>;
} {
  const blocked = (
    reason: string,
    message: string,
    tokenValid: ConditionWish,
    phase: DiscordBotPhase,
    degraded = false,
  ) => ({
    phase,
    conditions: {
      Ready: { status: 'False', reason, message },
      Progressing: { status: 'False', reason, message },
      Degraded: degraded ? { status: 'True', reason, message } : { status: 'False', reason, message },
      TokenValid: tokenValid,
    } as Record<ConditionType, ConditionWish>,
  });
  const tokenAccepted: ConditionWish = {
    status: 'True',
    reason: 'TokenAccepted',
    message: 'Discord accepted the token',
  };
  switch (observation.type) {
    case 'InvalidSpec':
      return blocked(
        'InvalidSpec',
        observation.message,
        { status: 'Unknown', reason: 'InvalidSpec', message: 'not checked: the spec is invalid' },
        'Failed',
      );
    case 'SecretNotFound':
      return blocked(
        'SecretNotFound',
        observation.message,
        { status: 'False', reason: 'SecretNotFound', message: observation.message },
        'Pending',
      );
    case 'InvalidToken':
      return blocked(
        'InvalidToken',
        observation.message,
        { status: 'False', reason: 'InvalidToken', message: observation.message },
        'Failed',
      );
    case 'DiscordUnreachable':
      return blocked(
        'DiscordUnreachable',
        observation.message,
        { status: 'Unknown', reason: 'DiscordUnreachable', message: observation.message },
        'Degraded',
        true,
      );
    case 'ChildConflict':
      return blocked('ChildConflict', observation.message, tokenAccepted, 'Failed', true);
    case 'InsufficientIdentifyBudget':
      return {
        phase: 'Degraded',
        conditions: {
          Ready: { status: 'False', reason: 'InsufficientIdentifyBudget', message: observation.message },
          Progressing: {
            status: 'False',
            reason: 'InsufficientIdentifyBudget',
            message: observation.message,
          },
          Degraded: { status: 'False', reason: 'AsExpected', message: 'no failure' },
          TokenValid: tokenAccepted,
        },
      };
    case 'Applied': {
      const { plan, readiness } = observation;
      const progress = `${readiness.readyShards} of ${plan.shards} shards ready (${readiness.readyReplicas} of ${plan.pods} pods)`;
      const done = readiness.readyShards >= plan.shards;
      return {
        phase: done ? 'Running' : 'Provisioning',
        conditions: {
          Ready: done
            ? { status: 'True', reason: 'ShardsReady', message: progress }
            : { status: 'False', reason: 'ShardsNotReady', message: progress },
          Progressing: done
            ? { status: 'False', reason: 'RolloutComplete', message: progress }
            : { status: 'True', reason: 'ShardsStarting', message: progress },
          Degraded: { status: 'False', reason: 'AsExpected', message: 'no failure' },
          TokenValid: tokenAccepted,
        },
      };
    }
  }
}

/**
 * The status a reconcile should leave (pure). Conditions carry the generation they describe;
 * `lastTransitionTime` moves only when a condition's status changes. Counts the observation does
 * not cover keep their current values.
 */
export function desiredStatus(
  current: DiscordBotStatus | undefined,
  generation: number,
  observation: Observation,
  now: Date,
): DiscordBotStatus {
  const { phase, conditions } = wishes(observation);
  const previous = new Map((current?.conditions ?? []).map((condition) => [condition.type, condition]));
  const nextConditions: Condition[] = (Object.entries(conditions) as [ConditionType, ConditionWish][]).map(
    ([type, wish]) => {
      const before = previous.get(type);
      return {
        type,
        status: wish.status,
        reason: wish.reason,
        message: wish.message,
        observedGeneration: generation,
        lastTransitionTime:
          before !== undefined && before.status === wish.status
            ? before.lastTransitionTime
            : now.toISOString().replace(/\.\d{3}Z$/, 'Z'),
      };
    },
  );
  const status: DiscordBotStatus = {
    ...current,
    observedGeneration: generation,
    phase,
    conditions: nextConditions,
  };
  if (observation.type === 'Applied' || observation.type === 'InsufficientIdentifyBudget') {
    status.gateway = observation.gateway;
    status.readyReplicas = observation.readiness.readyReplicas;
    status.readyShards = observation.readiness.readyShards;
    if (observation.type === 'Applied') {
      status.shards = observation.plan.shards;
      status.shardsPerPod = observation.plan.shardsPerPod;
      status.replicas = observation.plan.pods;
    }
  }
  return status;
}

/** Whether two statuses differ in anything the operator writes. */
export function statusDiffers(a: DiscordBotStatus | undefined, b: DiscordBotStatus): boolean {
  return JSON.stringify(canonical(a ?? {})) !== JSON.stringify(canonical(b));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value)
        .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
        .sort()
        .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
    );
  }
  return value;
}
