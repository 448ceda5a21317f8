import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** The operator's Prometheus metrics (prefix `shardfleet_`). */
export class OperatorMetrics {
  public readonly registry = new Registry();
  public readonly reconcileTotal: Counter<'result'>;
  public readonly reconcileDuration: Histogram;
  public readonly botShards: Gauge<'bot'>;
  public readonly botReadyShards: Gauge<'bot'>;
  public readonly kubeRequests: Counter<'verb' | 'resource' | 'code'>;
  public readonly gatewayChecks: Counter<'result'>;
  public readonly leader: Gauge;
  public readonly queueDepth: Gauge;

  public constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'shardfleet_operator_' });
    const registers = [this.registry];
    this.reconcileTotal = new Counter({
      name: 'shardfleet_reconcile_total',
      help: 'Reconciles of DiscordBots, by result (success, error, conflict).',
      labelNames: ['result'],
      registers,
    });
    this.reconcileDuration = new Histogram({
      name: 'shardfleet_reconcile_duration_seconds',
      help: 'Time one reconcile of a DiscordBot took.',
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.botShards = new Gauge({
      name: 'shardfleet_bot_shards',
      help: 'Planned shards of a bot.',
      labelNames: ['bot'],
      registers,
    });
    this.botReadyShards = new Gauge({
      name: 'shardfleet_bot_ready_shards',
      help: 'Shards of a bot in ready pods.',
      labelNames: ['bot'],
      registers,
    });
    this.kubeRequests = new Counter({
      name: 'shardfleet_kube_requests_total',
      help: 'Kubernetes API requests the operator made (watches not included), by verb, resource and status code.',
      labelNames: ['verb', 'resource', 'code'],
      registers,
    });
    this.gatewayChecks = new Counter({
      name: 'shardfleet_gateway_checks_total',
      help: 'GET /gateway/bot requests to Discord, by result (ok, invalid_token, unreachable).',
      labelNames: ['result'],
      registers,
    });
    this.leader = new Gauge({
      name: 'shardfleet_operator_leader',
      help: '1 while this replica is the leader.',
      registers,
    });
    this.queueDepth = new Gauge({
      name: 'shardfleet_operator_queue_depth',
      help: 'DiscordBot keys waiting to be reconciled.',
      registers,
    });
  }
}
