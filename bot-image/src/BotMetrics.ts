import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** How an event ended: handled, failed (left pending for a retry), or recognised as a replay. */
export type ConsumeResult = 'ok' | 'error' | 'duplicate';

const CONSUME_RESULTS: readonly ConsumeResult[] = ['ok', 'error', 'duplicate'];

/** Group figures read from `XINFO GROUPS` when `/metrics` is scraped. */
export interface GroupInfo {
  /** Entries not yet delivered to the group; `null` when Redis cannot tell. */
  lag: number | null;
  /** Entries delivered and not yet acknowledged. */
  pending: number;
}

/**
 * The bot runtime's Prometheus metrics (the contract's `shardfleet_*` names) in their own
 * registry. Per-event counts live in plain maps and reach prom-client only on a scrape: a label
 * lookup per event would cost more than a no-op handler.
 */
export class BotMetrics {
  public readonly registry = new Registry();
  private readonly consumed = new Map<string, Record<ConsumeResult, number>>();
  private readonly durations = new Map<string, Histogram.Internal<'event'>>();
  private readonly handlerDuration: Histogram<'event'>;
  public readonly deadLetters: Counter;

  public constructor(groupInfo: () => Promise<GroupInfo | null>) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const consumed = this.consumed;
    new Counter({
      name: 'shardfleet_events_consumed_total',
      help: 'Events taken from the stream, by event name and result (ok, error, duplicate).',
      labelNames: ['event', 'result'],
      registers,
      collect() {
        for (const [event, counts] of consumed) {
          for (const result of CONSUME_RESULTS) {
            if (counts[result] > 0) this.labels(event, result).inc(counts[result]);
            counts[result] = 0;
          }
        }
      },
    });
    this.handlerDuration = new Histogram({
      name: 'shardfleet_handler_duration_seconds',
      help: 'Duration of the handlers of one event, by event name.',
      labelNames: ['event'],
      buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers,
    });
    let info: Promise<GroupInfo | null> | undefined;
    // One XINFO per scrape for both gauges.
    const readInfo = () => {
      info ??= groupInfo().finally(() => setTimeout(() => (info = undefined), 100).unref());
      return info;
    };
    new Gauge({
      name: 'shardfleet_stream_lag',
      help: 'Entries of the event stream not yet delivered to the consumer group (XINFO GROUPS lag).',
      registers,
      async collect() {
        const value = await readInfo().catch(() => null);
        if (value?.lag !== null && value?.lag !== undefined) this.set(value.lag);
      },
    });
    new Gauge({
      name: 'shardfleet_stream_pending',
      help: 'Entries delivered to the consumer group and not yet acknowledged (XINFO GROUPS pending).',
      registers,
      async collect() {
        const value = await readInfo().catch(() => null);
        if (value) this.set(value.pending);
      },
    });
    this.deadLetters = new Counter({
      name: 'shardfleet_dead_letters_total',
      help: 'Entries moved to the dead-letter stream after failing too many times.',
      registers,
    });
  }

  /** Counts one event; called per event. */
  public countConsumed(event: string, result: ConsumeResult): void {
    let counts = this.consumed.get(event);
    if (counts === undefined) {
      counts = { ok: 0, error: 0, duplicate: 0 };
      this.consumed.set(event, counts);
    }
    counts[result]++;
  }

  /** Records how long the handlers of one event took. */
  public observeHandler(event: string, seconds: number): void {
    let child = this.durations.get(event);
    if (child === undefined) {
      child = this.handlerDuration.labels(event);
      this.durations.set(event, child);
    }
    child.observe(seconds);
  }
}
