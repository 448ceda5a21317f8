import { setTimeout as sleep } from 'node:timers/promises';
import { encodeEventEntryJson, type EventEntryMeta } from '@shardfleet/protocol';
import { type Redis, ReplyError } from 'ioredis';
import type { Logger } from 'pino';
import type { ShardMetrics } from '../ShardMetrics.js';
import type { ConfirmedSeqListener, IEventPublisher } from './IEventPublisher.js';

/** Required options of a {@link RedisEventPublisher}. */
export interface RequiredRedisEventPublisherOptions {
  /** A connection with `enableOfflineQueue: false`, so writes fail fast while Redis is down. */
  redis: Redis;
  /** The event stream key, `sf:{<bot>}:events`. */
  streamKey: string;
  /** `MAXLEN ~` of the stream. */
  maxLength: number;
  metrics: ShardMetrics;
  logger: Logger;
  onConfirmed: ConfirmedSeqListener;
}

/** Optional options of a {@link RedisEventPublisher}; defaults in {@link DefaultRedisEventPublisherOptions}. */
export interface OptionalRedisEventPublisherOptions {
  /**
   * Events held in memory while Redis is unreachable; newer events past it are dropped and
   * counted, so the stream stays gap-free up to the first drop.
   *
   * @defaultValue `50_000`
   */
  bufferLimit: number;
  /**
   * Most entries in one batch call; larger batches cost Redis more per entry.
   *
   * @defaultValue `500`
   */
  maxBatch: number;
  /**
   * Batches sent before the first is answered: hides the round trip when the machine is busy.
   *
   * @defaultValue `8`
   */
  maxInFlight: number;
}

export const DefaultRedisEventPublisherOptions = {
  bufferLimit: 50_000,
  maxBatch: 500,
  maxInFlight: 8,
} as const satisfies OptionalRedisEventPublisherOptions;

export type RedisEventPublisherOptions = RequiredRedisEventPublisherOptions &
  Partial<OptionalRedisEventPublisherOptions>;

const FLUSH_POLL_MS = 10;
const COMPACT_AFTER = 4_096;
/**
 * Separates an entry's values in one script argument. JSON text never holds a raw NUL (it is
 * escaped as \u0000), nor do the other fields (names, ids, numbers).
 */
const SEPARATOR = '\0';
/** The entry's field names in the contract's order, from protocol's encoder; the last (`r`) is optional. */
const FIELD_NAMES = encodeEventEntryJson(
  { t: 'T', s: 0, seq: 0, sid: 's', g: null, ts: 0, r: true },
  'null',
).filter((_, index) => index % 2 === 0);

/**
 * XADDs a batch of entries in one command: one request and one reply per batch instead of per
 * event, and one argument per entry (its values joined by NUL), which is most of what the client
 * spends. An entry has a value per field name, or one less (no `r`). Answers the 1-based indexes
 * of the entries Redis refused (none, normally), then the error of the last one.
 */
const XADD_BATCH_SCRIPT = `
local names = {${FIELD_NAMES.map((name) => `'${name}'`).join(', ')}}
local failed = {}
local last_error = ''
local fields = {}
for i = 2, #ARGV do
  local entry = ARGV[i]
  local position = 1
  local k = 1
  while true do
    local stop = string.find(entry, '\0', position, true)
    fields[2 * k - 1] = names[k]
    fields[2 * k] = string.sub(entry, position, stop and stop - 1)
    if stop == nil then break end
    position = stop + 1
    k = k + 1
  end
  local ok = redis.pcall('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', unpack(fields, 1, 2 * k))
  if type(ok) == 'table' and ok.err then
    failed[#failed + 1] = i - 1
    last_error = ok.err
  end
end
failed[#failed + 1] = last_error
return failed`;

/** An event waiting for the stream. */
interface QueuedEvent {
  shard: number;
  sid: string;
  seq: number;
  /** Marked as a possible replay (field `r`). */
  replay: boolean;
  /** The entry's values in {@link FIELD_NAMES} order, joined by {@link SEPARATOR}. */
  packed: string;
}

type BatchReply = [...failedIndexes: number[], lastError: string];

interface ShardProgress {
  /** Entries queued or in flight. */
  pending: number;
  /** The latest dispatch seen, published or not. */
  sid: string;
  seq: number;
}

interface BatchCommand {
  sfXaddBatch(key: string, args: string[]): Promise<BatchReply>;
}

/**
 * Writes events to the stream with batched `XADD ... MAXLEN ~` (one script call per batch). Events queued in one turn of
 * the event loop leave in one pipeline, one pipeline at a time, so entries reach the stream in
 * the order they arrived. While Redis is down the queue holds up to `bufferLimit` events and is
 * written when the connection is back.
 */
export class RedisEventPublisher implements IEventPublisher {
  private readonly options: RequiredRedisEventPublisherOptions & OptionalRedisEventPublisherOptions;
  private readonly maxLength: string;
  private queue: QueuedEvent[] = [];
  private head = 0;
  private flushScheduled = false;
  /** Batches sent and not answered yet; Redis answers them in order. */
  private inFlight = 0;
  /** Entries of failed batches, by batch number, put back in order once nothing is in flight. */
  private readonly failed = new Map<number, QueuedEvent[]>();
  private batchNumber = 0;
  private readonly progress = new Map<number, ShardProgress>();
  private lastFailureLoggedAt = 0;

  public constructor(options: RedisEventPublisherOptions) {
    this.options = { ...DefaultRedisEventPublisherOptions, ...options };
    this.maxLength = String(options.maxLength);
    options.redis.defineCommand('sfXaddBatch', { numberOfKeys: 1, lua: XADD_BATCH_SCRIPT });
    options.redis.on('ready', () => this.scheduleFlush());
  }

  public get buffered(): number {
    return this.queue.length - this.head;
  }

  public publish(meta: EventEntryMeta, dJson: string): void {
    const progress = this.observe(meta.s, meta.sid, meta.seq);
    if (this.buffered >= this.options.bufferLimit) {
      this.options.metrics.countDropped('buffer_full');
      if (progress.pending === 0) this.options.onConfirmed(meta.s, meta.sid, meta.seq);
      return;
    }
    progress.pending++;
    const fields = encodeEventEntryJson(meta, dJson);
    let packed = fields[1] as string;
    for (let i = 3; i < fields.length; i += 2) packed += SEPARATOR + (fields[i] as string);
    this.queue.push({ shard: meta.s, sid: meta.sid, seq: meta.seq, replay: meta.r === true, packed });
    this.scheduleFlush();
  }

  public skip(shard: number, sid: string, seq: number): void {
    const progress = this.observe(shard, sid, seq);
    if (progress.pending === 0) this.options.onConfirmed(shard, sid, seq);
  }

  public async flush(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    this.scheduleFlush();
    while ((this.buffered > 0 || this.inFlight > 0) && Date.now() < deadline) {
      await sleep(FLUSH_POLL_MS);
    }
  }

  private observe(shard: number, sid: string, seq: number): ShardProgress {
    let progress = this.progress.get(shard);
    if (progress === undefined) {
      progress = { pending: 0, sid, seq };
      this.progress.set(shard, progress);
    } else {
      progress.sid = sid;
      progress.seq = seq;
    }
    return progress;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.inFlight >= this.options.maxInFlight) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.sendBatch();
    });
  }

  private sendBatch(): void {
    if (this.inFlight >= this.options.maxInFlight || this.buffered === 0) return;
    if (this.options.redis.status !== 'ready' || this.failed.size > 0) return;
    const end = Math.min(this.queue.length, this.head + this.options.maxBatch);
    const batch = this.queue.slice(this.head, end);
    this.head = end;
    if (this.head === this.queue.length) {
      this.queue = [];
      this.head = 0;
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.queue.length) {
      // Under a steady backlog the queue never empties: drop the sent entries' slots now and then.
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    const args = new Array<string>(1 + batch.length);
    args[0] = this.maxLength;
    for (let i = 0; i < batch.length; i++) args[i + 1] = (batch[i] as QueuedEvent).packed;
    this.inFlight++;
    const number = this.batchNumber++;
    const startedAt = performance.now();
    (this.options.redis as unknown as BatchCommand).sfXaddBatch(this.options.streamKey, args).then(
      (reply) => this.settle(number, batch, reply, startedAt),
      (error: unknown) => this.settle(number, batch, null, startedAt, error),
    );
    // Until the buffer is empty or the window is full: events that arrived meanwhile go too.
    if (this.buffered > 0) this.scheduleFlush();
  }

  private settle(
    number: number,
    batch: QueuedEvent[],
    reply: BatchReply | null,
    startedAt: number,
    batchError?: unknown,
  ): void {
    this.inFlight--;
    const connected = this.options.redis.status === 'ready';
    const refused = new Set(reply === null ? [] : (reply.slice(0, -1) as number[]).map((n) => n - 1));
    // Redis answered the whole call with an error (out of memory, ...): retrying fails the same way.
    const batchRefused = reply === null && batchError instanceof ReplyError;
    const retry: QueuedEvent[] = [];
    let written = 0;
    const lastError: unknown =
      batchError ?? (refused.size > 0 ? new Error(String(reply?.at(-1))) : undefined);
    // A shard's confirmed seq stops at its first entry that is to be retried.
    const blocked = new Set<number>();
    const confirmed = new Map<number, QueuedEvent>();
    for (let i = 0; i < batch.length; i++) {
      const event = batch[i] as QueuedEvent;
      const error = reply === null || refused.has(i);
      const shard = event.shard;
      if (error && !batchRefused && !refused.has(i)) {
        // The lost call may have written it: the next write is a possible replay.
        if (!event.replay) {
          event.replay = true;
          event.packed += `${SEPARATOR}1`;
        }
        retry.push(event);
        blocked.add(shard);
        continue;
      }
      if (error) {
        // Redis answered and refused this entry: retrying would fail the same way.
        this.options.metrics.countDropped('redis_error');
      } else {
        written++;
      }
      const progress = this.progress.get(shard);
      if (progress) progress.pending--;
      if (!blocked.has(shard)) confirmed.set(shard, event);
    }
    if (written > 0) {
      this.options.metrics.countPublished(written);
      this.options.metrics.publishDuration.observe((performance.now() - startedAt) / 1_000);
    }
    for (const [shard, event] of confirmed) {
      const progress = this.progress.get(shard);
      if (progress && progress.pending === 0) {
        this.options.onConfirmed(shard, progress.sid, progress.seq);
      } else {
        this.options.onConfirmed(shard, event.sid, event.seq);
      }
    }
    if (retry.length > 0) this.failed.set(number, retry);
    if (this.inFlight === 0 && this.failed.size > 0) {
      const retries = [...this.failed].sort((a, b) => a[0] - b[0]).flatMap(([, entries]) => entries);
      this.failed.clear();
      this.queue = retries.concat(this.queue.slice(this.head));
      this.head = 0;
    }
    if (lastError !== undefined) this.logFailure(lastError, retry.length);
    if (connected) this.scheduleFlush();
  }

  private logFailure(error: unknown, retried: number): void {
    const now = Date.now();
    if (now - this.lastFailureLoggedAt < 5_000) return;
    this.lastFailureLoggedAt = now;
    this.options.logger.warn(
      { err: error, retried, buffered: this.buffered },
      retried > 0
        ? 'event stream unreachable: events are kept in memory until Redis is back'
        : 'Redis refused event entries: they are dropped',
    );
  }
}
