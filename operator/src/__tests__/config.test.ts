import { ConfigError, parseEnv } from '@shardfleet/protocol';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SHARD_IMAGE, operatorEnvSchema } from '../config.js';

describe('operatorEnvSchema', () => {
  it('has defaults for everything', () => {
    const config = parseEnv(operatorEnvSchema, {});
    expect(config).toMatchObject({
      namespaces: [],
      shardImage: DEFAULT_SHARD_IMAGE,
      port: 8_080,
      leaderElection: true,
      leaseName: 'shardfleet-operator',
      leaseNamespace: 'default',
      resyncIntervalMs: 300_000,
      gatewayRecheckIntervalMs: 600_000,
      workers: 16,
    });
  });

  it('reads the lists and switches', () => {
    const config = parseEnv(operatorEnvSchema, {
      WATCH_NAMESPACES: 'team-a, team-b',
      LEADER_ELECT: 'false',
      POD_NAMESPACE: 'shardfleet-system',
      SHARD_IMAGE: 'localhost/shard:dev',
    });
    expect(config.namespaces).toEqual(['team-a', 'team-b']);
    expect(config.leaderElection).toBe(false);
    expect(config.leaseNamespace).toBe('shardfleet-system');
    expect(config.shardImage).toBe('localhost/shard:dev');
  });

  it.each([
    ['PORT', '70000'],
    ['LEADER_ELECT', 'maybe'],
    ['WATCH_NAMESPACES', 'Team_A'],
    ['RESYNC_INTERVAL_MS', '10'],
    ['LOG_LEVEL', 'loud'],
    ['LEASE_NAME', 'Not A Name'],
  ])('names %s when it is %j', (variable, value) => {
    expect(() => parseEnv(operatorEnvSchema, { [variable]: value })).toThrow(ConfigError);
    try {
      parseEnv(operatorEnvSchema, { [variable]: value });
    } catch (error) {
      expect((error as ConfigError).problems.map((problem) => problem.variable)).toEqual([variable]);
    }
  });
});
