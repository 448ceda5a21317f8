/** What a consumer knows of an entry when it asks the guard about it. */
export interface GuardedEntry {
  /** The stream entry id. */
  readonly id: string;
  /** The idempotency key `s:sid:seq`, in parts. */
  readonly s: number;
  readonly sid: string;
  readonly seq: number;
  /** Left to the guard, which may remember what it derived from the entry between its calls. */
  guardState?: unknown;
}

/**
 * The guard's verdict on an entry about to be handled: `run` it; it is a `duplicate` of an event
 * already handled (the guard acknowledged it); or it is `busy`: an earlier entry with the same key
 * is pending (being handled, or waiting for a retry), so this one stays pending and is looked at
 * again after the claim idle time.
 */
export type GuardVerdict = 'run' | 'duplicate' | 'busy';

/**
 * Recognises replays of the same `s:sid:seq` (gateway resume, rewrite, redelivery) and acknowledges
 * entries, so that a handler's effect happens once in the normal case. The consumer asks about the
 * entries that may repeat an earlier one (marked `r` by the shard, or delivered again); the others
 * cannot, as the group hands entries out in stream order.
 */
export interface IReplayGuard {
  /** One verdict per entry, in order; duplicates are acknowledged by the call. */
  begin(entries: readonly GuardedEntry[]): Promise<GuardVerdict[]>;
  /** Marks the entries handled and acknowledges them, atomically per entry. */
  complete(entries: readonly GuardedEntry[]): Promise<void>;
}
