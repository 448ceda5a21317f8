/** What a reconcile asks of the queue when it succeeds. */
export interface ReconcileResult {
  /** Reconcile the key again after this long (a periodic re-check). */
  readonly requeueAfterMs?: number;
}

/** The outcome of one processed key, for metrics and logs. */
export type ProcessOutcome = 'success' | 'error' | 'conflict';

/** Options of a {@link WorkQueue}. */
export interface WorkQueueOptions {
  /** Keys processed at the same time (never the same key twice). @defaultValue `4` */
  readonly workers?: number;
  /** Delay after a key's first failure; doubles per failure. @defaultValue `1_000` */
  readonly baseBackoffMs?: number;
  /** @defaultValue `300_000` */
  readonly maxBackoffMs?: number;
  /** Delay before a conflicting write is retried (not counted as a failure). @defaultValue `100` */
  readonly conflictDelayMs?: number;
  /** Called after each processed key. */
  readonly onProcessed?: (key: string, outcome: ProcessOutcome, durationMs: number, error?: unknown) => void;
}

/** Tells the queue that an error is a write conflict: retried soon, without backoff. */
export type ConflictTest = (error: unknown) => boolean;

/**
 * A work queue of keys, in the manner of client-go's: a key waits at most once (duplicates
 * merge), is processed by one worker at a time (a key added while processing is processed again
 * afterwards), fails with exponential backoff per key, and can be scheduled for later.
 */
export class WorkQueue {
  readonly #process: (key: string) => Promise<ReconcileResult>;
  readonly #isConflict: ConflictTest;
  readonly #workers: number;
  readonly #baseBackoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #conflictDelayMs: number;
  readonly #onProcessed: WorkQueueOptions['onProcessed'];
  readonly #queue: string[] = [];
  readonly #queued = new Set<string>();
  readonly #processing = new Set<string>();
  readonly #dirty = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, { at: number; timer: NodeJS.Timeout }>();
  readonly #waiters: (() => void)[] = [];
  readonly #running: Promise<void>[] = [];
  #shuttingDown = false;

  public constructor(
    process: (key: string) => Promise<ReconcileResult>,
    isConflict: ConflictTest,
    options: WorkQueueOptions = {},
  ) {
    this.#process = process;
    this.#isConflict = isConflict;
    this.#workers = options.workers ?? 4;
    this.#baseBackoffMs = options.baseBackoffMs ?? 1_000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 300_000;
    this.#conflictDelayMs = options.conflictDelayMs ?? 100;
    this.#onProcessed = options.onProcessed;
  }

  /** Keys waiting (not counting those being processed or scheduled for later). */
  public get length(): number {
    return this.#queue.length;
  }

  /** Adds a key now; a no-op if it already waits. */
  public add(key: string): void {
    if (this.#shuttingDown) return;
    if (this.#processing.has(key)) {
      this.#dirty.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    this.#queue.push(key);
    this.#waiters.shift()?.();
  }

  /** Adds a key after `delayMs`; an earlier schedule of the same key wins. */
  public addAfter(key: string, delayMs: number): void {
    if (this.#shuttingDown) return;
    if (delayMs <= 0) {
      this.add(key);
      return;
    }
    const at = Date.now() + delayMs;
    const existing = this.#timers.get(key);
    if (existing !== undefined && existing.at <= at) return;
    if (existing !== undefined) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.#timers.delete(key);
      this.add(key);
    }, delayMs);
    timer.unref();
    this.#timers.set(key, { at, timer });
  }

  /** Forgets a key's failures and schedule (after the object is gone). */
  public forget(key: string): void {
    this.#failures.delete(key);
    const existing = this.#timers.get(key);
    if (existing !== undefined) clearTimeout(existing.timer);
    this.#timers.delete(key);
  }

  /** Starts the workers. */
  public start(): void {
    for (let i = 0; i < this.#workers; i++) this.#running.push(this.#work());
  }

  /** Stops taking keys and waits for the keys being processed. */
  public async shutDown(): Promise<void> {
    this.#shuttingDown = true;
    for (const { timer } of this.#timers.values()) clearTimeout(timer);
    this.#timers.clear();
    for (const wake of this.#waiters.splice(0)) wake();
    await Promise.all(this.#running);
  }

  async #next(): Promise<string | undefined> {
    while (this.#queue.length === 0) {
      if (this.#shuttingDown) return undefined;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
    const key = this.#queue.shift() as string;
    this.#queued.delete(key);
    return key;
  }

  async #work(): Promise<void> {
    for (;;) {
      const key = await this.#next();
      if (key === undefined || this.#shuttingDown) return;
      this.#processing.add(key);
      const started = performance.now();
      let outcome: ProcessOutcome = 'success';
      let failure: unknown;
      try {
        const result = await this.#process(key);
        this.#failures.delete(key);
        if (result.requeueAfterMs !== undefined) this.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        failure = error;
        if (this.#isConflict(error)) {
          outcome = 'conflict';
          this.addAfter(key, this.#conflictDelayMs);
        } else {
          outcome = 'error';
          const failures = (this.#failures.get(key) ?? 0) + 1;
          this.#failures.set(key, failures);
          this.addAfter(key, this.backoffMs(failures));
        }
      } finally {
        this.#processing.delete(key);
      }
      this.#onProcessed?.(key, outcome, performance.now() - started, failure);
      if (this.#dirty.delete(key)) this.add(key);
    }
  }

  /** The delay after the `failures`-th failure in a row: base * 2^(failures-1), capped. */
  public backoffMs(failures: number): number {
    return Math.min(this.#baseBackoffMs * 2 ** Math.max(0, failures - 1), this.#maxBackoffMs);
  }
}
