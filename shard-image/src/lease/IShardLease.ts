/** Keeps one connection per shard id across every worker of a bot. */
export interface IShardLease {
  /** Resolves once this worker holds the shard's lease; rejects when `signal` aborts. */
  acquire(shardId: number, signal: AbortSignal): Promise<void>;
  /** Gives the lease up, if this worker holds it. */
  release(shardId: number): Promise<void>;
}

/** Called when another worker took a lease this worker held: the shard must close. */
export type LeaseLostListener = (shardId: number, holder: string) => void;
