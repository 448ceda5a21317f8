import { describe, expect, it } from 'vitest';
import { IdentifyBudget } from '../IdentifyBudget.js';

const limit = (remaining: number) => ({ total: 1_000, remaining, reset_after: 60_000, max_concurrency: 1 });

describe('IdentifyBudget', () => {
  it('keeps 5% of the total back and refuses at the reserve', () => {
    const budget = new IdentifyBudget({
      fetchLimit: async () => limit(0),
      reservePercent: 5,
      maxAgeMs: 30_000,
    });
    budget.set(limit(51));
    expect(budget.reserve).toBe(50);
    expect(budget.check()).toBeNull();
    budget.spend();
    expect(budget.check()).toMatchObject({ remaining: 50, reserve: 50, total: 1_000 });
    expect(budget.check()?.resetAfterMs).toBeGreaterThan(59_000);
  });

  it('refetches a stale limit and keeps the old one when Discord is unreachable', async () => {
    let answer = limit(900);
    let calls = 0;
    const budget = new IdentifyBudget({
      fetchLimit: async () => {
        calls++;
        if (calls > 1) throw new Error('unreachable');
        return answer;
      },
      reservePercent: 5,
      maxAgeMs: 0,
    });
    await budget.refresh();
    expect(budget.remaining).toBe(900);
    answer = limit(10);
    await budget.refresh();
    expect(calls).toBe(2);
    expect(budget.remaining).toBe(900);
  });
});
