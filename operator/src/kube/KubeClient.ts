import { Agent, request as httpsRequest } from 'node:https';
import { request as httpRequest, Agent as HttpAgent } from 'node:http';
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { KubeApiError } from './KubeApiError.js';

/** The field manager of every server-side apply the operator makes. */
export const FIELD_MANAGER = 'shardfleet-operator';

/** A list response: the items and the list's resourceVersion. */
export interface KubeList<T> {
  readonly items: T[];
  readonly metadata?: { resourceVersion?: string };
}

/** Called once per request, for metrics: verb, resource (last path segment kind) and status. */
export type RequestObserver = (verb: string, resource: string, status: number) => void;

const REQUEST_TIMEOUT_MS = 30_000;

function resourceOf(path: string): string {
  const parts = path
    .split('?')[0]!
    .split('/')
    .filter((part) => part !== '');
  // /api/v1/namespaces/ns/pods/name/status -> pods; /apis/g/v/namespaces/ns/kind -> kind
  const core = parts[0] === 'api' ? 2 : 3;
  const rest = parts.slice(core);
  if (rest[0] === 'namespaces' && rest.length >= 3) return rest[2]!;
  return rest[0] ?? 'discovery';
}

/**
 * A small client of the Kubernetes REST API over one keep-alive agent, with the credentials of a
 * KubeConfig. The operator needs only a handful of calls (list, get, server-side apply, create,
 * update); raw requests keep every write an explicit apply with one field manager.
 */
export class KubeClient {
  readonly #kubeConfig: KubeConfig;
  readonly #server: URL;
  readonly #observe: RequestObserver;
  #agent: Agent | HttpAgent | undefined;

  public constructor(kubeConfig: KubeConfig, observe: RequestObserver = () => undefined) {
    const cluster = kubeConfig.getCurrentCluster();
    if (cluster === null) throw new Error('the kubeconfig has no current cluster');
    this.#kubeConfig = kubeConfig;
    this.#server = new URL(cluster.server);
    this.#observe = observe;
  }

  /** GET a list; the items have no apiVersion and kind. */
  public list<T extends KubernetesObject>(
    path: string,
    query: Record<string, string> = {},
  ): Promise<KubeList<T>> {
    const params = new URLSearchParams(query).toString();
    return this.request('GET', params === '' ? path : `${path}?${params}`) as Promise<KubeList<T>>;
  }

  /** GET one object, or `undefined` on 404. */
  public async get<T>(path: string): Promise<T | undefined> {
    try {
      return (await this.request('GET', path)) as T;
    } catch (error) {
      if (error instanceof KubeApiError && error.isNotFound) return undefined;
      throw error;
    }
  }

  /** Server-side apply of `object` at `path` (the object's path, or its `/status`), forced, as {@link FIELD_MANAGER}. */
  public apply<T>(path: string, object: unknown): Promise<T> {
    const query = new URLSearchParams({ fieldManager: FIELD_MANAGER, force: 'true' });
    // JSON is YAML, and much cheaper to write than the yaml package's output.
    return this.request(
      'PATCH',
      `${path}?${query}`,
      JSON.stringify(object),
      'application/apply-patch+yaml',
    ) as Promise<T>;
  }

  public create<T>(path: string, object: unknown): Promise<T> {
    return this.request(
      'POST',
      `${path}?fieldManager=${FIELD_MANAGER}`,
      JSON.stringify(object),
      'application/json',
    ) as Promise<T>;
  }

  /** PUT with the object's resourceVersion: a 409 when someone else wrote first. */
  public replace<T>(path: string, object: unknown): Promise<T> {
    return this.request(
      'PUT',
      `${path}?fieldManager=${FIELD_MANAGER}`,
      JSON.stringify(object),
      'application/json',
    ) as Promise<T>;
  }

  public async request(method: string, path: string, body?: string, contentType?: string): Promise<unknown> {
    const options: {
      headers?: Record<string, string>;
      ca?: Buffer;
      cert?: Buffer;
      key?: Buffer;
      rejectUnauthorized?: boolean;
    } = {};
    // Per request: token files and exec credentials may rotate.
    await this.#kubeConfig.applyToHTTPSOptions(options as never);
    const agent = this.#agentFor(options);
    const url = new URL(path, this.#server);
    const headers: Record<string, string> = { ...options.headers, accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = contentType ?? 'application/json';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const { status, text } = await new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = send(url, { method, headers, agent, timeout: REQUEST_TIMEOUT_MS }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }),
        );
        res.on('error', reject);
      });
      req.on('timeout', () =>
        req.destroy(new Error(`${method} ${url.pathname}: no answer within ${REQUEST_TIMEOUT_MS} ms`)),
      );
      req.on('error', reject);
      req.end(body);
    }).catch((error: unknown) => {
      this.#observe(method, resourceOf(path), 0);
      throw error;
    });
    this.#observe(method, resourceOf(path), status);
    const parsed = text === '' ? undefined : (JSON.parse(text) as unknown);
    if (status >= 200 && status < 300) return parsed;
    const apiStatus = (parsed ?? {}) as { reason?: string; message?: string };
    throw new KubeApiError(
      method,
      url.pathname,
      status,
      apiStatus.reason ?? 'Unknown',
      apiStatus.message ?? text.slice(0, 500),
    );
  }

  #agentFor(options: {
    ca?: Buffer;
    cert?: Buffer;
    key?: Buffer;
    rejectUnauthorized?: boolean;
  }): Agent | HttpAgent {
    if (this.#agent === undefined) {
      this.#agent =
        this.#server.protocol === 'https:'
          ? new Agent({
              keepAlive: true,
              maxSockets: 16,
              ca: options.ca,
              cert: options.cert,
              key: options.key,
              rejectUnauthorized: options.rejectUnauthorized,
            })
          : new HttpAgent({ keepAlive: true, maxSockets: 16 });
    }
    return this.#agent;
  }

  /** Closes the idle keep-alive sockets. */
  public close(): void {
    this.#agent?.destroy();
  }
}
