import { setTimeout as sleep } from 'node:timers/promises';
import { decodeEventEntry, type EventEntry } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { BotMetrics, GroupInfo } from '../BotMetrics.js';
import type { GuardedEntry, GuardVerdict, IReplayGuard } from '../replay/IReplayGuard.js';

type RawEntry = [id: string, fields: string[]];

/** One event taken from the stream, as the consumer hands it to the bot. */
export interface Delivery {
  /** The stream entry id. */
  readonly id: string;
  readonly event: EventEntry;
  /** How many times the group delivered the entry, this time included. */
  readonly deliveries: number;
}

/** Runs an event's handlers; throws or rejects if one of them failed. Synchronous when they all are. */
export type DeliveryHandler = (delivery: Delivery) => void | Promise<void>;

/** Required options of a {@link StreamConsumer}. */
export interface RequiredStreamConsumerOptions {
  /** Commands (acks, claims, dead letters). */
  redis: Redis;
  /** A connection of its own for the blocking XREADGROUP. */
  reader: Redis;
  stream: string;
  /** The dead-letter stream `sf:{bot}:dlq`. */
  deadLetterStream: string;
  group: string;
  consumer: string;
  guard: IReplayGuard;
  handle: DeliveryHandler;
  /** Whether an event has handlers at all; entries without any are acknowledged straight away. */
  wants: (event: string) => boolean;
  metrics: BotMetrics;
  logger: Logger;
}

/** Optional options of a {@link StreamConsumer}. */
export interface OptionalStreamConsumerOptions {
  /** Entries per XREADGROUP at most. @defaultValue `500` */
  batchSize: number;
  /** How long one XREADGROUP blocks. @defaultValue `2_000` */
  blockMs: number;
  /** Handlers running (or queued behind their guild) at once, at most. @defaultValue `1_000` */
  maxInFlight: number;
  /** Handle the events of one guild one after the other, in stream order. @defaultValue `false` */
  orderedByGuild: boolean;
  /** An entry pending this long without its consumer touching it is claimed. @defaultValue `30_000` */
  claimIdleMs: number;
  /** How often pending entries are looked at (claims, and keeping this consumer's own fresh). @defaultValue `5_000` */
  claimIntervalMs: number;
  /** An entry whose handler failed this many deliveries goes to the dead-letter stream. @defaultValue `5` */
  maxDeliveries: number;
  /** Longest pause between attempts while Redis fails. @defaultValue `5_000` */
  maxBackoffMs: number;
}

export type StreamConsumerOptions = RequiredStreamConsumerOptions & Partial<OptionalStreamConsumerOptions>;

export const DefaultStreamConsumerOptions = {
  batchSize: 500,
  blockMs: 2_000,
  maxInFlight: 1_000,
  orderedByGuild: false,
  claimIdleMs: 30_000,
  claimIntervalMs: 5_000,
  maxDeliveries: 5,
  maxBackoffMs: 5_000,
} as const satisfies OptionalStreamConsumerOptions;

/** An entry from its read to its acknowledgement: what the handlers get and what the guard needs. */
interface Running extends Delivery, GuardedEntry {
  readonly t: string;
}

/** Entries decoded and checked by the guard, waiting for their turn to start. */
interface Checked {
  running: Running[];
  verdicts: GuardVerdict[];
}

/**
 * Consumes the event stream with one consumer of a group, at least once: blocking batched
 * XREADGROUP, a bound on handlers in flight, acknowledgement only after success (batched), replay
 * recognition through an {@link IReplayGuard}, XAUTOCLAIM of entries a dead consumer left pending,
 * and a dead-letter stream for entries that keep failing. The read loop never stays dead: any
 * error (Redis gone, group gone after a Redis restart) is retried with backoff.
 */
export class StreamConsumer {
  private readonly options: Required<StreamConsumerOptions>;
  private readonly inFlight = new Map<string, Running>();
  private readonly guildTails = new Map<string, Promise<void>>();
  private toComplete: Running[] = [];
  private flushScheduled = false;
  private readonly flushes = new Set<Promise<void>>();
  private capacityWaiter: (() => void) | undefined;
  private idleWaiters: (() => void)[] = [];
  private running = false;
  private loop: Promise<void> | undefined;
  private claimTimer: NodeJS.Timeout | undefined;
  private claiming: Promise<void> | undefined;
  private claimCursor = '0-0';
  /** Entries read but not yet through the guard: they count against `maxInFlight` too. */
  private accepting = 0;
  /** Accepts run one after the other, so entries start in stream order. */
  private acceptChain: Promise<void> = Promise.resolve();
  private groupReady = false;
  /** When the read loop last finished an iteration (success or handled failure). */
  public lastLoopAt = 0;
  /** Whether the last XREADGROUP succeeded. */
  public readOk = false;

  public constructor(options: StreamConsumerOptions) {
    this.options = { ...DefaultStreamConsumerOptions, ...options };
  }

  /** Entries being handled now. */
  public get inFlightCount(): number {
    return this.inFlight.size;
  }

  /**
   * How long the read loop has made no turn although nothing excuses it (it is not waiting for
   * room under `maxInFlight`, nor for Redis): a liveness probe fails on a large value.
   */
  public get stalledMs(): number {
    if (!this.running || this.capacityWaiter !== undefined || this.options.reader.status !== 'ready')
      return 0;
    return Math.max(0, Date.now() - this.lastLoopAt - this.options.blockMs);
  }

  public get ready(): boolean {
    return this.running && this.groupReady && this.readOk;
  }

  /** Starts reading; resolves once the group exists (or keeps trying in the background). */
  public async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    this.lastLoopAt = Date.now();
    // Time without Redis does not count as a stalled loop.
    this.options.reader.on('ready', () => (this.lastLoopAt = Date.now()));
    await this.ensureGroup().catch((error: unknown) =>
      this.options.logger.warn({ err: error }, 'could not create the consumer group yet; retrying'),
    );
    this.loop = this.superviseReadLoop();
    this.claimTimer = setInterval(() => {
      this.claiming ??= this.claimOnce().finally(() => (this.claiming = undefined));
    }, this.options.claimIntervalMs);
  }

  /**
   * Stops reading, waits for the handlers in flight (at most `timeoutMs`) and acknowledges what
   * they finished. Entries not finished stay pending for another consumer.
   */
  public async stop(timeoutMs: number): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearInterval(this.claimTimer);
    this.capacityWaiter?.();
    // Ends a blocked XREADGROUP at once; what it was about to return stays pending in the group.
    this.options.reader.disconnect();
    await this.loop;
    await this.claiming;
    await this.acceptChain;
    const deadline = Date.now() + timeoutMs;
    if (this.inFlight.size > 0) {
      const idle = new Promise<void>((resolve) => this.idleWaiters.push(resolve));
      await Promise.race([idle, sleep(timeoutMs, undefined, { ref: false })]);
    }
    await Promise.all(this.flushes);
    while (this.toComplete.length > 0 && Date.now() < deadline) {
      if (!(await this.flush())) await sleep(100);
    }
    if (this.inFlight.size > 0) {
      this.options.logger.warn(
        { inFlight: this.inFlight.size },
        'handlers still running at shutdown; their entries stay pending',
      );
    }
  }

  /** `XINFO GROUPS` figures of this consumer's group. */
  public async groupInfo(): Promise<GroupInfo | null> {
    const groups = (await this.options.redis.xinfo('GROUPS', this.options.stream)) as unknown[][];
    for (const group of groups) {
      const fields = new Map<string, unknown>();
      for (let i = 0; i + 1 < group.length; i += 2) fields.set(String(group[i]), group[i + 1]);
      if (fields.get('name') !== this.options.group) continue;
      const lag = fields.get('lag');
      return { lag: typeof lag === 'number' ? lag : null, pending: Number(fields.get('pending') ?? 0) };
    }
    return null;
  }

  private async ensureGroup(): Promise<void> {
    try {
      // From the stream's start: events written before any bot ran are handled too.
      await this.options.redis.xgroup('CREATE', this.options.stream, this.options.group, '0', 'MKSTREAM');
    } catch (error) {
      if (!String((error as Error).message).startsWith('BUSYGROUP')) throw error;
    }
    this.groupReady = true;
  }

  private async superviseReadLoop(): Promise<void> {
    while (this.running) {
      try {
        await this.readLoop();
      } catch (error) {
        // A bug in the loop itself: log it and start again rather than stop consuming.
        this.options.logger.error({ err: error }, 'read loop failed; restarting it');
        await sleep(1_000);
      }
    }
  }

  private async readLoop(): Promise<void> {
    const { reader, group, consumer, stream, blockMs, batchSize, maxInFlight, logger } = this.options;
    let failures = 0;
    while (this.running) {
      await this.capacity();
      if (!this.running) return;
      const count = Math.min(batchSize, maxInFlight - this.busy);
      // Entries accepted meanwhile may have taken the room again.
      if (count <= 0) continue;
      let entries: RawEntry[] | undefined;
      try {
        const reply = (await reader.xreadgroup(
          'GROUP',
          group,
          consumer,
          'COUNT',
          count,
          'BLOCK',
          blockMs,
          'STREAMS',
          stream,
          '>',
        )) as [string, RawEntry[]][] | null;
        entries = reply?.[0]?.[1];
        this.readOk = true;
        failures = 0;
      } catch (error) {
        this.lastLoopAt = Date.now();
        if (!this.running) return;
        this.readOk = false;
        const message = String((error as Error).message);
        if (message.startsWith('NOGROUP')) {
          // Redis came back empty: the group (and maybe the stream) is gone.
          this.groupReady = false;
          logger.warn('consumer group missing; creating it again');
          await this.ensureGroup().catch((groupError: unknown) =>
            logger.warn({ err: groupError }, 'could not create the consumer group'),
          );
        } else {
          logger.warn({ err: error }, 'XREADGROUP failed; retrying');
        }
        failures++;
        await sleep(Math.min(this.options.maxBackoffMs, 50 * 2 ** Math.min(failures, 10)));
        continue;
      }
      this.lastLoopAt = Date.now();
      if (entries !== undefined && entries.length > 0) this.enqueueAccept(entries, null);
    }
  }

  /**
   * Asks the guard about the entries at once, then starts them after the entries read before
   * them: the guard's calls overlap each other and the next read, and a slow answer does not hold
   * the calls of later reads back, while handlers still start in stream order.
   */
  private enqueueAccept(entries: readonly RawEntry[], deliveries: Map<string, number> | null): Promise<void> {
    this.accepting += entries.length;
    const checked = this.check(entries, deliveries);
    const next = this.acceptChain.then(async () => {
      try {
        this.startChecked(await checked);
      } catch (error) {
        this.options.logger.error({ err: error }, 'accepting entries failed; they stay pending');
      } finally {
        this.accepting -= entries.length;
        this.wakeReader();
      }
    });
    this.acceptChain = next;
    return next;
  }

  private get busy(): number {
    return this.inFlight.size + this.accepting;
  }

  private wakeReader(): void {
    if (this.busy < this.options.maxInFlight) {
      const waiter = this.capacityWaiter;
      this.capacityWaiter = undefined;
      waiter?.();
    }
  }

  /** Resolves when fewer than `maxInFlight` handlers run. */
  private capacity(): Promise<void> {
    if (this.busy < this.options.maxInFlight || !this.running) return Promise.resolve();
    return new Promise<void>((resolve) => (this.capacityWaiter = resolve)).then(() => {
      this.lastLoopAt = Date.now();
    });
  }

  /**
   * Takes entries read or claimed: decodes them, acknowledges those no handler wants, dead-letters
   * invalid ones and asks the guard about the rest, sending every command before it waits.
   *
   * @param deliveries - Delivery counts by entry id for claimed entries; `null` for fresh reads.
   */
  private async check(
    entries: readonly RawEntry[],
    deliveries: Map<string, number> | null,
  ): Promise<Checked> {
    const { wants, metrics } = this.options;
    const running: Running[] = [];
    const unwanted: string[] = [];
    for (const [id, fields] of entries) {
      if (this.inFlight.has(id)) continue;
      const count = deliveries?.get(id) ?? 1;
      let event: EventEntry;
      try {
        // d stays JSON text until its handlers run: fewer parsed objects live across a batch.
        event = decodeEventEntry(fields, { parseData: false });
      } catch (error) {
        void this.deadLetter(id, fields, error, count).catch((dlqError: unknown) =>
          this.options.logger.warn({ err: dlqError, id }, 'could not dead-letter an invalid entry'),
        );
        continue;
      }
      if (wants(event.t)) {
        running.push({
          id,
          event,
          deliveries: count,
          s: event.s,
          sid: event.sid,
          seq: event.seq,
          t: event.t,
        });
      } else {
        unwanted.push(id);
        metrics.countConsumed(event.t, 'ok');
      }
    }
    if (unwanted.length > 0) {
      void this.options.redis
        .xack(this.options.stream, this.options.group, ...unwanted)
        .catch((error: unknown) =>
          this.options.logger.warn({ err: error }, 'XACK failed; entries stay pending'),
        );
    }
    const verdicts = new Array<GuardVerdict>(running.length).fill('run');
    // Only these can repeat an earlier entry of their key: the group hands entries out in stream
    // order, so an entry read for the first time and not marked by the shard is new.
    const mayRepeat: number[] = [];
    for (let i = 0; i < running.length; i++) {
      const entry = running[i] as Running;
      if (entry.event.r === true || entry.deliveries > 1) mayRepeat.push(i);
    }
    if (mayRepeat.length === 0) return { running, verdicts };
    try {
      const asked = await this.options.guard.begin(mayRepeat.map((i) => running[i] as Running));
      mayRepeat.forEach((i, k) => (verdicts[i] = asked[k] as GuardVerdict));
    } catch (error) {
      // They stay pending and are claimed again after the idle time.
      this.options.logger.warn({ err: error }, 'replay check failed; those entries stay pending');
      for (const i of mayRepeat) verdicts[i] = 'busy';
    }
    return { running, verdicts };
  }

  /** Starts the handlers of checked entries that the guard let run. */
  private startChecked({ running, verdicts }: Checked): void {
    const { metrics } = this.options;
    for (let i = 0; i < running.length; i++) {
      const entry = running[i] as Running;
      switch (verdicts[i]) {
        case 'duplicate':
          metrics.countConsumed(entry.t, 'duplicate');
          break;
        case 'busy':
          this.options.logger.debug({ id: entry.id }, 'a replay of this key is being handled; left pending');
          break;
        default:
          this.schedule(entry);
      }
    }
  }

  private schedule(entry: Running): void {
    this.inFlight.set(entry.id, entry);
    const guild = entry.event.g;
    if (!this.options.orderedByGuild || guild === null) {
      void this.run(entry);
      return;
    }
    const previous = this.guildTails.get(guild);
    const next = previous === undefined ? this.run(entry) : previous.then(() => this.run(entry));
    // A synchronous handler finished already: nothing to wait for.
    if (next === undefined) return;
    this.guildTails.set(guild, next);
    void next.then(() => {
      if (this.guildTails.get(guild) === next) this.guildTails.delete(guild);
    });
  }

  /**
   * Runs one delivery's handlers; never rejects. Synchronous handlers finish without a promise:
   * at tens of thousands of events per second the promises would cost more than the handlers.
   */
  private run(entry: Running): void | Promise<void> {
    const started = performance.now();
    let result: void | Promise<void>;
    try {
      entry.event.d = JSON.parse(entry.event.d as string);
    } catch (error) {
      return this.invalidData(entry, error);
    }
    try {
      result = this.options.handle(entry);
    } catch (error) {
      return this.settle(entry, started, error);
    }
    if (result === undefined || typeof result.then !== 'function') return this.settle(entry, started);
    return result.then(
      () => this.settle(entry, started),
      (error: unknown) => this.settle(entry, started, error),
    );
  }

  private settle(entry: Running, started: number, ...failure: [] | [error: unknown]): void | Promise<void> {
    const { metrics } = this.options;
    metrics.observeHandler(entry.t, (performance.now() - started) / 1_000);
    if (failure.length === 0) {
      metrics.countConsumed(entry.t, 'ok');
      this.toComplete.push(entry);
      this.finished(entry);
      return;
    }
    metrics.countConsumed(entry.t, 'error');
    return this.failed(entry, failure[0]).finally(() => this.finished(entry));
  }

  /** An entry whose `d` is not JSON can never succeed: it goes to the dead-letter stream at once. */
  private invalidData(entry: Running, error: unknown): Promise<void> {
    const problem = new Error(
      `invalid event entry: field "d" is not valid JSON (${(error as Error).message})`,
    );
    return this.deadLetter(entry.id, null, problem, entry.deliveries)
      .catch((dlqError: unknown) => {
        this.options.logger.warn(
          { err: dlqError, id: entry.id },
          'could not dead-letter an invalid entry; it stays pending',
        );
      })
      .finally(() => this.finished(entry));
  }

  private finished(entry: Running): void {
    this.inFlight.delete(entry.id);
    this.scheduleFlush();
    this.wakeReader();
    if (this.inFlight.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
  }

  private async failed(entry: Running, error: unknown): Promise<void> {
    const { logger, maxDeliveries } = this.options;
    if (entry.deliveries < maxDeliveries) {
      logger.warn(
        { err: error, id: entry.id, event: entry.t, deliveries: entry.deliveries },
        'handler failed; the entry stays pending for a retry',
      );
      return;
    }
    try {
      await this.deadLetter(entry.id, null, error, entry.deliveries, entry.event);
    } catch (dlqError) {
      logger.warn({ err: dlqError, id: entry.id }, 'could not dead-letter the entry; it stays pending');
    }
  }

  /**
   * Moves an entry to the dead-letter stream and acknowledges it, in one MULTI: the original
   * fields, plus `id` (its entry id), `error`, `deliveries`, `consumer`, `group`, `failed_at`.
   */
  private async deadLetter(
    id: string,
    raw: readonly string[] | null,
    error: unknown,
    deliveries: number,
    event?: EventEntry,
  ): Promise<void> {
    const { redis, stream, group, consumer, deadLetterStream, logger, metrics } = this.options;
    const fields = raw ? [...raw] : await this.fieldsOf(id, event);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await redis
      .multi()
      .xadd(
        deadLetterStream,
        '*',
        ...fields,
        'id',
        id,
        'error',
        message,
        'deliveries',
        String(deliveries),
        'consumer',
        consumer,
        'group',
        group,
        'failed_at',
        String(Date.now()),
      )
      .xack(stream, group, id)
      .exec();
    metrics.deadLetters.inc();
    logger.error({ id, deliveries, error: message }, 'entry moved to the dead-letter stream');
  }

  private async fieldsOf(id: string, event: EventEntry | undefined): Promise<string[]> {
    const entries = (await this.options.redis.xrange(this.options.stream, id, id)) as RawEntry[];
    const fields = entries[0]?.[1];
    if (fields) return fields;
    // Trimmed from the stream meanwhile: rebuild the fields from what was decoded.
    return event
      ? ['t', event.t, 's', String(event.s), 'seq', String(event.seq), 'sid', event.sid, 'g', event.g ?? '']
      : [];
  }

  /** Flushes what finished in this turn of the event loop, in one call, without waiting for earlier flushes. */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const flush = this.flush().then((ok) => {
        this.flushes.delete(flush);
        if (!ok && this.running) setTimeout(() => this.scheduleFlush(), 200).unref();
      });
      this.flushes.add(flush);
    });
  }

  /**
   * Acknowledges finished entries; keeps them for the next flush on error.
   *
   * @returns Whether it succeeded.
   */
  private async flush(): Promise<boolean> {
    const complete = this.toComplete;
    if (complete.length === 0) return true;
    this.toComplete = [];
    try {
      await this.options.guard.complete(complete);
      return true;
    } catch (error) {
      if (String((error as Error).message).includes('NOGROUP')) {
        // Redis lost the group (restarted empty): nothing is pending any more.
        this.options.logger.warn({ err: error }, 'consumer group gone; dropping acknowledgements');
        return true;
      }
      this.options.logger.warn({ err: error }, 'acknowledging failed; retrying');
      this.toComplete.push(...complete);
      return false;
    }
  }

  /**
   * One pass over the pending entries: renews the claims of entries this consumer is handling
   * (so slow handlers are not taken over), then claims entries idle longer than `claimIdleMs`.
   */
  private async claimOnce(): Promise<void> {
    const { redis, stream, group, consumer, claimIdleMs, maxInFlight, logger } = this.options;
    try {
      if (this.inFlight.size > 0) {
        const own = [...this.inFlight.values()];
        // JUSTID resets the idle time without counting a delivery.
        await redis.xclaim(stream, group, consumer, 0, ...own.map((entry) => entry.id), 'JUSTID');
      }
      const room = maxInFlight - this.busy;
      if (!this.running || room <= 0 || !this.groupReady) return;
      const [cursor, claimed, deleted] = (await redis.xautoclaim(
        stream,
        group,
        consumer,
        claimIdleMs,
        this.claimCursor,
        'COUNT',
        Math.min(room, this.options.batchSize),
      )) as [string, (RawEntry | null)[], string[] | undefined];
      this.claimCursor = cursor;
      if (deleted && deleted.length > 0) {
        logger.warn({ ids: deleted }, 'pending entries were trimmed from the stream before being handled');
      }
      const entries = claimed.filter((entry): entry is RawEntry => entry !== null && entry[1] !== null);
      if (entries.length === 0 || !this.running) return;
      const counts = await this.deliveryCounts(entries);
      logger.info({ count: entries.length }, 'claimed entries left pending by another delivery');
      await this.enqueueAccept(entries, counts);
    } catch (error) {
      logger.warn({ err: error }, 'claiming pending entries failed; will retry');
    }
  }

  private async deliveryCounts(entries: readonly RawEntry[]): Promise<Map<string, number>> {
    const first = (entries[0] as RawEntry)[0];
    const last = (entries.at(-1) as RawEntry)[0];
    const { redis, stream, group, consumer } = this.options;
    const pending = (await redis.xpending(
      stream,
      group,
      first,
      last,
      entries.length + this.options.maxInFlight,
      consumer,
    )) as [string, string, number, number][];
    return new Map(pending.map(([id, , , count]) => [id, count]));
  }
}
