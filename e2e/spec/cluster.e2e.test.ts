// The cluster itself, as the fleet spec relies on it: pods find Services by name through the cluster
// DNS and reach the API server as any in-cluster client does, `kubectl logs` and `exec` work, the
// node holds the built images, and nothing a pod sends leaves the machine.
// Run by e2e/bin/e2e.mjs with KUBECONFIG set (see fleet.e2e.test.ts). Provider `local` only: the
// forward rules it checks are the local node's.
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import * as k8s from '@kubernetes/client-node';
import { waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KUBELET_PORT } from '../cluster/index.mjs';
import { IMAGE_DEFINITIONS, imageName } from '../images/index.mjs';

const run = promisify(execFile);
const NAMESPACE = `shardfleet-cluster-${randomBytes(3).toString('hex')}`;
const PROBE_IMAGE = imageName('simulator');
/** TEST-NET-3 (RFC 5737): an address outside this machine that is never in use. */
const OUTSIDE_ADDRESS = '203.0.113.7';
const local = (process.env.SHARDFLEET_PROVIDER ?? 'local') === 'local';

const kubeConfig = new k8s.KubeConfig();
kubeConfig.loadFromFile(process.env.KUBECONFIG ?? '');
const core = kubeConfig.makeApiClient(k8s.CoreV1Api);

const kubectl = async (...args: string[]) => (await run('kubectl', ['-n', NAMESPACE, ...args])).stdout;

/** Packets dropped by the local node's rules in `chain` so far. */
async function nodeRuleDrops(chain: 'FORWARD' | 'INPUT'): Promise<number> {
  const { stdout } = await run('iptables', ['-w', '5', '-L', chain, '-v', '-x', '-n']);
  return stdout
    .split('\n')
    .filter((line) => line.includes('shardfleet local node'))
    .reduce((sum, line) => sum + Number(line.trim().split(/\s+/)[0]), 0);
}

/** A node script that tries a TCP connection and prints `connected`, `timed out` (3 s) or the error code. */
const connectScript = (host: string, port: number) => `
  const socket = require('node:net').connect({ host: '${host}', port: ${port} });
  socket.setTimeout(3000, () => { console.log('timed out'); socket.destroy(); });
  socket.once('connect', () => { console.log('connected'); socket.destroy(); });
  socket.once('error', (error) => console.log(error.code));
`;

/** Runs `script` with node in a pod of the probe image; resolves with what it printed. */
async function runInPod(name: string, script: string): Promise<string> {
  await core.createNamespacedPod({
    namespace: NAMESPACE,
    body: {
      metadata: { name },
      spec: {
        restartPolicy: 'Never',
        securityContext: { runAsNonRoot: true, runAsUser: 1000, seccompProfile: { type: 'RuntimeDefault' } },
        containers: [
          {
            name: 'probe',
            image: PROBE_IMAGE,
            imagePullPolicy: 'Never',
            command: ['node', '-e', script],
            securityContext: {
              allowPrivilegeEscalation: false,
              readOnlyRootFilesystem: true,
              capabilities: { drop: ['ALL'] },
            },
          },
        ],
      },
    },
  });
  const phase = await waitUntil(
    async () => {
      const pod = await core.readNamespacedPod({ name, namespace: NAMESPACE });
      return ['Succeeded', 'Failed'].includes(pod.status?.phase ?? '') && pod.status?.phase;
    },
    { timeoutMs: 90_000, intervalMs: 500, description: `pod ${name} to finish` },
  );
  const output = await core.readNamespacedPodLog({ name, namespace: NAMESPACE });
  expect(phase, `pod ${name} printed:\n${output}`).toBe('Succeeded');
  return output;
}

describe('the local cluster', () => {
  beforeAll(async () => {
    await core.createNamespace({ body: { metadata: { name: NAMESPACE } } });
    await waitUntil(
      () =>
        core.readNamespacedServiceAccount({ name: 'default', namespace: NAMESPACE }).then(
          () => true,
          () => false,
        ),
      { timeoutMs: 30_000, intervalMs: 250, description: 'the default service account' },
    );
  });

  afterAll(async () => {
    await core.deleteNamespace({ name: NAMESPACE }).catch(() => {});
  });

  it('holds every built image on the node, so nothing is pulled', async () => {
    const expected = IMAGE_DEFINITIONS.map(({ name }) => imageName(name));
    const nodeImages = async () => {
      const { items } = await core.listNode();
      return items.flatMap((node) => node.status?.images?.flatMap(({ names }) => names ?? []) ?? []);
    };
    // The kubelet lists the runtime's images in the node status from a cache it refreshes every 30 s.
    const images = await waitUntil(
      async () => {
        const listed = await nodeImages();
        return expected.every((name) => listed.includes(name)) ? listed : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 2_000, description: 'every built image in the node status' },
    ).catch(async () => nodeImages());
    for (const name of expected) expect(images).toContain(name);
  }, 120_000);

  it('resolves Service names in pods, refuses other names, and lets pods reach the API server by its Service', async () => {
    const output = await runInPod(
      'dns',
      `
      const dns = require('node:dns/promises');
      const tls = require('node:tls');
      (async () => {
        const api = await dns.lookup('kubernetes.default.svc.cluster.local');
        const short = await dns.lookup('kubernetes.default');
        const outside = await dns.lookup('example.com').then((r) => r.address, (e) => e.code);
        const socket = tls.connect({ host: api.address, port: 443, rejectUnauthorized: false });
        await new Promise((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
        socket.destroy();
        console.log(JSON.stringify({ api: api.address, short: short.address, outside, tls: true }));
      })().catch((error) => { console.error(error); process.exit(1); });
      `,
    );
    const { items } = await core.listNamespacedService({ namespace: 'default' });
    const apiClusterIp = items.find(({ metadata }) => metadata?.name === 'kubernetes')?.spec?.clusterIP;
    expect(JSON.parse(output.trim().split('\n').at(-1)!)).toEqual({
      api: apiClusterIp,
      short: apiClusterIp,
      // Refused by the cluster DNS, never forwarded.
      outside: expect.stringMatching(/^(EAI_AGAIN|ENOTFOUND|ESERVFAIL|EREFUSED)$/),
      tls: true,
    });
  });

  it('serves kubectl logs and exec through the kubelet', async () => {
    await runInPod('logs', "console.log('hello from the pod')");
    expect(await kubectl('logs', 'logs')).toContain('hello from the pod');
    await core.createNamespacedPod({
      namespace: NAMESPACE,
      body: {
        metadata: { name: 'exec' },
        spec: {
          // node as pid 1 ignores SIGTERM: do not hold the namespace's deletion for 30 s.
          terminationGracePeriodSeconds: 0,
          containers: [
            {
              name: 'sleeper',
              image: PROBE_IMAGE,
              imagePullPolicy: 'Never',
              command: ['node', '-e', 'setInterval(() => {}, 1000)'],
            },
          ],
        },
      },
    });
    await waitUntil(
      async () =>
        (await core.readNamespacedPod({ name: 'exec', namespace: NAMESPACE })).status?.phase === 'Running',
      { timeoutMs: 60_000, intervalMs: 500, description: 'pod exec to run' },
    );
    expect(await kubectl('exec', 'exec', '--', 'node', '-p', '6 * 7')).toBe('42\n');
  });

  it.runIf(local)("keeps pods off the kubelet's API, which this host still reaches", async () => {
    const { items } = await core.listNode();
    const nodeAddress = items[0]?.status?.addresses?.find(({ type }) => type === 'InternalIP')?.address;
    expect(nodeAddress).toBeDefined();
    // It listens there: this host connects.
    expect(
      (await run(process.execPath, ['-e', connectScript(nodeAddress!, KUBELET_PORT)])).stdout.trim(),
    ).toBe('connected');
    const before = await nodeRuleDrops('INPUT');
    const output = await runInPod('kubelet', connectScript(nodeAddress!, KUBELET_PORT));
    expect(output.trim()).toBe('timed out');
    expect(await nodeRuleDrops('INPUT')).toBeGreaterThan(before);
  });

  it.runIf(local)('drops what a pod sends to an address outside the machine', async () => {
    const before = await nodeRuleDrops('FORWARD');
    const output = await runInPod('outside', connectScript(OUTSIDE_ADDRESS, 80));
    expect(output.trim()).not.toBe('connected');
    expect(await nodeRuleDrops('FORWARD')).toBeGreaterThan(before);
  });
});
