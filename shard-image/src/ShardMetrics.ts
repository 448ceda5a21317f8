import { GatewayCommandOp } from '@shardfleet/protocol';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The `reason` label values of `shardfleet_events_dropped_total`. */
const DROP_REASONS = ['buffer_full', 'redis_error', 'shutdown'] as const;
export type EventDropReason = (typeof DROP_REASONS)[number];

/** Numeric values of `shardfleet_shard_status{shard}`. */
export const ShardStatusValue = {
  stopped: -1,
  idle: 0,
  waiting: 1,
  connecting: 2,
  resuming: 3,
  ready: 4,
} as const;

/**
 * The shard worker's Prometheus metrics (the contract's `shardfleet_*` names) in their own
 * registry. Per-event counts are kept in plain maps and handed to prom-client only when
 * `/metrics` is scraped: a label lookup per gateway event would cost more than the event.
 */
export class ShardMetrics {
  public readonly registry = new Registry();
  private readonly eventCounts = new Map<number, Map<string, number>>();
  private publishedCount = 0;
  public readonly shardStatus: Gauge<'shard'>;
  public readonly shardLatency: Gauge<'shard'>;
  private readonly eventsDropped: Counter<'reason'>;
  public readonly identifies: Counter<'result'>;
  public readonly resumes: Counter;
  public readonly shardCloses: Counter<'code'>;
  public readonly publishDuration: Histogram;
  public readonly identifyBudgetRemaining: Gauge;
  public readonly bufferedEvents: Gauge;
  public readonly commands: Counter<'op' | 'result'>;

  public constructor(bufferedEvents: () => number) {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    const eventCounts = this.eventCounts;
    new Counter({
      name: 'shardfleet_gateway_events_total',
      help: 'Gateway dispatches received, by shard and event name.',
      labelNames: ['shard', 'event'],
      registers,
      collect() {
        for (const [shard, events] of eventCounts) {
          for (const [event, count] of events) {
            this.labels(String(shard), event).inc(count);
          }
          events.clear();
        }
      },
    });
    const published = () => {
      const count = this.publishedCount;
      this.publishedCount = 0;
      return count;
    };
    new Counter({
      name: 'shardfleet_events_published_total',
      help: 'Events written to the event stream.',
      registers,
      collect() {
        this.inc(published());
      },
    });
    this.shardStatus = new Gauge({
      name: 'shardfleet_shard_status',
      help: 'Shard state: -1 stopped for good, 0 idle, 1 waiting (lease, identify, budget), 2 connecting, 3 resuming, 4 ready.',
      labelNames: ['shard'],
      registers,
    });
    this.shardLatency = new Gauge({
      name: 'shardfleet_shard_latency_seconds',
      help: 'Last gateway heartbeat round trip.',
      labelNames: ['shard'],
      registers,
    });
    this.eventsDropped = new Counter({
      name: 'shardfleet_events_dropped_total',
      help: 'Events that could not be written to the stream, by reason.',
      labelNames: ['reason'],
      registers,
    });
    this.identifies = new Counter({
      name: 'shardfleet_identifies_total',
      help: 'Identify attempts by result: sent, refused_budget (below the reserve), failed.',
      labelNames: ['result'],
      registers,
    });
    this.resumes = new Counter({
      name: 'shardfleet_resumes_total',
      help: 'Sessions resumed.',
      registers,
    });
    this.shardCloses = new Counter({
      name: 'shardfleet_shard_closes_total',
      help: 'Gateway connections closed, by close code.',
      labelNames: ['code'],
      registers,
    });
    this.publishDuration = new Histogram({
      name: 'shardfleet_publish_duration_seconds',
      help: 'Duration of one pipelined XADD batch.',
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
      registers,
    });
    this.identifyBudgetRemaining = new Gauge({
      name: 'shardfleet_identify_budget_remaining',
      help: 'session_start_limit.remaining as last known.',
      registers,
    });
    this.bufferedEvents = new Gauge({
      name: 'shardfleet_event_buffer_events',
      help: 'Events waiting in memory for Redis.',
      registers,
      collect() {
        this.set(bufferedEvents());
      },
    });
    this.commands = new Counter({
      name: 'shardfleet_commands_total',
      help: 'Gateway commands read from the command streams, by op and result (sent, invalid).',
      labelNames: ['op', 'result'],
      registers,
    });
    // Every series of a known label from the start, at 0: a panel or alert then sees "none yet",
    // not "no data". Close codes are Discord's to choose, so those series appear when they happen.
    for (const reason of DROP_REASONS) this.eventsDropped.inc({ reason }, 0);
    for (const op of Object.values(GatewayCommandOp))
      this.commands.inc({ op: String(op), result: 'sent' }, 0);
    this.commands.inc({ op: 'invalid', result: 'invalid' }, 0);
  }

  /** Counts one gateway dispatch; called per event. */
  public countEvent(shard: number, event: string): void {
    let events = this.eventCounts.get(shard);
    if (events === undefined) {
      events = new Map();
      this.eventCounts.set(shard, events);
    }
    events.set(event, (events.get(event) ?? 0) + 1);
  }

  /** Counts `count` events lost for `reason`. */
  public countDropped(reason: EventDropReason, count = 1): void {
    this.eventsDropped.inc({ reason }, count);
  }

  /** Counts events written to the stream. */
  public countPublished(count: number): void {
    this.publishedCount += count;
  }
}
