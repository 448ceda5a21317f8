import { metricValue, redisKeys } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import { answersOk, fetchText } from './http.js';
import type { SupervisedProgram } from './SupervisedProgram.js';

export interface ShardView {
  shard: number;
  /** The worker's status hash: `ready`, `resuming`, `waiting_identify` ...; `unknown` before it wrote one. */
  status: string;
  latencyMs: number | null;
  worker: string | null;
}

/** One look at the fleet, drawn by the view. */
export interface FleetSnapshot {
  shards: ShardView[];
  eventsPerSecond: number;
  /** Entries of the stream the bot's group has not read yet (null before the group exists). */
  streamLag: number | null;
  restRequests: number;
  rest429s: number;
  /** Sent by the current worker processes (a restarted worker counts from 0). */
  identifies: number;
  resumes: number;
  botReady: boolean;
  programs: readonly SupervisedProgram[];
}

/** Where the monitor looks: Redis and each program's metrics port. */
export interface MonitorTargets {
  bot: string;
  shardCount: number;
  proxyUrl: string;
  workerPorts: readonly number[];
  /** The worker program of each worker id, and the worker id of a shard. */
  workerPrograms: readonly SupervisedProgram[];
  workerOf(shard: number): number;
  botPort: number;
  programs: readonly SupervisedProgram[];
}

function fields(flat: unknown[]): Map<string, unknown> {
  const map = new Map<string, unknown>();
  for (let i = 0; i + 1 < flat.length; i += 2) map.set(String(flat[i]), flat[i + 1]);
  return map;
}

/** Collects {@link FleetSnapshot}s; events/s is the stream's `entries-added` between two looks. */
export class FleetMonitor {
  private lastAdded: { count: number; at: number } | null = null;

  public constructor(
    private readonly redis: Redis,
    private readonly targets: MonitorTargets,
  ) {}

  public async snapshot(): Promise<FleetSnapshot> {
    const [shards, stream, proxyPage, workerPages, botReady] = await Promise.all([
      this.shardStatuses().catch(() => null),
      this.streamStats().catch(() => null),
      fetchText(`${this.targets.proxyUrl}/metrics`),
      Promise.all(this.targets.workerPorts.map((port) => fetchText(`http://127.0.0.1:${port}/metrics`))),
      answersOk(`http://127.0.0.1:${this.targets.botPort}/readyz`),
    ]);
    const sumOverWorkers = (name: string, labels?: Record<string, string>) =>
      workerPages.reduce((sum, page) => sum + (page ? metricValue(page, name, labels) : 0), 0);
    const known =
      shards ??
      Array.from({ length: this.targets.shardCount }, (_, shard) => ({
        shard,
        status: 'unknown',
        latencyMs: null,
        worker: null,
      }));
    return {
      // A crashed worker's status hash still says what it last wrote until it expires: show the
      // worker's own state until the restarted process answers.
      shards: known.map((shard) => {
        const worker = this.targets.workerOf(shard.shard);
        const program = this.targets.workerPrograms[worker];
        if (program?.state !== 'running')
          return { ...shard, status: `worker ${program?.state ?? 'missing'}` };
        if (workerPages[worker] === null) return { ...shard, status: 'worker starting' };
        return shard;
      }),
      eventsPerSecond: stream?.eventsPerSecond ?? 0,
      streamLag: stream?.lag ?? null,
      restRequests: proxyPage ? metricValue(proxyPage, 'shardfleet_rest_requests_total') : 0,
      rest429s: proxyPage ? metricValue(proxyPage, 'shardfleet_rest_ratelimited_total') : 0,
      identifies: sumOverWorkers('shardfleet_identifies_total', { result: 'sent' }),
      resumes: sumOverWorkers('shardfleet_resumes_total'),
      botReady,
      programs: this.targets.programs,
    };
  }

  private async shardStatuses(): Promise<ShardView[]> {
    const keys = redisKeys(this.targets.bot);
    const pipeline = this.redis.pipeline();
    for (let shard = 0; shard < this.targets.shardCount; shard++) pipeline.hgetall(keys.shardStatus(shard));
    const results = (await pipeline.exec()) ?? [];
    return results.map(([, hash], shard) => {
      const status = (hash ?? {}) as Record<string, string>;
      const latency = Number(status.latency_ms);
      return {
        shard,
        status: status.status ?? 'unknown',
        latencyMs: status.latency_ms !== undefined && Number.isFinite(latency) ? latency : null,
        worker: status.worker ?? null,
      };
    });
  }

  private async streamStats(): Promise<{ eventsPerSecond: number; lag: number | null }> {
    const key = redisKeys(this.targets.bot).events;
    const [info, groups] = await Promise.all([
      this.redis.xinfo('STREAM', key) as Promise<unknown[]>,
      this.redis.xinfo('GROUPS', key) as Promise<unknown[][]>,
    ]);
    const added = Number(fields(info).get('entries-added') ?? 0);
    const now = Date.now();
    const previous = this.lastAdded;
    this.lastAdded = { count: added, at: now };
    const eventsPerSecond =
      previous && now > previous.at
        ? Math.max(0, ((added - previous.count) * 1_000) / (now - previous.at))
        : 0;
    const group = groups.map(fields).find((candidate) => candidate.get('name') === 'bot');
    const lag = group?.get('lag');
    return { eventsPerSecond, lag: typeof lag === 'number' ? lag : null };
  }
}
