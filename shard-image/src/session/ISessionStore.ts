import type { SessionInfo } from '@discordjs/ws';

/**
 * Where shards keep their gateway sessions so a restarted worker resumes. The library reads and
 * writes it per dispatch, so both calls answer from memory.
 */
export interface ISessionStore {
  /** Loads the stored sessions of these shards; call before the shards connect. */
  load(shardIds: readonly number[]): Promise<void>;
  /** Reads a shard's stored session again: the previous holder of the shard may have just stored it. */
  reload(shardId: number): Promise<void>;
  /** The session of a shard, as @discordjs/ws `retrieveSessionInfo` wants it. */
  retrieve(shardId: number): SessionInfo | null;
  /** @discordjs/ws `updateSessionInfo`: `null` when the session is over. */
  update(shardId: number, info: SessionInfo | null): void;
  /** Every event of the shard's session up to `seq` is in the stream: the stored seq may move there. */
  confirm(shardId: number, sid: string, seq: number): void;
  /** Drops a shard's session from memory without touching the stored one (another worker has the shard). */
  forget(shardId: number): void;
  /** Keeps the sessions as they are, whatever the library does while it closes the sockets. */
  freeze(): void;
  /** Writes every changed session now. */
  persist(): Promise<void>;
}
