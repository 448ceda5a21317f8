import type { V1EnvVar } from '@kubernetes/client-node';
import { planFleet } from '@shardfleet/protocol';
import { describe, expect, it } from 'vitest';
import { type DiscordBotSpecInput, validateSpec } from '../crd/discordBotSchema.js';
import {
  type DesiredChildrenInput,
  desiredChildren,
  newProxyAuthToken,
  shardEnv,
} from '../reconcile/desiredChildren.js';
import { APPLIED_HASH_ANNOTATION } from '../reconcile/names.js';

function input(
  specInput: Partial<DiscordBotSpecInput> = {},
  overrides: Partial<DesiredChildrenInput> = {},
): DesiredChildrenInput {
  const result = validateSpec({
    tokenSecretRef: { name: 'mybot-token' },
    redis: { url: 'redis://redis:6379' },
    ...specInput,
  });
  if (!result.ok) throw new Error(JSON.stringify(result.problems));
  const { spec, intents } = result.value;
  return {
    bot: { name: 'mybot', namespace: 'bots', uid: 'uid-1' },
    spec,
    intents,
    plan: planFleet(spec.sharding, { recommendedShards: 5, maxConcurrency: 1 }),
    shardImage: 'ghcr.io/shardfleet/shard:1',
    restProxyImage: 'ghcr.io/shardfleet/rest-proxy:1',
    pdbApiVersion: 'policy/v1beta1',
    proxyAuthToken: 'kept-proxy-secret-value',
    ...overrides,
  };
}

function env(list: V1EnvVar[]): Record<string, unknown> {
  return Object.fromEntries(list.map((item) => [item.name, item.value ?? item.valueFrom]));
}

const anyObject = (value: unknown) => value as any;

describe('shardEnv', () => {
  it('carries the contract variables: 5 shards, 2 per pod', () => {
    expect(env(shardEnv(input({ sharding: { shardsPerPod: 2 } })))).toEqual({
      SHARDFLEET_BOT: 'bots.mybot',
      DISCORD_TOKEN: { secretKeyRef: { name: 'mybot-token', key: 'token' } },
      DISCORD_API_URL: 'https://discord.com/api',
      SHARD_COUNT: '5',
      SHARDS_PER_POD: '2',
      POD_NAME: { fieldRef: { fieldPath: 'metadata.name' } },
      INTENTS: String(1 | 512),
      EVENTS: '',
      REDIS_URL: 'redis://redis:6379',
      PORT: '8080',
      STREAM_MAX_LENGTH: '100000',
    });
  });

  it.each([
    [
      'IDENTIFY_INTERVAL_MS only when set',
      { discord: { identifyIntervalMs: 100 } },
      'IDENTIFY_INTERVAL_MS',
      '100',
    ],
    [
      'EVENTS as a comma list',
      { events: ['MESSAGE_CREATE', 'INTERACTION_CREATE'] },
      'EVENTS',
      'MESSAGE_CREATE,INTERACTION_CREATE',
    ],
    [
      'PRESENCE as JSON with defaults',
      { presence: { status: 'online', activities: [{ name: 'shardfleet', type: 3 }] } },
      'PRESENCE',
      JSON.stringify({
        status: 'online',
        activities: [{ name: 'shardfleet', type: 3 }],
        since: null,
        afk: false,
      }),
    ],
    [
      'REDIS_URL from a Secret',
      { redis: { urlSecretRef: { name: 'redis', key: 'url' } } },
      'REDIS_URL',
      { secretKeyRef: { name: 'redis', key: 'url' } },
    ],
    ['INTENTS from names and numbers', { intents: ['Guilds', 32_768] }, 'INTENTS', String(1 | 32_768)],
  ] as const)('%s', (_what, spec, variable, value) => {
    expect(env(shardEnv(input(spec as Partial<DiscordBotSpecInput>)))[variable]).toEqual(value);
  });

  it('has no IDENTIFY_INTERVAL_MS or PRESENCE unless the spec sets them', () => {
    const names = shardEnv(input()).map((item) => item.name);
    expect(names).not.toContain('IDENTIFY_INTERVAL_MS');
    expect(names).not.toContain('PRESENCE');
  });
});

describe('desiredChildren', () => {
  const children = desiredChildren(input({ sharding: { shardsPerPod: 2 }, bot: { image: 'example/bot:1' } }));
  const all = Object.values(children).filter((child) => child !== undefined);

  it('names every child after the bot', () => {
    expect(all.map((child) => `${child.kind}/${child.metadata?.name}`)).toEqual([
      'Secret/mybot-proxy-auth',
      'Service/mybot-shards',
      'StatefulSet/mybot-shards',
      'PodDisruptionBudget/mybot-shards',
      'Deployment/mybot-rest-proxy',
      'Service/mybot-rest-proxy',
      'Deployment/mybot-bot',
    ]);
  });

  it('owns every child, labels it and marks what was applied', () => {
    for (const child of all) {
      expect(child.metadata?.namespace).toBe('bots');
      expect(child.metadata?.ownerReferences).toEqual([
        {
          apiVersion: 'shardfleet.dev/v1alpha1',
          kind: 'DiscordBot',
          name: 'mybot',
          uid: 'uid-1',
          controller: true,
          blockOwnerDeletion: true,
        },
      ]);
      expect(child.metadata?.labels).toMatchObject({
        'app.kubernetes.io/managed-by': 'shardfleet',
        'app.kubernetes.io/instance': 'mybot',
      });
      expect(child.metadata?.annotations?.[APPLIED_HASH_ANNOTATION]).toMatch(/^[0-9a-f]{32}$/);
    }
  });

  it('runs ceil(shards / shardsPerPod) shard pods in parallel behind a headless Service', () => {
    const sts = anyObject(children.shardStatefulSet);
    expect(sts.spec.replicas).toBe(3);
    expect(sts.spec.podManagementPolicy).toBe('Parallel');
    expect(sts.spec.serviceName).toBe('mybot-shards');
    expect(anyObject(children.shardService).spec.clusterIP).toBe('None');
    expect(sts.spec.selector.matchLabels).toEqual({
      'app.kubernetes.io/name': 'shardfleet',
      'app.kubernetes.io/instance': 'mybot',
      'app.kubernetes.io/component': 'shard',
    });
  });

  it.each([
    ['shard', () => anyObject(children.shardStatefulSet).spec.template.spec],
    ['rest proxy', () => anyObject(children.restProxyDeployment).spec.template.spec],
    ['bot', () => anyObject(children.botDeployment).spec.template.spec],
  ])('gives %s pods a restricted security context, probes and no service account token', (_what, pod) => {
    const spec = pod();
    expect(spec.automountServiceAccountToken).toBe(false);
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    const [container] = spec.containers;
    expect(container.securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
    expect(container.readinessProbe.httpGet).toEqual({ path: '/readyz', port: 'http' });
    expect(container.livenessProbe.httpGet).toEqual({ path: '/healthz', port: 'http' });
    expect(container.ports).toEqual([{ name: 'http', containerPort: 8080, protocol: 'TCP' }]);
    expect(container.resources.requests).toBeDefined();
  });

  it('gives the proxy its bot id, and its token and shared secret through Secret references', () => {
    expect(anyObject(children.restProxyDeployment).spec.template.spec.containers[0].env).toContainEqual({
      name: 'SHARDFLEET_BOT',
      value: 'bots.mybot',
    });
    expect(anyObject(children.restProxyDeployment).spec.template.spec.containers[0].env).toContainEqual({
      name: 'DISCORD_TOKEN',
      valueFrom: { secretKeyRef: { name: 'mybot-token', key: 'token' } },
    });
    expect(anyObject(children.restProxyDeployment).spec.template.spec.containers[0].env).toContainEqual({
      name: 'PROXY_AUTH_TOKEN',
      valueFrom: { secretKeyRef: { name: 'mybot-proxy-auth', key: 'token' } },
    });
  });

  it('gives the bot pods the proxy URL and secret, the consumer group and the user env', () => {
    const withEnv = desiredChildren(
      input({ bot: { image: 'example/bot:1', replicas: 3, env: [{ name: 'FOO', value: 'bar' }] } }),
    );
    const deployment = anyObject(withEnv.botDeployment);
    expect(deployment.spec.replicas).toBe(3);
    expect(env(deployment.spec.template.spec.containers[0].env)).toMatchObject({
      SHARDFLEET_BOT: 'bots.mybot',
      REDIS_URL: 'redis://redis:6379',
      REST_PROXY_URL: 'http://mybot-rest-proxy.bots.svc:8080',
      REST_PROXY_TOKEN: { secretKeyRef: { name: 'mybot-proxy-auth', key: 'token' } },
      CONSUMER_GROUP: 'bot',
      FOO: 'bar',
    });
  });

  it('has no bot Deployment without spec.bot', () => {
    expect(desiredChildren(input()).botDeployment).toBeUndefined();
  });

  it('puts the given proxy secret in the Secret; new ones are random 32 bytes in hex', () => {
    const kept = anyObject(children.proxyAuthSecret).data.token;
    expect(Buffer.from(kept, 'base64').toString()).toBe('kept-proxy-secret-value');
    const fresh = [newProxyAuthToken(), newProxyAuthToken()];
    expect(fresh[0]).not.toBe(fresh[1]);
    expect(fresh[0]).toMatch(/^[0-9a-f]{64}$/);
  });

  it('uses the PodDisruptionBudget version the cluster serves, one shard pod at a time', () => {
    expect(anyObject(children.shardDisruptionBudget)).toMatchObject({
      apiVersion: 'policy/v1beta1',
      spec: { maxUnavailable: 1 },
    });
    expect(desiredChildren(input({}, { pdbApiVersion: 'policy/v1' })).shardDisruptionBudget.apiVersion).toBe(
      'policy/v1',
    );
  });

  it.each([
    ['the same input', {}, {}, true],
    ['another proxy secret (not hashed)', {}, { proxyAuthToken: 'other' }, true],
    ['another shardsPerPod', { sharding: { shardsPerPod: 1 } }, {}, false],
    ['another image', {}, { shardImage: 'ghcr.io/shardfleet/shard:2' }, false],
  ] as const)('keeps the StatefulSet hash for %s: %s', (_what, spec, overrides, same) => {
    const hash = (children_: ReturnType<typeof desiredChildren>) =>
      children_.shardStatefulSet.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
    const base = desiredChildren(input({ sharding: { shardsPerPod: 2 } }));
    const other = desiredChildren(
      input({ sharding: { shardsPerPod: 2 }, ...spec } as Partial<DiscordBotSpecInput>, overrides),
    );
    expect(hash(base) === hash(other)).toBe(same);
    const secretHash = (c: ReturnType<typeof desiredChildren>) =>
      c.proxyAuthSecret.metadata?.annotations?.[APPLIED_HASH_ANNOTATION];
    expect(secretHash(base)).toBe(secretHash(other));
  });

  it('passes scheduling and resources of the spec to shard pods', () => {
    const custom = desiredChildren(
      input({
        shard: {
          image: 'localhost/shard:dev',
          resources: { requests: { cpu: '1' } },
          nodeSelector: { pool: 'gateway' },
          tolerations: [{ key: 'gateway', operator: 'Exists' }],
        },
      }),
    );
    const pod = anyObject(custom.shardStatefulSet).spec.template.spec;
    expect(pod.containers[0].image).toBe('localhost/shard:dev');
    expect(pod.containers[0].resources).toEqual({ requests: { cpu: '1' } });
    expect(pod.nodeSelector).toEqual({ pool: 'gateway' });
    expect(pod.tolerations).toEqual([{ key: 'gateway', operator: 'Exists' }]);
  });
});
