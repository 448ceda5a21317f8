import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';
import type { InformerHealth } from '../kube/InformerSet.js';

/** What the health endpoints report. */
export interface HealthSource {
  /** `leader`, `standby` (waiting for the lease) or `starting`. */
  role(): 'leader' | 'standby' | 'starting';
  /** Whether the controller's workers run (the leader's informers listed once). */
  controllerStarted(): boolean;
  informers(): InformerHealth[];
}

/**
 * `/healthz` (503 while an informer's watch is down and restarting), `/readyz` (503 until the
 * leader's caches are synced; a standby is ready) and `/metrics`.
 */
export function createHealthServer(source: HealthSource, registry: Registry): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const reply = (status: number, body: unknown, type = 'application/json') => {
      response.writeHead(status, { 'content-type': type });
      response.end(typeof body === 'string' ? body : JSON.stringify(body));
    };
    if (request.method !== 'GET') return reply(405, { error: 'method not allowed' });
    switch (path) {
      case '/healthz': {
        const informers = source.informers();
        const down = informers.filter((informer) => informer.synced && !informer.healthy);
        return reply(down.length === 0 ? 200 : 503, {
          status: down.length === 0 ? 'ok' : 'informers down',
          role: source.role(),
          informers,
        });
      }
      case '/readyz': {
        const role = source.role();
        const ready = role === 'standby' || (role === 'leader' && source.controllerStarted());
        return reply(ready ? 200 : 503, { status: ready ? 'ready' : 'not ready', role });
      }
      case '/metrics':
        void registry.metrics().then(
          (text) => reply(200, text, registry.contentType),
          (error: unknown) => reply(500, { error: (error as Error).message }),
        );
        return;
      default:
        return reply(404, { error: 'not found' });
    }
  });
}
