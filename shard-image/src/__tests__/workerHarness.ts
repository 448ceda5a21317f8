import { fileURLToPath } from 'node:url';
import { decodeEventEntry, type EventEntry, idempotencyKey, redisKeys } from '@shardfleet/protocol';
import type { LedgerEntry } from '@shardfleet/simulator';
import { freePort, metricValue, ProgramProcess, waitUntil } from '@shardfleet/testing';
import { Redis } from 'ioredis';

export const WORKER_BIN = fileURLToPath(new URL('../../bin/shardfleet-shard.js', import.meta.url));

export interface WorkerOptions {
  bot: string;
  redisUrl: string;
  simulatorUrl: string;
  workerId: number;
  shardCount: number;
  shardsPerPod: number;
  identifyIntervalMs: number;
  env?: Record<string, string>;
}

/** A real `shardfleet-shard` process with its health port. */
export class WorkerProcess {
  public constructor(
    public readonly process: ProgramProcess,
    public readonly port: number,
  ) {}

  public static async start(options: WorkerOptions): Promise<WorkerProcess> {
    const port = await freePort();
    const program = new ProgramProcess(process.execPath, [WORKER_BIN], {
      env: {
        PATH: process.env.PATH,
        SHARDFLEET_BOT: options.bot,
        DISCORD_TOKEN: 'simulator-token',
        DISCORD_API_URL: `${options.simulatorUrl}/api`,
        SHARD_COUNT: String(options.shardCount),
        SHARDS_PER_POD: String(options.shardsPerPod),
        POD_NAME: `${options.bot.split('.')[1]}-shards-${options.workerId}`,
        REDIS_URL: options.redisUrl,
        PORT: String(port),
        IDENTIFY_INTERVAL_MS: String(options.identifyIntervalMs),
        LOG_LEVEL: 'info',
        ...options.env,
      },
    });
    return new WorkerProcess(program, port);
  }

  public async get(path: string): Promise<{ status: number; body: string }> {
    const response = await fetch(`http://127.0.0.1:${this.port}${path}`);
    return { status: response.status, body: await response.text() };
  }

  public async isReady(): Promise<boolean> {
    try {
      return (await this.get('/readyz')).status === 200;
    } catch {
      return false;
    }
  }

  public async waitReady(timeoutMs = 60_000): Promise<void> {
    await waitUntil(
      () => {
        // A worker that exited never gets ready: the timeout names its output as the cause.
        if (this.process.exit) throw new Error(`shard worker exited:\n${this.process.output}`);
        return this.isReady();
      },
      {
        timeoutMs,
        intervalMs: 100,
        description: `worker on ${this.port} ready`,
      },
    );
  }

  /** A metric's value (sum of the series matching `labels`), 0 when absent. */
  public async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    return metricValue((await this.get('/metrics')).body, name, labels);
  }
}

/** Every entry of the bot's event stream, decoded. */
/**
 * The keys of entries that repeat a key written earlier in the stream without being marked as a
 * possible replay (`r`): consumers look for earlier entries of a key only for marked entries.
 */
export function unmarkedRepeats(entries: readonly EventEntry[]): string[] {
  const written = new Set<string>();
  const unmarked: string[] = [];
  for (const entry of entries) {
    const key = idempotencyKey(entry);
    if (written.has(key) && entry.r !== true) unmarked.push(key);
    written.add(key);
  }
  return unmarked;
}

export async function readEvents(redis: Redis, bot: string): Promise<EventEntry[]> {
  const key = redisKeys(bot).events;
  const entries: EventEntry[] = [];
  let from = '-';
  for (;;) {
    const page = (await redis.xrange(key, from, '+', 'COUNT', 5_000)) as [string, string[]][];
    const fresh = from === '-' ? page : page.slice(1);
    for (const [, fields] of fresh) entries.push(decodeEventEntry(fields));
    if (page.length < 5_000) return entries;
    from = (page.at(-1) as [string, string[]])[0];
  }
}

/** How many times each `s:sid:seq` is in the stream. */
export function countKeys(entries: readonly EventEntry[]): Map<string, number> {
  const counts = new Map<string, number>();
  for (const entry of entries) {
    const key = idempotencyKey(entry);
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

export function ledgerKey(entry: LedgerEntry): string {
  return `${entry.shard}:${entry.session}:${entry.seq}`;
}

/** Ledger entries (delivered to a client) whose key is not in the stream. */
export function missingFromStream(
  ledger: readonly LedgerEntry[],
  counts: Map<string, number>,
): LedgerEntry[] {
  return ledger.filter((entry) => entry.delivered && !counts.has(ledgerKey(entry)));
}

export function newRedis(url: string): Redis {
  const redis = new Redis(url, { lazyConnect: false, maxRetriesPerRequest: 1 });
  redis.on('error', () => undefined);
  return redis;
}
