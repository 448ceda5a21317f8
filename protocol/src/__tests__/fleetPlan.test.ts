import { describe, expect, it } from 'vitest';
import { type FleetSizing, hasIdentifyBudgetForStart, identifiesForStart, planFleet } from '../index.js';

function sizing(overrides: Partial<FleetSizing>): FleetSizing {
  return { shards: 'auto', shardsPerPod: 16, guildsPerShard: 1_000, ...overrides };
}

describe('planFleet', () => {
  it.each([
    // [what, sizing, recommendedShards, maxConcurrency, shards, pods]
    ['auto at Discord density', sizing({ shardsPerPod: 2 }), 5, 1, 5, 3],
    ['auto, one pod holds all', sizing({}), 5, 1, 5, 1],
    ['auto, denser shards', sizing({ guildsPerShard: 2_500 }), 10, 1, 4, 1],
    ['auto, sparser shards', sizing({ guildsPerShard: 500, shardsPerPod: 4 }), 3, 1, 6, 2],
    ['auto, never below one shard', sizing({ guildsPerShard: 2_500 }), 1, 1, 1, 1],
    ['auto, rounded up to max_concurrency', sizing({ shardsPerPod: 8 }), 17, 16, 32, 4],
    ['auto, already a multiple', sizing({ shardsPerPod: 16 }), 32, 16, 32, 2],
    ['fixed number', sizing({ shards: 7, shardsPerPod: 3 }), 1, 1, 7, 3],
    ['fixed number rounded up to max_concurrency', sizing({ shards: 10, shardsPerPod: 4 }), 1, 4, 12, 3],
    ['fixed number ignores guildsPerShard', sizing({ shards: 3, guildsPerShard: 1 }), 50, 1, 3, 1],
    ['one shard per pod', sizing({ shards: 5, shardsPerPod: 1 }), 1, 1, 5, 5],
  ] as const)('%s', (_what, wishes, recommendedShards, maxConcurrency, shards, pods) => {
    const plan = planFleet(wishes, { recommendedShards, maxConcurrency });
    expect(plan).toEqual({ shards, shardsPerPod: wishes.shardsPerPod, pods, maxConcurrency });
  });

  it.each([
    [sizing({ shardsPerPod: 0 }), { recommendedShards: 1, maxConcurrency: 1 }, 'shardsPerPod'],
    [sizing({ shards: 0 }), { recommendedShards: 1, maxConcurrency: 1 }, 'shards'],
    [sizing({ shards: 1.5 }), { recommendedShards: 1, maxConcurrency: 1 }, 'shards'],
    [sizing({ guildsPerShard: -1 }), { recommendedShards: 1, maxConcurrency: 1 }, 'guildsPerShard'],
    [sizing({}), { recommendedShards: 0, maxConcurrency: 1 }, 'recommendedShards'],
    [sizing({}), { recommendedShards: 1, maxConcurrency: 0 }, 'maxConcurrency'],
  ])('refuses %j with %j naming %s', (wishes, gateway, name) => {
    expect(() => planFleet(wishes, gateway)).toThrow(new RegExp(`^${name} must be a positive integer`));
  });
});

describe('identify budget for a (re)start', () => {
  const plan = planFleet(sizing({ shards: 12, shardsPerPod: 4 }), {
    recommendedShards: 1,
    maxConcurrency: 1,
  });

  it('needs one identify per shard', () => {
    expect(identifiesForStart(plan)).toBe(12);
  });

  it.each([
    [1_000, true],
    [12, true],
    [11, false],
    [0, false],
  ])('with %i remaining: %s', (remaining, enough) => {
    expect(hasIdentifyBudgetForStart(plan, remaining)).toBe(enough);
  });
});
