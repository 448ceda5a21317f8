import type * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  botManifests,
  DISCORD_BOT_API_VERSION,
  fixtureManifests,
  OPERATOR_NAMESPACE,
  operatorManifests,
  SIMULATOR_TOKEN,
} from '../../cluster/index.mjs';
import { type ApiServer, startApiServer } from './apiServer.js';

const NAMESPACE = 'e2e-fixtures';
const FIELD_MANAGER = 'shardfleet-e2e';

type DiscordBot = k8s.KubernetesObject & {
  spec: {
    sharding: Record<string, unknown>;
    bot: { image: string; replicas: number };
    discord: { apiUrl: string };
    redis: { url: string };
  };
};

describe(
  'the end-to-end fixtures (server-side dry run on a real control plane)',
  { timeout: 120_000 },
  () => {
    let server: ApiServer;
    const apply: ApiServer['apply'] = (object, dryRun) => server.apply(object, dryRun);

    beforeAll(async () => {
      server = await startApiServer(FIELD_MANAGER);
      await server.core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    }, 30 * 60_000);

    afterAll(async () => {
      await server?.controlPlane.stop();
    }, 60_000);

    it('are accepted by the API server as they are, pulling nothing, as restricted non-root pods', async () => {
      const manifests = fixtureManifests({ namespace: NAMESPACE }) as k8s.KubernetesObject[];
      expect(manifests.map(({ kind, metadata }) => `${kind}/${metadata?.name}`)).toEqual([
        'Deployment/redis',
        'Service/redis',
        'Deployment/simulator',
        'Service/simulator',
      ]);
      for (const manifest of manifests) {
        // A server-side apply, as the spec makes it (1.20's apply is stricter than a create).
        const accepted = await apply(manifest, 'All');
        expect(accepted.metadata?.namespace).toBe(NAMESPACE);
        if (manifest.kind !== 'Deployment') continue;
        const [container] = (accepted as k8s.V1Deployment).spec!.template.spec!.containers;
        expect(container!.imagePullPolicy).toBe('Never');
        expect(container!.image).toMatch(/^localhost\/shardfleet\/(redis|simulator):e2e$/);
        expect(container!.securityContext).toMatchObject({
          runAsNonRoot: true,
          readOnlyRootFilesystem: true,
        });
      }
      const simulator = manifests[2] as k8s.V1Deployment;
      expect(simulator.spec!.template.spec!.containers[0]!.args).toContain(
        `http://simulator.${NAMESPACE}.svc.cluster.local:8787`,
      );
    });

    it('names a field the API server refuses', async () => {
      const [redis] = fixtureManifests({ namespace: NAMESPACE }) as k8s.V1Deployment[];
      const broken = structuredClone(redis!);
      broken.spec!.template.spec!.containers[0]!.ports = [{ containerPort: 70_000 }];
      await expect(server.objects.create(broken, undefined, 'All')).rejects.toThrow(/containerPort/);
    });

    it("with the operator of operator/deploy on the e2e images and the CRD installed, the operator and the spec's Secret and DiscordBot are accepted", async () => {
      const manifests = operatorManifests();
      expect(manifests.map(({ kind, metadata }) => `${kind}/${metadata?.name}`)).toEqual([
        `Namespace/${OPERATOR_NAMESPACE}`,
        'CustomResourceDefinition/discordbots.shardfleet.dev',
        'ServiceAccount/shardfleet-operator',
        'ClusterRole/shardfleet-operator',
        'ClusterRoleBinding/shardfleet-operator',
        'Role/shardfleet-operator-leader-election',
        'RoleBinding/shardfleet-operator-leader-election',
        'Deployment/shardfleet-operator',
      ]);
      // The namespace and the CRD for real (the rest needs them), everything else as a dry run.
      const [namespace, crd, ...rest] = manifests;
      await apply(namespace!);
      await apply(crd!);
      await server.crdEstablished('discordbots.shardfleet.dev');
      // The schema arrived whole: the x-kubernetes-* fields survived the client's serializer.
      const stored = await server.extensions.readCustomResourceDefinition({
        name: 'discordbots.shardfleet.dev',
      });
      const specSchema = stored.spec.versions[0]!.schema!.openAPIV3Schema!.properties!.spec!;
      expect(specSchema.properties!.sharding!.properties!.shards!.x_kubernetes_int_or_string).toBe(true);
      expect(specSchema.properties!.shard!.properties!.resources!.x_kubernetes_preserve_unknown_fields).toBe(
        true,
      );
      expect(specSchema.required).toContain('tokenSecretRef');

      for (const manifest of rest) {
        const accepted = await apply(manifest, 'All');
        if (accepted.kind !== 'Deployment') continue;
        const deployment = accepted as k8s.V1Deployment;
        expect(deployment.spec!.replicas).toBe(1);
        const [container] = deployment.spec!.template.spec!.containers;
        expect(container!.image).toBe('localhost/shardfleet/operator:e2e');
        expect(container!.imagePullPolicy).toBe('Never');
        const env = Object.fromEntries((container!.env ?? []).map(({ name, value }) => [name, value]));
        expect(env).toMatchObject({
          SHARD_IMAGE: 'localhost/shardfleet/shard:e2e',
          REST_PROXY_IMAGE: 'localhost/shardfleet/rest-proxy:e2e',
        });
      }

      const [secret, bot] = botManifests({ namespace: NAMESPACE }) as k8s.KubernetesObject[];
      const acceptedSecret = (await apply(secret!, 'All')) as k8s.V1Secret;
      expect(Buffer.from(acceptedSecret.data!.token!, 'base64').toString()).toBe(SIMULATOR_TOKEN);
      const acceptedBot = (await apply(bot!, 'All')) as DiscordBot;
      expect(acceptedBot.apiVersion).toBe(DISCORD_BOT_API_VERSION);
      // The CRD's defaults are applied by the API server.
      expect(acceptedBot.spec.sharding).toEqual({ shards: 'auto', shardsPerPod: 2, guildsPerShard: 1_000 });
      expect(acceptedBot.spec.bot).toEqual({ image: 'localhost/shardfleet/bot:e2e', replicas: 2 });
      expect(acceptedBot.spec.discord.apiUrl).toBe(
        `http://simulator.${NAMESPACE}.svc.cluster.local:8787/api`,
      );
      expect(acceptedBot.spec.redis.url).toBe(`redis://redis.${NAMESPACE}.svc.cluster.local:6379`);

      // The schema is enforced, so an accepted DiscordBot means a valid one.
      const broken = structuredClone(bot!) as DiscordBot;
      broken.spec.sharding.shardsPerPod = 0;
      await expect(apply(broken, 'All')).rejects.toThrow(/spec\.sharding\.shardsPerPod/);
    });
  },
);
