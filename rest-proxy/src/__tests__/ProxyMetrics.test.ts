import { describe, expect, it } from 'vitest';
import { ProxyMetrics } from '../ProxyMetrics.js';

describe('ProxyMetrics', () => {
  it('exports every 429 scope and upstream error reason at 0 before any happened', async () => {
    const metrics = new ProxyMetrics({ invalidRequests: async () => 0, waiting: () => 0 });
    const lines = (await metrics.registry.metrics()).split('\n');
    for (const scope of ['global', 'bucket', 'queue', 'discord_user', 'discord_global', 'discord_shared']) {
      expect(lines).toContain(`shardfleet_rest_ratelimited_total{scope="${scope}"} 0`);
    }
    for (const reason of ['timeout', 'error']) {
      expect(lines).toContain(`shardfleet_rest_upstream_errors_total{reason="${reason}"} 0`);
    }
    metrics.rateLimitedBy('discord_user');
    expect((await metrics.registry.metrics()).split('\n')).toContain(
      'shardfleet_rest_ratelimited_total{scope="discord_user"} 1',
    );
  });

  it('records the wait for a rate-limit slot by route template', async () => {
    const metrics = new ProxyMetrics({ invalidRequests: async () => 0, waiting: () => 0 });
    metrics.observeQueueWait('/channels/:id/messages', 0.3);
    metrics.observeQueueWait('/channels/:id/messages', 0.002);
    const lines = (await metrics.registry.metrics()).split('\n');
    expect(lines).toContain('shardfleet_rest_queue_wait_seconds_count{route="/channels/:id/messages"} 2');
    expect(lines).toContain(
      'shardfleet_rest_queue_wait_seconds_bucket{le="0.005",route="/channels/:id/messages"} 1',
    );
  });
});
