import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import { createHealthServer, type HealthSource } from '../http/HealthServer.js';
import type { InformerHealth } from '../kube/InformerSet.js';

let server: Server | undefined;

async function serve(source: HealthSource): Promise<string> {
  const registry = new Registry();
  server = createHealthServer(source, registry);
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

function source(
  role: 'leader' | 'standby' | 'starting',
  started: boolean,
  informers: InformerHealth[] = [],
): HealthSource {
  return { role: () => role, controllerStarted: () => started, informers: () => informers };
}

afterEach(async () => {
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

describe('the health endpoints', () => {
  it.each([
    ['a leader with synced caches', source('leader', true), 200],
    ['a leader still listing', source('leader', false), 503],
    ['a standby', source('standby', false), 200],
    ['a replica still starting', source('starting', false), 503],
  ])('/readyz of %s', async (_what, health, status) => {
    const url = await serve(health);
    expect((await fetch(`${url}/readyz`)).status).toBe(status);
  });

  it.each([
    ['every informer watching', [{ name: 'pods', synced: true, healthy: true }], 200],
    [
      'an informer restarting after an error',
      [{ name: 'pods', synced: true, healthy: false, lastError: 'EOF' }],
      503,
    ],
  ])('/healthz with %s', async (_what, informers, status) => {
    const url = await serve(source('leader', true, informers));
    const response = await fetch(`${url}/healthz`);
    expect(response.status).toBe(status);
    expect(((await response.json()) as { informers: unknown }).informers).toEqual(informers);
  });

  it('serves the metrics in the Prometheus format', async () => {
    const url = await serve(source('leader', true));
    const response = await fetch(`${url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/plain');
  });
});
