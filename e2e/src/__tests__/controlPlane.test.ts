import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureKubernetesBinaries, startControlPlane, type ControlPlane } from '../../cluster/index.mjs';

// Building the binaries on a fresh machine takes minutes; afterwards starting takes about 10 s.
const BUILD_TIMEOUT_MS = 30 * 60_000;
const START_TIMEOUT_MS = 5 * 60_000;
const CLUSTER_CLI = fileURLToPath(new URL('../../bin/cluster.mjs', import.meta.url));

/** Whether `pid` is a live process (a zombie waiting for its parent to reap it counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

interface KubeResponse {
  status: number;
  body: any;
}

function kube(
  controlPlane: ControlPlane,
  method: string,
  path: string,
  body?: unknown,
): Promise<KubeResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      `${controlPlane.server}${path}`,
      {
        method,
        ca: controlPlane.caCertificate,
        headers: {
          authorization: `Bearer ${controlPlane.token}`,
          'content-type': 'application/json',
          accept: 'application/json',
        },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (text += chunk));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined });
          } catch {
            reject(new Error(`${method} ${path}: ${res.statusCode} ${text.slice(0, 200)}`));
          }
        });
      },
    );
    req.once('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

function runCli(
  args: string[],
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLUSTER_CLI, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

beforeAll(async () => {
  await ensureKubernetesBinaries({ log: (line) => process.stderr.write(`e2e: ${line}\n`) });
}, BUILD_TIMEOUT_MS);

describe('startControlPlane', () => {
  let controlPlane: ControlPlane;

  beforeAll(async () => {
    controlPlane = await startControlPlane();
  }, START_TIMEOUT_MS);

  afterAll(async () => {
    await controlPlane?.stop();
  }, 60_000);

  it('serves the API with the admin token and refuses a wrong one', async () => {
    const version = await kube(controlPlane, 'GET', '/version');
    expect(version.body.gitVersion).toBe('v1.20.2');
    const wrongToken = await kube({ ...controlPlane, token: 'not-the-token' }, 'GET', '/api/v1/namespaces');
    expect(wrongToken.status).toBe(401);
    expect(readFileSync(controlPlane.kubeconfigPath, 'utf8')).toContain(controlPlane.server);
  });

  it('creates the pods of a StatefulSet and garbage-collects them when it is deleted', async () => {
    const namespace = 'e2e-statefulset';
    expect(
      (await kube(controlPlane, 'POST', '/api/v1/namespaces', { metadata: { name: namespace } })).status,
    ).toBe(201);
    const created = await kube(controlPlane, 'POST', `/apis/apps/v1/namespaces/${namespace}/statefulsets`, {
      metadata: { name: 'web' },
      spec: {
        replicas: 2,
        serviceName: 'web',
        // Parallel: pods stay Pending (there is no node), and OrderedReady would wait for web-0.
        podManagementPolicy: 'Parallel',
        selector: { matchLabels: { app: 'web' } },
        template: {
          metadata: { labels: { app: 'web' } },
          spec: { containers: [{ name: 'web', image: 'localhost/never-pulled:1' }] },
        },
      },
    });
    expect(created.status).toBe(201);
    const statefulSetUid: string = created.body.metadata.uid;

    const pods = await waitUntil(
      async () => {
        const list = await kube(controlPlane, 'GET', `/api/v1/namespaces/${namespace}/pods`);
        return list.body.items.length === 2 ? list.body.items : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description: 'the StatefulSet controller to create 2 pods' },
    );
    expect(pods.map((pod: any) => pod.metadata.name).sort()).toEqual(['web-0', 'web-1']);
    for (const pod of pods) {
      expect(pod.metadata.ownerReferences).toEqual([
        expect.objectContaining({ kind: 'StatefulSet', uid: statefulSetUid }),
      ]);
      expect(pod.status.phase).toBe('Pending');
    }

    const deleted = await kube(
      controlPlane,
      'DELETE',
      `/apis/apps/v1/namespaces/${namespace}/statefulsets/web`,
      {
        propagationPolicy: 'Background',
      },
    );
    expect(deleted.status).toBe(200);
    await waitUntil(
      async () =>
        (await kube(controlPlane, 'GET', `/api/v1/namespaces/${namespace}/pods`)).body.items.length === 0,
      { timeoutMs: 60_000, intervalMs: 250, description: 'the garbage collector to delete the pods' },
    );
  }, 180_000);

  // Guards the reflect2 replacement in the build: with the vendored reflect2 1.0.1 and Go 1.19 the
  // API server panics (HTTP 500) on every custom resource write.
  it('stores custom resources', async () => {
    const crd = await kube(controlPlane, 'POST', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', {
      metadata: { name: 'widgets.e2e.shardfleet.dev' },
      spec: {
        group: 'e2e.shardfleet.dev',
        scope: 'Namespaced',
        names: { plural: 'widgets', singular: 'widget', kind: 'Widget', listKind: 'WidgetList' },
        versions: [
          {
            name: 'v1',
            served: true,
            storage: true,
            subresources: { status: {} },
            schema: {
              openAPIV3Schema: {
                type: 'object',
                properties: {
                  spec: {
                    type: 'object',
                    required: ['size'],
                    properties: {
                      size: { type: 'integer', minimum: 1 },
                      tags: { type: 'object', additionalProperties: { type: 'string' } },
                    },
                  },
                },
              },
            },
          },
        ],
      },
    });
    expect(crd.status).toBe(201);
    const widgets = '/apis/e2e.shardfleet.dev/v1/namespaces/default/widgets';
    await waitUntil(async () => (await kube(controlPlane, 'GET', widgets)).status === 200, {
      timeoutMs: 60_000,
      intervalMs: 250,
      description: 'the Widget resource to be served',
    });
    const widget = {
      apiVersion: 'e2e.shardfleet.dev/v1',
      kind: 'Widget',
      metadata: { name: 'one', labels: { app: 'e2e' }, annotations: { note: 'map fields' } },
      spec: { size: 3, tags: { colour: 'blue' } },
    };
    const created = await kube(controlPlane, 'POST', widgets, widget);
    expect(created.status).toBe(201);
    expect((await kube(controlPlane, 'GET', `${widgets}/one`)).body.spec).toEqual(widget.spec);
    const invalid = await kube(controlPlane, 'POST', widgets, {
      ...widget,
      metadata: { name: 'two' },
      spec: { size: 0 },
    });
    expect(invalid.status).toBe(422);
    expect(invalid.body.message).toContain('spec.size');
  }, 120_000);

  it('stops every process and removes its directory', async () => {
    const pids = Object.values(controlPlane.pids);
    expect(pids).toHaveLength(3);
    expect(pids.every(alive)).toBe(true);
    await controlPlane.stop();
    expect(pids.filter(alive)).toEqual([]);
    expect(existsSync(controlPlane.dir)).toBe(false);
  }, 60_000);
});

describe('the watchdog', () => {
  it(
    'stops the control plane when the process that started it is killed',
    async () => {
      const moduleUrl = new URL('../../cluster/index.mjs', import.meta.url).href;
      const script =
        `const { startControlPlane } = await import(${JSON.stringify(moduleUrl)});` +
        'const cp = await startControlPlane();' +
        'console.log(JSON.stringify({ dir: cp.dir, pids: Object.values(cp.pids) }));' +
        'setInterval(() => {}, 1000);';
      const child = spawn(process.execPath, ['--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      try {
        let output = '';
        child.stdout.on('data', (chunk: Buffer) => (output += chunk));
        const started = await waitUntil(() => (output.includes('\n') ? JSON.parse(output) : undefined), {
          timeoutMs: START_TIMEOUT_MS,
          intervalMs: 100,
          description: 'the child to start a control plane',
        });
        expect(started.pids.every(alive)).toBe(true);
        child.kill('SIGKILL');
        await waitUntil(() => started.pids.every((pid: number) => !alive(pid)) && !existsSync(started.dir), {
          timeoutMs: 60_000,
          intervalMs: 250,
          description: 'the watchdog to stop etcd, kube-apiserver and kube-controller-manager',
        });
      } finally {
        child.kill('SIGKILL');
      }
    },
    START_TIMEOUT_MS + 60_000,
  );
});

describe('cluster.mjs (npm run cluster:up / cluster:down)', () => {
  let stateDir: string;
  let env: NodeJS.ProcessEnv;

  beforeAll(async () => {
    stateDir = join(await mkdtemp(join(tmpdir(), 'shardfleet-cluster-cli-')), 'cluster');
    env = { ...process.env, SHARDFLEET_CLUSTER_DIR: stateDir };
  });

  afterAll(async () => {
    await runCli(['down'], env);
    await rm(join(stateDir, '..'), { recursive: true, force: true });
  }, 60_000);

  it('refuses an unknown provider, naming the ones it has', async () => {
    const result = await runCli(['up', '--provider', 'minikube'], env);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--provider must be one of local, kind, not "minikube"');
  });

  it(
    'starts once, says so when already running, and stops everything it started',
    async () => {
      const first = await runCli(['up', '--control-plane-only'], env);
      expect(first.code).toBe(0);
      const kubeconfigPath = join(stateDir, 'kubeconfig');
      expect(first.stdout.trim().split('\n').at(-1)).toBe(`export KUBECONFIG=${kubeconfigPath}`);
      const state = JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8'));
      const pids: number[] = state.processes.map(({ pid }: { pid: number }) => pid);
      expect(pids).toHaveLength(3);
      expect(pids.every(alive)).toBe(true);
      expect(readFileSync(join(stateDir, 'pki', 'tokens.csv'), 'utf8')).not.toBe('');

      const second = await runCli(['up', '--control-plane-only'], env);
      expect(second.code).toBe(0);
      expect(second.stderr).toContain('already running');
      expect(second.stdout.trim().split('\n').at(-1)).toBe(`export KUBECONFIG=${kubeconfigPath}`);
      expect(JSON.parse(readFileSync(join(stateDir, 'state.json'), 'utf8')).processes).toEqual(
        state.processes,
      );

      const down = await runCli(['down'], env);
      expect(down.code).toBe(0);
      expect(down.stderr).toContain('stopped kube-controller-manager, kube-apiserver, etcd');
      await waitUntil(() => pids.every((pid) => !alive(pid)), {
        timeoutMs: 30_000,
        description: 'the cluster processes to be gone',
      });
      expect(existsSync(stateDir)).toBe(false);
    },
    START_TIMEOUT_MS + 60_000,
  );
});
