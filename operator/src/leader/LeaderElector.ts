import type { Logger } from 'pino';
import { KubeApiError } from '../kube/KubeApiError.js';
import type { KubeClient } from '../kube/KubeClient.js';
import { LEASES, resourcePath } from '../kube/resources.js';

/** Options of a {@link LeaderElector}. */
export interface LeaderElectorOptions {
  readonly namespace: string;
  readonly name: string;
  /** This replica's name in `holderIdentity`. */
  readonly identity: string;
  /** A lease not renewed for this long may be taken over. @defaultValue `15_000` */
  readonly leaseDurationMs?: number;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec?: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

/**
 * Leader election with a `coordination.k8s.io/v1` Lease, as client-go does it: the holder renews
 * the lease; others take it over when it has not changed for a lease duration by their own clock
 * (so clock skew between replicas does not matter); every write carries the resourceVersion it
 * read, so two replicas can never both win. The leader that cannot renew within the renew
 * deadline stops leading.
 */
export class LeaderElector {
  readonly #client: KubeClient;
  readonly #options: Required<LeaderElectorOptions>;
  readonly #log: Logger;
  readonly #renewDeadlineMs: number;
  readonly #retryPeriodMs: number;
  #observed: { record: string; at: number } | undefined;
  #leading = false;
  #lastRenew = 0;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #onStartedLeading: () => void = () => undefined;
  #onStoppedLeading: () => void = () => undefined;

  public constructor(client: KubeClient, options: LeaderElectorOptions, log: Logger) {
    this.#client = client;
    this.#options = { leaseDurationMs: 15_000, ...options };
    this.#renewDeadlineMs = Math.round((this.#options.leaseDurationMs * 2) / 3);
    this.#retryPeriodMs = Math.max(500, Math.round(this.#options.leaseDurationMs / 7.5));
    this.#log = log.child({ lease: `${options.namespace}/${options.name}` });
  }

  public get leading(): boolean {
    return this.#leading;
  }

  /** Starts campaigning; the callbacks run when this replica gains or loses the lease. */
  public run(onStartedLeading: () => void, onStoppedLeading: () => void): void {
    this.#onStartedLeading = onStartedLeading;
    this.#onStoppedLeading = onStoppedLeading;
    void this.#tick();
  }

  /** Stops campaigning and, if leading, releases the lease so another replica takes over at once. */
  public async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (!this.#leading) return;
    this.#leading = false;
    try {
      const lease = await this.#client.get<Lease>(this.#path());
      if (lease?.spec?.holderIdentity === this.#options.identity) {
        lease.spec = {
          ...lease.spec,
          holderIdentity: '',
          leaseDurationSeconds: 1,
          renewTime: microTime(new Date()),
        };
        await this.#client.replace(this.#path(), lease);
        this.#log.info('released the lease');
      }
    } catch (error) {
      this.#log.warn({ err: (error as Error).message }, 'could not release the lease');
    }
  }

  #path(name?: string): string {
    return resourcePath(LEASES, this.#options.namespace, name ?? this.#options.name);
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    let acquired = false;
    try {
      acquired = await this.#tryAcquireOrRenew();
    } catch (error) {
      if (!(error instanceof KubeApiError && error.isConflict)) {
        this.#log.warn({ err: (error as Error).message }, 'lease request failed');
      }
    }
    if (this.#stopped) return;
    const now = Date.now();
    if (acquired) {
      this.#lastRenew = now;
      if (!this.#leading) {
        this.#leading = true;
        this.#log.info({ identity: this.#options.identity }, 'became the leader');
        this.#onStartedLeading();
      }
    } else if (this.#leading && now - this.#lastRenew > this.#renewDeadlineMs) {
      this.#leading = false;
      this.#log.error('lost the lease: could not renew it within the renew deadline');
      this.#onStoppedLeading();
      return;
    }
    this.#timer = setTimeout(() => void this.#tick(), this.#retryPeriodMs);
  }

  async #tryAcquireOrRenew(): Promise<boolean> {
    const now = new Date();
    const lease = await this.#client.get<Lease>(this.#path());
    const spec = {
      holderIdentity: this.#options.identity,
      leaseDurationSeconds: Math.ceil(this.#options.leaseDurationMs / 1_000),
      renewTime: microTime(now),
    };
    if (lease === undefined) {
      await this.#client.create(resourcePath(LEASES, this.#options.namespace), {
        apiVersion: LEASES.apiVersion,
        kind: LEASES.kind,
        metadata: { name: this.#options.name, namespace: this.#options.namespace },
        spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 },
      });
      return true;
    }
    const current = lease.spec ?? {};
    const record = `${current.holderIdentity ?? ''}|${current.renewTime ?? ''}|${current.leaseDurationSeconds ?? ''}`;
    if (this.#observed?.record !== record) this.#observed = { record, at: now.getTime() };
    const heldByMe = current.holderIdentity === this.#options.identity;
    const durationMs = (current.leaseDurationSeconds ?? 0) * 1_000;
    const held = current.holderIdentity !== undefined && current.holderIdentity !== '';
    if (!heldByMe && held && this.#observed.at + durationMs > now.getTime()) return false;
    lease.spec = {
      ...current,
      ...spec,
      acquireTime: heldByMe ? current.acquireTime : microTime(now),
      leaseTransitions: (current.leaseTransitions ?? 0) + (heldByMe ? 0 : 1),
    };
    await this.#client.replace(this.#path(), lease);
    return true;
  }
}
