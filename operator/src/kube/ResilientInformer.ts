import { type KubeConfig, type KubernetesObject, ListWatch, Watch } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubeClient } from './KubeClient.js';
import { type ResourceType, resourcePath } from './resources.js';

/** Options of a {@link ResilientInformer}. */
export interface ResilientInformerOptions {
  readonly type: ResourceType;
  /** One namespace, or `undefined` for all. */
  readonly namespace: string | undefined;
  readonly labelSelector?: string;
  /** First restart delay after an error; doubles up to `maxBackoffMs`. @defaultValue `500` */
  readonly initialBackoffMs?: number;
  /** @defaultValue `30_000` */
  readonly maxBackoffMs?: number;
}

/** Called with each added, changed or deleted object. */
export type ChangeHandler<T> = (object: T) => void;

/**
 * A list-watch cache of one resource (client-node's `ListWatch`) that restarts itself with
 * exponential backoff when its list or watch fails, since `ListWatch` stops on errors.
 */
export class ResilientInformer<T extends KubernetesObject> {
  readonly #listWatch: ListWatch<T>;
  readonly #log: Logger;
  readonly #initialBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #name: string;
  #backoffMs: number;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopped = false;
  #synced = false;
  #healthy = false;
  #lastError: string | undefined;

  public constructor(
    kubeConfig: KubeConfig,
    client: KubeClient,
    options: ResilientInformerOptions,
    log: Logger,
  ) {
    const path = resourcePath(options.type, options.namespace);
    this.#name = `${options.type.plural}${options.namespace === undefined ? '' : ` in ${options.namespace}`}`;
    this.#log = log.child({ informer: this.#name });
    this.#initialBackoffMs = options.initialBackoffMs ?? 500;
    this.#maxBackoffMs = options.maxBackoffMs ?? 30_000;
    this.#backoffMs = this.#initialBackoffMs;
    const query: Record<string, string> =
      options.labelSelector === undefined ? {} : { labelSelector: options.labelSelector };
    this.#listWatch = new ListWatch<T>(
      path,
      new Watch(kubeConfig),
      async () => {
        const list = await client.list<T>(path, query);
        // Watch events carry apiVersion and kind; list items do not. Keep the cache uniform.
        for (const item of list.items) {
          item.apiVersion ??= options.type.apiVersion;
          item.kind ??= options.type.kind;
        }
        return list as never;
      },
      false,
      options.labelSelector,
    );
    this.#listWatch.on('connect', () => {
      this.#healthy = true;
    });
    this.#listWatch.on('error', (error: unknown) => this.#onError(error));
  }

  /** A readable name, such as `secrets in team-a`. */
  public get name(): string {
    return this.#name;
  }

  /** Whether the first list completed. */
  public get synced(): boolean {
    return this.#synced;
  }

  /** Whether the watch is running (not waiting to restart after an error). */
  public get healthy(): boolean {
    return this.#healthy;
  }

  public get lastError(): string | undefined {
    return this.#lastError;
  }

  public on(handler: ChangeHandler<T>): void {
    this.#listWatch.on('change', handler);
  }

  public get(name: string, namespace: string): T | undefined {
    return this.#listWatch.get(name, namespace);
  }

  public list(namespace?: string): readonly T[] {
    return this.#listWatch.list(namespace);
  }

  /** Starts listing and watching; resolves after the first list, retrying until it succeeds. */
  public async start(): Promise<void> {
    this.#stopped = false;
    await this.#startOnce();
    if (!this.#synced) {
      await new Promise<void>((resolve) => {
        const check = setInterval(() => {
          if (this.#synced || this.#stopped) {
            clearInterval(check);
            resolve();
          }
        }, 50);
      });
    }
  }

  public async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#listWatch.stop();
  }

  async #startOnce(): Promise<void> {
    try {
      await this.#listWatch.start();
      // ListWatch.start resolves after its list and the watch request: a failure inside reports 'error'.
      if (this.#healthy) {
        this.#synced = true;
        this.#backoffMs = this.#initialBackoffMs;
      }
    } catch (error) {
      this.#onError(error);
    }
  }

  #onError(error: unknown): void {
    this.#healthy = false;
    this.#lastError = error instanceof Error ? error.message : String(error);
    if (this.#stopped || this.#restartTimer !== undefined) return;
    const delay = this.#backoffMs;
    this.#backoffMs = Math.min(this.#backoffMs * 2, this.#maxBackoffMs);
    this.#log.warn({ err: this.#lastError, retryInMs: delay }, 'informer failed; restarting');
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) void this.#startOnce();
    }, delay);
    this.#restartTimer.unref();
  }
}
