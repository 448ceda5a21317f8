import type { APIGatewaySessionStartLimit } from 'discord-api-types/v10';

/** Required options of an {@link IdentifyBudget}. */
export interface IdentifyBudgetOptions {
  /** Reads `session_start_limit` from Discord (`GET /gateway/bot`). */
  fetchLimit: () => Promise<APIGatewaySessionStartLimit>;
  /** Percentage of `total` never spent, 0-99. */
  reservePercent: number;
  /** How long a fetched limit is trusted before the next identify refetches it. */
  maxAgeMs: number;
}

/** Why an identify was refused. */
export interface BudgetRefusal {
  remaining: number;
  reserve: number;
  total: number;
  resetAfterMs: number;
}

/**
 * The daily identify budget (`session_start_limit`). Spending it all makes Discord reset the
 * token, so identifies stop at a reserve: the remaining sessions are kept for a human to act.
 */
export class IdentifyBudget {
  private limit: APIGatewaySessionStartLimit | null = null;
  private fetchedAt = 0;
  private fetching: Promise<void> | null = null;

  public constructor(private readonly options: IdentifyBudgetOptions) {}

  /** Records a limit fetched elsewhere (the start-up `GET /gateway/bot`). */
  public set(limit: APIGatewaySessionStartLimit): void {
    this.limit = { ...limit };
    this.fetchedAt = Date.now();
  }

  public get remaining(): number | null {
    return this.limit?.remaining ?? null;
  }

  /** Identifies kept back: `ceil(total * reservePercent / 100)`. */
  public get reserve(): number {
    return this.limit === null ? 0 : Math.ceil((this.limit.total * this.options.reservePercent) / 100);
  }

  /** Refreshes a stale limit; keeps the old one if Discord cannot be reached. */
  public async refresh(force = false): Promise<void> {
    if (!force && this.limit !== null && Date.now() - this.fetchedAt < this.options.maxAgeMs) return;
    // Shards waiting together share one request.
    this.fetching ??= this.options
      .fetchLimit()
      .then(
        (limit) => this.set(limit),
        // The last known limit still guards; the next identify tries again.
        () => undefined,
      )
      .finally(() => {
        this.fetching = null;
      });
    await this.fetching;
  }

  /** `null` when an identify may go ahead, else why not. */
  public check(): BudgetRefusal | null {
    const limit = this.limit;
    if (limit === null || limit.remaining > this.reserve) return null;
    return {
      remaining: limit.remaining,
      reserve: this.reserve,
      total: limit.total,
      resetAfterMs: Math.max(0, this.fetchedAt + limit.reset_after - Date.now()),
    };
  }

  /** Counts an identify this worker sends. */
  public spend(): void {
    if (this.limit !== null && this.limit.remaining > 0) this.limit.remaining--;
  }
}
