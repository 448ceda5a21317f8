import { planFleet } from '@shardfleet/protocol';
import { describe, expect, it } from 'vitest';
import type { DiscordBotStatus } from '../crd/discordBotStatusSchema.js';
import type { GatewayInfo } from '../gateway/GatewayChecker.js';
import {
  countReadiness,
  desiredStatus,
  type Observation,
  statusDiffers,
} from '../reconcile/desiredStatus.js';

const gateway: GatewayInfo = {
  recommendedShards: 5,
  maxConcurrency: 1,
  sessionStartLimit: { total: 1_000, remaining: 990, resetAfter: 3_600_000 },
  checkedAt: '2026-01-01T00:00:00.000Z',
};
const plan = planFleet({ shards: 'auto', shardsPerPod: 2, guildsPerShard: 1_000 }, gateway);
const T0 = new Date('2026-01-01T00:00:00Z');
const T1 = new Date('2026-01-01T00:05:00Z');

function pods(...ready: boolean[]) {
  return ready.map((isReady, ordinal) => ({ name: `mybot-shards-${ordinal}`, ready: isReady }));
}

describe('countReadiness', () => {
  it.each([
    ['no pods', [], 5, 2, 0, 0],
    ['all pending', pods(false, false, false), 5, 2, 0, 0],
    ['first pod ready', pods(true, false, false), 5, 2, 1, 2],
    ['last pod holds the remainder', pods(false, false, true), 5, 2, 1, 1],
    ['all ready', pods(true, true, true), 5, 2, 3, 5],
    ['a pod beyond the plan does not count', pods(true, true, true, true), 5, 2, 3, 5],
    ['one shard per pod', pods(true, false, true, true, true), 5, 1, 4, 4],
    ['exact multiple', pods(true, true), 32, 16, 2, 32],
    ['a name without an ordinal does not count', [{ name: 'stray', ready: true }], 5, 2, 0, 0],
  ])('%s', (_what, list, shards, shardsPerPod, readyReplicas, readyShards) => {
    expect(countReadiness(list, shards, shardsPerPod)).toEqual({ readyReplicas, readyShards });
  });
});

function conditions(status: DiscordBotStatus) {
  return Object.fromEntries(
    (status.conditions ?? []).map((condition) => [condition.type, `${condition.status}/${condition.reason}`]),
  );
}

describe('desiredStatus', () => {
  const applied = (readyShards: number, readyReplicas: number): Observation => ({
    type: 'Applied',
    gateway,
    plan,
    readiness: { readyShards, readyReplicas },
  });

  it.each<[string, Observation, string, Record<string, string>]>([
    [
      'rolling out',
      applied(0, 0),
      'Provisioning',
      {
        Ready: 'False/ShardsNotReady',
        Progressing: 'True/ShardsStarting',
        Degraded: 'False/AsExpected',
        TokenValid: 'True/TokenAccepted',
      },
    ],
    [
      'all shards ready',
      applied(5, 3),
      'Running',
      {
        Ready: 'True/ShardsReady',
        Progressing: 'False/RolloutComplete',
        Degraded: 'False/AsExpected',
        TokenValid: 'True/TokenAccepted',
      },
    ],
    [
      'a missing Secret',
      { type: 'SecretNotFound', message: 'Secret "x" not found' },
      'Pending',
      {
        Ready: 'False/SecretNotFound',
        Progressing: 'False/SecretNotFound',
        Degraded: 'False/SecretNotFound',
        TokenValid: 'False/SecretNotFound',
      },
    ],
    [
      'a refused token',
      { type: 'InvalidToken', message: '401' },
      'Failed',
      {
        Ready: 'False/InvalidToken',
        Progressing: 'False/InvalidToken',
        Degraded: 'False/InvalidToken',
        TokenValid: 'False/InvalidToken',
      },
    ],
    [
      'Discord unreachable',
      { type: 'DiscordUnreachable', message: 'ECONNREFUSED' },
      'Degraded',
      {
        Ready: 'False/DiscordUnreachable',
        Progressing: 'False/DiscordUnreachable',
        Degraded: 'True/DiscordUnreachable',
        TokenValid: 'Unknown/DiscordUnreachable',
      },
    ],
    [
      'too few identifies',
      {
        type: 'InsufficientIdentifyBudget',
        message: 'needs 5',
        gateway,
        plan,
        readiness: { readyShards: 0, readyReplicas: 0 },
      },
      'Degraded',
      {
        Ready: 'False/InsufficientIdentifyBudget',
        Progressing: 'False/InsufficientIdentifyBudget',
        Degraded: 'False/AsExpected',
        TokenValid: 'True/TokenAccepted',
      },
    ],
    [
      'a child name taken by another owner',
      { type: 'ChildConflict', message: 'Secret/x exists' },
      'Failed',
      {
        Ready: 'False/ChildConflict',
        Progressing: 'False/ChildConflict',
        Degraded: 'True/ChildConflict',
        TokenValid: 'True/TokenAccepted',
      },
    ],
    [
      'an invalid spec',
      { type: 'InvalidSpec', message: 'spec.intents: unknown' },
      'Failed',
      {
        Ready: 'False/InvalidSpec',
        Progressing: 'False/InvalidSpec',
        Degraded: 'False/InvalidSpec',
        TokenValid: 'Unknown/InvalidSpec',
      },
    ],
  ])('%s', (_what, observation, phase, expected) => {
    const status = desiredStatus(undefined, 3, observation, T0);
    expect(status.phase).toBe(phase);
    expect(conditions(status)).toEqual(expected);
    for (const condition of status.conditions ?? []) {
      expect(condition.observedGeneration).toBe(3);
      expect(condition.lastTransitionTime).toBe('2026-01-01T00:00:00Z');
    }
    expect(status.observedGeneration).toBe(3);
  });

  it('writes the plan, the readiness and the gateway information', () => {
    expect(desiredStatus(undefined, 1, applied(2, 1), T0)).toMatchObject({
      shards: 5,
      shardsPerPod: 2,
      replicas: 3,
      readyReplicas: 1,
      readyShards: 2,
      gateway,
    });
  });

  it('moves lastTransitionTime only for conditions whose status changed', () => {
    const before = desiredStatus(undefined, 1, applied(0, 0), T0);
    const after = desiredStatus(before, 2, applied(5, 3), T1);
    const times = Object.fromEntries(
      (after.conditions ?? []).map((condition) => [condition.type, condition.lastTransitionTime]),
    );
    expect(times).toEqual({
      Ready: '2026-01-01T00:05:00Z',
      Progressing: '2026-01-01T00:05:00Z',
      Degraded: '2026-01-01T00:00:00Z',
      TokenValid: '2026-01-01T00:00:00Z',
    });
  });

  it('keeps the counts of the last rollout while the token is missing', () => {
    const running = desiredStatus(undefined, 1, applied(5, 3), T0);
    const blocked = desiredStatus(running, 1, { type: 'SecretNotFound', message: 'gone' }, T1);
    expect(blocked).toMatchObject({ shards: 5, readyShards: 5, gateway });
  });

  it('is the same status when nothing changed, so nothing is written', () => {
    const first = desiredStatus(undefined, 1, applied(0, 0), T0);
    const again = desiredStatus(first, 1, applied(0, 0), T1);
    expect(statusDiffers(first, again)).toBe(false);
    expect(statusDiffers(first, desiredStatus(first, 1, applied(2, 1), T1))).toBe(true);
  });
});
