import { describe, expect, it } from 'vitest';
import { ShardMetrics } from '../ShardMetrics.js';

describe('ShardMetrics', () => {
  it('exports every drop reason and gateway command op at 0 before any happened', async () => {
    const lines = (await new ShardMetrics(() => 0).registry.metrics()).split('\n');
    for (const reason of ['buffer_full', 'redis_error', 'shutdown']) {
      expect(lines).toContain(`shardfleet_events_dropped_total{reason="${reason}"} 0`);
    }
    for (const op of ['3', '4', '8', '31']) {
      expect(lines).toContain(`shardfleet_commands_total{op="${op}",result="sent"} 0`);
    }
    expect(lines).toContain('shardfleet_commands_total{op="invalid",result="invalid"} 0');
  });
});
