import { Resolver } from 'node:dns/promises';
import { waitUntil } from '@shardfleet/testing';
import * as k8s from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type ClusterDns,
  type ControlPlane,
  ensureKubernetesBinaries,
  startClusterDns,
  startControlPlane,
} from '../../cluster/index.mjs';

const NAMESPACE = 'e2e-dns';

describe('the cluster DNS of the local provider (real control plane)', { timeout: 120_000 }, () => {
  let controlPlane: ControlPlane;
  let dns: ClusterDns;
  let core: k8s.CoreV1Api;
  let resolver: Resolver;

  beforeAll(async () => {
    await ensureKubernetesBinaries({ log: (line) => process.stderr.write(`e2e: ${line}\n`) });
    controlPlane = await startControlPlane();
    const kubeConfig = new k8s.KubeConfig();
    kubeConfig.loadFromFile(controlPlane.kubeconfigPath);
    core = kubeConfig.makeApiClient(k8s.CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    dns = await startClusterDns({ kubeconfig: controlPlane.kubeconfigPath, port: 0 });
    resolver = new Resolver({ timeout: 2_000, tries: 1 });
    resolver.setServers([`127.0.0.1:${dns.port}`]);
  }, 30 * 60_000);

  afterAll(async () => {
    await dns?.close();
    await controlPlane?.stop();
  }, 60_000);

  /** The addresses of a name; none when the lookup fails. */
  const lookup = (name: string): Promise<string[]> => resolver.resolve4(name).catch(() => []);
  const failureOf = (name: string) =>
    resolver.resolve4(name).then(
      () => 'resolved',
      (error: NodeJS.ErrnoException) => error.code,
    );

  it('answers a Service name with its ClusterIP, and NXDOMAIN for a Service that does not exist', async () => {
    const created = await core.createNamespacedService({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'redis' },
        spec: { selector: { app: 'redis' }, ports: [{ port: 6379 }] },
      },
    });
    const clusterIp = created.spec!.clusterIP!;
    expect(clusterIp).toMatch(/^10\.96\./);
    await waitUntil(async () => (await lookup(`redis.${NAMESPACE}.svc.cluster.local`))[0] === clusterIp, {
      description: 'the Service name resolved to its ClusterIP',
    });
    expect(await failureOf(`nothing-here.${NAMESPACE}.svc.cluster.local`)).toBe('ENOTFOUND');
  });

  it('answers a headless Service with its endpoints and a pod name with its own, following changes', async () => {
    await core.createNamespacedService({
      namespace: NAMESPACE,
      body: { metadata: { name: 'shards' }, spec: { clusterIP: 'None', ports: [{ port: 8080 }] } },
    });
    const endpoints = (addresses: { ip: string; hostname: string }[]) => ({
      metadata: { name: 'shards' },
      subsets: [{ addresses, ports: [{ port: 8080 }] }],
    });
    await core.createNamespacedEndpoints({
      namespace: NAMESPACE,
      body: endpoints([
        { ip: '10.244.0.10', hostname: 'bot-shards-0' },
        { ip: '10.244.0.11', hostname: 'bot-shards-1' },
      ]),
    });
    await waitUntil(async () => (await lookup(`shards.${NAMESPACE}.svc.cluster.local`)).length === 2, {
      description: 'both endpoints of the headless Service',
    });
    expect((await lookup(`shards.${NAMESPACE}.svc.cluster.local`)).sort()).toEqual([
      '10.244.0.10',
      '10.244.0.11',
    ]);
    expect(await lookup(`bot-shards-1.shards.${NAMESPACE}.svc.cluster.local`)).toEqual(['10.244.0.11']);

    await core.replaceNamespacedEndpoints({
      name: 'shards',
      namespace: NAMESPACE,
      body: endpoints([{ ip: '10.244.0.12', hostname: 'bot-shards-1' }]),
    });
    await waitUntil(
      async () => (await lookup(`bot-shards-1.shards.${NAMESPACE}.svc.cluster.local`))[0] === '10.244.0.12',
      { description: 'the moved pod resolved to its new address' },
    );
    expect(await failureOf(`bot-shards-0.shards.${NAMESPACE}.svc.cluster.local`)).toBe('ENOTFOUND');
  });

  it('answers over TCP when the answer does not fit a UDP datagram (truncated)', async () => {
    const addresses = Array.from({ length: 60 }, (_, i) => ({
      ip: `10.244.1.${i + 1}`,
      hostname: `pod-${i}`,
    }));
    await core.createNamespacedService({
      namespace: NAMESPACE,
      body: { metadata: { name: 'many' }, spec: { clusterIP: 'None', ports: [{ port: 80 }] } },
    });
    await core.createNamespacedEndpoints({
      namespace: NAMESPACE,
      body: { metadata: { name: 'many' }, subsets: [{ addresses, ports: [{ port: 80 }] }] },
    });
    await waitUntil(async () => (await lookup(`many.${NAMESPACE}.svc.cluster.local`)).length === 60, {
      description: 'all 60 endpoints, over TCP after a truncated UDP answer',
    });
  });

  it('refuses names outside the cluster instead of forwarding them', async () => {
    expect(await failureOf('example.com')).toBe('EREFUSED');
  });
});
