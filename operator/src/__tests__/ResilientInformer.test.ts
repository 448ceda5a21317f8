import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { KubeConfig, type KubernetesObject } from '@kubernetes/client-node';
import { waitUntil } from '@shardfleet/testing';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KubeClient } from '../kube/KubeClient.js';
import { ResilientInformer } from '../kube/ResilientInformer.js';
import { SECRETS } from '../kube/resources.js';

// A stand-in API server for one collection: lists fail while `failLists` > 0; watches stay open
// until `dropWatches()` ends them with an error status.
class FakeApiServer {
  failLists = 0;
  lists = 0;
  watches: ServerResponse[] = [];
  readonly server: Server;

  constructor() {
    this.server = createServer((request, response) => {
      const url = new URL(request.url ?? '/', 'http://localhost');
      if (url.searchParams.get('watch') === 'true') {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.write(
          `${JSON.stringify({ type: 'ADDED', object: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'watched', namespace: 'ns', resourceVersion: '2' } } })}\n`,
        );
        this.watches.push(response);
        return;
      }
      this.lists++;
      if (this.failLists > 0) {
        this.failLists--;
        response.writeHead(500, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ kind: 'Status', reason: 'InternalError', message: 'etcd is down' }));
        return;
      }
      response.writeHead(200, { 'content-type': 'application/json' });
      response.end(
        JSON.stringify({
          items: [{ metadata: { name: 'listed', namespace: 'ns', resourceVersion: '1' } }],
          metadata: { resourceVersion: '1' },
        }),
      );
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  dropWatches(): void {
    for (const watch of this.watches.splice(0)) watch.destroy();
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

function kubeConfigFor(server: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromOptions({
    clusters: [{ name: 'fake', server, skipTLSVerify: true }],
    users: [{ name: 'fake', token: 'x' }],
    contexts: [{ name: 'fake', cluster: 'fake', user: 'fake' }],
    currentContext: 'fake',
  });
  return kubeConfig;
}

describe('ResilientInformer', () => {
  let api: FakeApiServer | undefined;
  let informer: ResilientInformer<KubernetesObject> | undefined;
  afterEach(async () => {
    await informer?.stop();
    await api?.stop();
  });

  async function setup(failLists: number) {
    api = new FakeApiServer();
    api.failLists = failLists;
    const server = await api.start();
    const kubeConfig = kubeConfigFor(server);
    informer = new ResilientInformer(
      kubeConfig,
      new KubeClient(kubeConfig),
      { type: SECRETS, namespace: 'ns', initialBackoffMs: 20, maxBackoffMs: 100 },
      pino({ enabled: false }),
    );
    return { api, informer };
  }

  it('keeps retrying a failing first list with backoff, and is synced once it succeeds', async () => {
    const { api, informer } = await setup(3);
    await informer.start();
    expect(api.lists).toBe(4);
    expect(informer.synced).toBe(true);
    expect(informer.lastError).toMatch(/etcd is down/);
    expect(informer.get('listed', 'ns')).toMatchObject({ apiVersion: 'v1', kind: 'Secret' });
    await waitUntil(() => informer.get('watched', 'ns'), { description: 'the watched object' });
  });

  it('restarts a watch that ends with an error and reports it unhealthy meanwhile', async () => {
    const { api, informer } = await setup(0);
    await informer.start();
    await waitUntil(() => api.watches.length === 1, { description: 'a watch' });
    expect(informer.healthy).toBe(true);
    api.dropWatches();
    await waitUntil(() => api.watches.length === 1 && informer.healthy, {
      description: 'the watch restarted',
    });
  });
});
