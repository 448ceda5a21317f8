import type { LedgerEntry } from '../world/Ledger.js';

/** Something a session can write frames to: the live gateway connection. */
export interface FrameSink {
  sendFrame(frame: string): void;
}

/** Builds the dispatch frame text around already-serialized data, so data is stringified once. */
export function dispatchFrame(t: string, seq: number, dataJson: string): string {
  return `{"op":0,"s":${seq},"t":"${t}","d":${dataJson}}`;
}

/**
 * A gateway session: survives its connection, numbers its dispatches and keeps the last `replayWindow`
 * of them so a RESUME can replay what the client missed.
 */
export class GatewaySession {
  public seq = 0;
  public sink: FrameSink | null = null;
  public presence: unknown = null;
  // The replay buffer is a ring in parallel arrays: no object per dispatch for the collector to trace.
  private readonly replayFrames: string[];
  private readonly replayEntries: LedgerEntry[];
  private replayStart = 0;
  private replayLength = 0;
  public expiryTimer: NodeJS.Timeout | null = null;

  public constructor(
    public readonly id: string,
    public readonly shard: number,
    public readonly shardCount: number,
    public readonly intents: number,
    public readonly largeThreshold: number,
    replayWindow: number,
  ) {
    this.replayFrames = new Array<string>(replayWindow);
    this.replayEntries = new Array<LedgerEntry>(replayWindow);
  }

  /** Numbers and records a dispatch, and sends it if a connection is attached. */
  public dispatch(t: string, dataJson: string, entryId: string | null): LedgerEntry {
    const seq = ++this.seq;
    const frame = dispatchFrame(t, seq, dataJson);
    const entry: LedgerEntry = { shard: this.shard, session: this.id, seq, t, id: entryId, delivered: false };
    const capacity = this.replayFrames.length;
    if (capacity > 0) {
      const slot = (this.replayStart + this.replayLength) % capacity;
      this.replayFrames[slot] = frame;
      this.replayEntries[slot] = entry;
      if (this.replayLength < capacity) this.replayLength++;
      else this.replayStart = (this.replayStart + 1) % capacity;
    }
    if (this.sink) {
      this.sink.sendFrame(frame);
      entry.delivered = true;
    }
    return entry;
  }

  /** The replay window, oldest first: what a saved session needs to replay after a restart. */
  public replayLog(): { frame: string; entry: LedgerEntry }[] {
    const log: { frame: string; entry: LedgerEntry }[] = [];
    for (let i = 0; i < this.replayLength; i++) {
      const slot = (this.replayStart + i) % this.replayFrames.length;
      log.push({ frame: this.replayFrames[slot] as string, entry: this.replayEntries[slot] as LedgerEntry });
    }
    return log;
  }

  /** Puts a saved session's seq and replay window back (the newest that fit this window). */
  public restoreReplay(seq: number, log: readonly { frame: string; entry: LedgerEntry }[]): void {
    this.seq = seq;
    const capacity = this.replayFrames.length;
    const kept = capacity === 0 ? [] : log.slice(-capacity);
    kept.forEach(({ frame, entry }, slot) => {
      this.replayFrames[slot] = frame;
      this.replayEntries[slot] = entry;
    });
    this.replayStart = 0;
    this.replayLength = kept.length;
  }

  /**
   * Sends every recorded dispatch after `seq` to the attached sink; false when `seq` is older than the
   * replay window, so the client must identify again.
   */
  public replayAfter(seq: number): { ok: boolean; replayed: number } {
    if (seq === this.seq) return { ok: true, replayed: 0 };
    const capacity = this.replayFrames.length;
    const oldest =
      this.replayLength === 0 ? this.seq + 1 : (this.replayEntries[this.replayStart] as LedgerEntry).seq;
    if (seq < oldest - 1) return { ok: false, replayed: 0 };
    let replayed = 0;
    for (let i = 0; i < this.replayLength; i++) {
      const slot = (this.replayStart + i) % capacity;
      const entry = this.replayEntries[slot] as LedgerEntry;
      if (entry.seq <= seq) continue;
      this.sink?.sendFrame(this.replayFrames[slot] as string);
      entry.delivered = true;
      replayed++;
    }
    return { ok: true, replayed };
  }
}
