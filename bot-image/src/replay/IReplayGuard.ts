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
 * already handled (the guard acknowledged it); or it is `busy`: another entry with the same key is
 * being handled right now, so this one stays pending and is looked at again after the claim idle
 * time.
 */
export type GuardVerdict = 'run' | 'duplicate' | 'busy';

/**
 * Recognises replays of the same `s:sid:seq` (gateway resume, redelivery) and acknowledges
 * entries, so that a handler's effect happens once in the normal case.
 */
export interface IReplayGuard {
  /** One verdict per entry, in order; duplicates are acknowledged by the call. */
  begin(entries: readonly GuardedEntry[]): Promise<GuardVerdict[]>;
  /** Marks the entries handled and acknowledges them, atomically per entry. */
  complete(entries: readonly GuardedEntry[]): Promise<void>;
  /** Gives up the claim of entries whose handler failed, so a retry can run them. */
  release(entries: readonly GuardedEntry[]): Promise<void>;
  /** Extends the claim of entries still being handled. */
  renew(entries: readonly GuardedEntry[]): Promise<void>;
}
