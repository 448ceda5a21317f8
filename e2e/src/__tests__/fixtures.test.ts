import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ControlPlane,
  ensureKubernetesBinaries,
  fixtureManifests,
  startControlPlane,
} from '../../cluster/index.mjs';

const NAMESPACE = 'e2e-fixtures';

describe(
  'the end-to-end fixtures (server-side dry run on a real control plane)',
  { timeout: 120_000 },
  () => {
    let controlPlane: ControlPlane;
    let objects: k8s.KubernetesObjectApi;

    beforeAll(async () => {
      await ensureKubernetesBinaries({ log: (line) => process.stderr.write(`e2e: ${line}\n`) });
      controlPlane = await startControlPlane();
      const kubeConfig = new k8s.KubeConfig();
      kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
      objects = k8s.KubernetesObjectApi.makeApiClient(kubeConfig);
      await kubeConfig
        .makeApiClient(k8s.CoreV1Api)
        .createNamespace({ body: { metadata: { name: NAMESPACE } } });
    }, 30 * 60_000);

    afterAll(async () => {
      await controlPlane?.stop();
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
        const accepted = await objects.create(manifest, undefined, 'All');
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
      await expect(objects.create(broken, undefined, 'All')).rejects.toThrow(/containerPort/);
    });
  },
);
