import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';

/** A probe's answer. */
export interface ProbeResult {
  ok: boolean;
  /** Shown in the response body, for people. */
  detail: unknown;
}

/** What `/metrics` serves: a prom-client `Registry` is one. */
export interface MetricsRegistry {
  readonly contentType: string;
  metrics(): Promise<string>;
}

/** Required options of a {@link HealthServer}. */
export interface HealthServerOptions {
  port: number;
  /** `0.0.0.0` in a container. */
  host: string;
  registry: MetricsRegistry;
  liveness: () => ProbeResult;
  readiness: () => ProbeResult;
}

/**
 * `/healthz`, `/readyz` and `/metrics` on plain node:http: the whole HTTP surface of the shard worker
 * and the bot runtime.
 */
export class HealthServer {
  private readonly server: Server;

  public constructor(private readonly options: HealthServerOptions) {
    this.server = createServer((request, response) => void this.handle(request, response));
    this.server.keepAliveTimeout = 5_000;
  }

  public listen(): Promise<number> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.options.port, this.options.host, () => {
        this.server.off('error', reject);
        const address = this.server.address();
        resolve(typeof address === 'object' && address !== null ? address.port : this.options.port);
      });
    });
  }

  public close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    switch (path) {
      case '/healthz':
        this.probe(response, this.options.liveness());
        return;
      case '/readyz':
        this.probe(response, this.options.readiness());
        return;
      case '/metrics':
        try {
          const body = await this.options.registry.metrics();
          response.writeHead(200, { 'content-type': this.options.registry.contentType }).end(body);
        } catch (error) {
          response.writeHead(500, { 'content-type': 'text/plain' }).end(String(error));
        }
        return;
      default:
        response.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not found"}');
    }
  }

  private probe(response: ServerResponse, result: ProbeResult): void {
    response
      .writeHead(result.ok ? 200 : 503, { 'content-type': 'application/json' })
      .end(JSON.stringify({ ok: result.ok, detail: result.detail }));
  }
}
