import { workerCount } from './shard-math.js';

/**
 * Guilds per shard that Discord's recommendation (`shards` of `GET /gateway/bot`) assumes; the
 * fleet plan estimates the guild count from the recommendation with it.
 */
export const DISCORD_GUILDS_PER_RECOMMENDED_SHARD = 1_000;

/** The sizing wishes of a fleet: `spec.sharding` of a DiscordBot, or the flags of `shardfleet dev`. */
export interface FleetSizing {
  /** `'auto'` (from Discord's recommendation and {@link FleetSizing.guildsPerShard}) or a fixed shard count. */
  readonly shards: 'auto' | number;
  /** Shards each worker pod runs, a positive integer. */
  readonly shardsPerPod: number;
  /** Target guilds per shard; only used with `shards: 'auto'`. */
  readonly guildsPerShard: number;
}

/** What `GET /gateway/bot` says about the application, in the fleet plan's terms. */
export interface GatewayLimits {
  /** `shards`: Discord's recommended shard count. */
  readonly recommendedShards: number;
  /** `session_start_limit.max_concurrency`: identify buckets. */
  readonly maxConcurrency: number;
}

/** The size of a fleet: how many shards, in how many worker pods. */
export interface FleetPlan {
  /** The total shard count (`SHARD_COUNT`); a multiple of `maxConcurrency` when that is > 1. */
  readonly shards: number;
  /** Shards per worker pod (`SHARDS_PER_POD`). */
  readonly shardsPerPod: number;
  /** Worker pods (StatefulSet replicas): `ceil(shards / shardsPerPod)`. */
  readonly pods: number;
  /** Identify buckets the fleet starts in parallel. */
  readonly maxConcurrency: number;
}

function assertPositiveInteger(value: number, name: string): void {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new RangeError(`${name} must be a positive integer, got ${String(value)}`);
  }
}

function roundUpToMultiple(value: number, multiple: number): number {
  return Math.ceil(value / multiple) * multiple;
}

/**
 * Sizes a fleet. With `shards: 'auto'` the guild count is estimated as
 * `recommendedShards * 1000` (the density Discord's recommendation assumes) and divided by
 * `guildsPerShard`; a fixed number is taken as given. Either way the count is rounded up to a
 * multiple of `maxConcurrency` when that is > 1, because large bots must run a multiple of it
 * (Discord closes other counts with 4010) and every identify bucket then holds as many shards.
 *
 * @param sizing - The sizing wishes.
 * @param gateway - Discord's recommendation and `max_concurrency`.
 * @returns The plan.
 * @throws RangeError if a number is not a positive integer.
 */
export function planFleet(sizing: FleetSizing, gateway: GatewayLimits): FleetPlan {
  assertPositiveInteger(sizing.shardsPerPod, 'shardsPerPod');
  assertPositiveInteger(gateway.recommendedShards, 'recommendedShards');
  assertPositiveInteger(gateway.maxConcurrency, 'maxConcurrency');
  let wanted: number;
  if (sizing.shards === 'auto') {
    assertPositiveInteger(sizing.guildsPerShard, 'guildsPerShard');
    const guilds = gateway.recommendedShards * DISCORD_GUILDS_PER_RECOMMENDED_SHARD;
    wanted = Math.max(1, Math.ceil(guilds / sizing.guildsPerShard));
  } else {
    assertPositiveInteger(sizing.shards, 'shards');
    wanted = sizing.shards;
  }
  const shards = gateway.maxConcurrency > 1 ? roundUpToMultiple(wanted, gateway.maxConcurrency) : wanted;
  return {
    shards,
    shardsPerPod: sizing.shardsPerPod,
    pods: workerCount(shards, sizing.shardsPerPod),
    maxConcurrency: gateway.maxConcurrency,
  };
}

/**
 * The identifies a (re)start of the whole fleet spends: one per shard. A rollout restarts every
 * worker pod, and a new shard count invalidates every stored session, so no shard can resume.
 *
 * @param plan - The fleet plan.
 * @returns The identifies needed, `plan.shards`.
 */
export function identifiesForStart(plan: FleetPlan): number {
  return plan.shards;
}

/**
 * Whether the identify budget (`session_start_limit.remaining`) covers a (re)start of the fleet.
 * Running out is not a soft failure: Discord terminates every session and resets the token.
 *
 * @param plan - The fleet plan.
 * @param remaining - `session_start_limit.remaining`.
 * @returns `true` if `remaining >= identifiesForStart(plan)`.
 */
export function hasIdentifyBudgetForStart(plan: FleetPlan, remaining: number): boolean {
  return remaining >= identifiesForStart(plan);
}
