import type { EventEntryMeta } from '@shardfleet/protocol';

/** Where a shard worker sends gateway dispatches: the event stream, in the worker's default. */
export interface IEventPublisher {
  /**
   * Queues one dispatch for the stream. Never throws and never waits: the gateway must not be
   * held up by the stream. Called once per dispatch, in seq order per shard.
   *
   * @param meta - The entry's fields but the data.
   * @param dJson - The dispatch data as JSON text.
   */
  publish(meta: EventEntryMeta, dJson: string): void;
  /**
   * Records a dispatch that is not published (not in `EVENTS`), so the shard's confirmed seq can
   * move past it once everything before it is in the stream.
   */
  skip(shard: number, sid: string, seq: number): void;
  /** Events waiting for the stream. */
  readonly buffered: number;
  /** Resolves when everything queued is in the stream, or when `timeoutMs` is over. */
  flush(timeoutMs: number): Promise<void>;
}

/** Called when every event of a shard up to `seq` of session `sid` is in the stream (or dropped). */
export type ConfirmedSeqListener = (shard: number, sid: string, seq: number) => void;
