/** One dispatch the simulator put into a session: what a test compares the fleet's output against. */
export interface LedgerEntry {
  shard: number;
  session: string;
  seq: number;
  t: string;
  /** The id of the dispatched object (message, guild, interaction), if it has one. */
  id: string | null;
  /** Whether the frame was written to a socket; false while it waits in a disconnected session. */
  delivered: boolean;
}

export interface LedgerQuery {
  shard?: number;
  session?: string;
  t?: string;
  delivered?: boolean;
}

/** Every dispatch sent, bounded so a long load run cannot exhaust memory (the oldest go first). */
export class Ledger {
  private entries: LedgerEntry[] = [];
  private droppedCount = 0;

  public constructor(private readonly limit: number) {}

  public add(entry: LedgerEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.limit) {
      const excess = Math.max(1, Math.floor(this.limit / 10));
      this.entries = this.entries.slice(excess);
      this.droppedCount += excess;
    }
  }

  public query(filter: LedgerQuery): LedgerEntry[] {
    return this.entries.filter(
      (entry) =>
        (filter.shard === undefined || entry.shard === filter.shard) &&
        (filter.session === undefined || entry.session === filter.session) &&
        (filter.t === undefined || entry.t === filter.t) &&
        (filter.delivered === undefined || entry.delivered === filter.delivered),
    );
  }

  public get size(): number {
    return this.entries.length;
  }

  /** Entries removed to respect the limit. */
  public get dropped(): number {
    return this.droppedCount;
  }

  public clear(): void {
    this.entries = [];
    this.droppedCount = 0;
  }
}
