import type { SessionInfo } from '@discordjs/ws';
import type { RedisKeys } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { ISessionStore } from './ISessionStore.js';

/** Required options of a {@link RedisSessionStore}. */
export interface RequiredRedisSessionStoreOptions {
  redis: Redis;
  keys: RedisKeys;
  logger: Logger;
}

/** Optional options of a {@link RedisSessionStore}; defaults in {@link DefaultRedisSessionStoreOptions}. */
export interface OptionalRedisSessionStoreOptions {
  /**
   * How often changed sessions are written in the background.
   *
   * @defaultValue `1_000`
   */
  persistIntervalMs: number;
  /**
   * TTL of a session hash: Discord keeps a session resumable for minutes, not longer.
   *
   * @defaultValue `900_000` (15 min)
   */
  ttlMs: number;
}

export const DefaultRedisSessionStoreOptions = {
  persistIntervalMs: 1_000,
  ttlMs: 900_000,
} as const satisfies OptionalRedisSessionStoreOptions;

export type RedisSessionStoreOptions = RequiredRedisSessionStoreOptions &
  Partial<OptionalRedisSessionStoreOptions>;

interface StoredSession {
  /** The library's view, updated per dispatch; its seq may be ahead of the stream. */
  live: SessionInfo | null;
  /** The highest seq of `live.sessionId` whose events are all in the stream. */
  confirmedSeq: number;
  dirty: boolean;
}

/**
 * Sessions in memory, written to `sf:{bot}:session:<shard>` (hash `session_id, seq, resume_url,
 * shard_count` with a TTL) in the background and on shutdown. The stored seq is the publisher's
 * confirmed seq, never the library's: an event is in the stream before its seq is stored, so a
 * resume after a crash can replay events twice but never skip one.
 */
export class RedisSessionStore implements ISessionStore {
  private readonly options: RequiredRedisSessionStoreOptions & OptionalRedisSessionStoreOptions;
  private readonly sessions = new Map<number, StoredSession>();
  private readonly deleted = new Set<number>();
  private frozen = false;
  private timer: NodeJS.Timeout | null = null;
  private persisting: Promise<void> | null = null;

  public constructor(options: RedisSessionStoreOptions) {
    this.options = { ...DefaultRedisSessionStoreOptions, ...options };
  }

  public async load(shardIds: readonly number[]): Promise<void> {
    const pipeline = this.options.redis.pipeline();
    for (const shardId of shardIds) pipeline.hgetall(this.options.keys.session(shardId));
    const results = (await pipeline.exec()) ?? [];
    shardIds.forEach((shardId, index) => {
      const [error, hash] = results[index] ?? [null, null];
      if (error) throw error;
      const session = parseSessionHash(shardId, hash as Record<string, string> | null);
      this.sessions.set(shardId, {
        live: session,
        confirmedSeq: session?.sequence ?? 0,
        dirty: false,
      });
      if (session) {
        this.options.logger.info(
          { shard: shardId, session: session.sessionId, seq: session.sequence },
          'found a stored session: the shard will resume',
        );
      }
    });
    this.timer = setInterval(() => void this.persist(), this.options.persistIntervalMs);
    this.timer.unref();
  }

  public async reload(shardId: number): Promise<void> {
    const hash = await this.options.redis.hgetall(this.options.keys.session(shardId));
    const session = parseSessionHash(shardId, hash);
    const stored = this.sessions.get(shardId);
    if (
      session === null ||
      (stored?.live?.sessionId === session.sessionId && stored.confirmedSeq >= session.sequence)
    ) {
      return;
    }
    this.sessions.set(shardId, { live: session, confirmedSeq: session.sequence, dirty: false });
    this.deleted.delete(shardId);
  }

  public retrieve(shardId: number): SessionInfo | null {
    return this.sessions.get(shardId)?.live ?? null;
  }

  public update(shardId: number, info: SessionInfo | null): void {
    if (this.frozen) return;
    let stored = this.sessions.get(shardId);
    if (stored === undefined) {
      stored = { live: null, confirmedSeq: 0, dirty: false };
      this.sessions.set(shardId, stored);
    }
    const previous = stored.live;
    stored.live = info;
    if (info === null) {
      if (previous !== null) {
        stored.confirmedSeq = 0;
        this.deleted.add(shardId);
        stored.dirty = true;
      }
      return;
    }
    if (previous === null || previous.sessionId !== info.sessionId) {
      // A new session: nothing of it is confirmed yet.
      stored.confirmedSeq = 0;
      this.deleted.delete(shardId);
      stored.dirty = true;
    }
  }

  public confirm(shardId: number, sid: string, seq: number): void {
    const stored = this.sessions.get(shardId);
    if (stored?.live?.sessionId !== sid || seq <= stored.confirmedSeq) return;
    stored.confirmedSeq = seq;
    stored.dirty = true;
  }

  public forget(shardId: number): void {
    this.sessions.delete(shardId);
    this.deleted.delete(shardId);
  }

  public freeze(): void {
    this.frozen = true;
  }

  /** Stops the background writes. */
  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  /** Marks every session changed, so the next write restores them (Redis came back empty). */
  public markAllDirty(): void {
    for (const stored of this.sessions.values()) if (stored.live) stored.dirty = true;
  }

  public persist(): Promise<void> {
    // Writes run one after another, and a call always gets a write that starts after it.
    const next = (this.persisting ?? Promise.resolve()).then(() => this.write());
    this.persisting = next;
    return next.finally(() => {
      if (this.persisting === next) this.persisting = null;
    });
  }

  private async write(): Promise<void> {
    const redis = this.options.redis;
    if (redis.status !== 'ready') return;
    const pipeline = redis.pipeline();
    const written: StoredSession[] = [];
    for (const [shardId, stored] of this.sessions) {
      if (!stored.dirty) continue;
      const key = this.options.keys.session(shardId);
      const live = stored.live;
      if (live === null) {
        if (this.deleted.has(shardId)) pipeline.del(key);
      } else {
        pipeline.hset(key, {
          session_id: live.sessionId,
          seq: String(stored.confirmedSeq),
          resume_url: live.resumeURL,
          shard_count: String(live.shardCount),
        });
        pipeline.pexpire(key, this.options.ttlMs);
      }
      stored.dirty = false;
      written.push(stored);
    }
    if (written.length === 0) return;
    try {
      const results = (await pipeline.exec()) ?? [];
      const failed = results.find(([error]) => error !== null);
      if (failed) throw failed[0];
    } catch (error) {
      for (const stored of written) stored.dirty = true;
      this.options.logger.warn({ err: error }, 'could not store sessions; will retry');
    }
  }
}

function parseSessionHash(shardId: number, hash: Record<string, string> | null): SessionInfo | null {
  if (hash === null) return null;
  const { session_id: sessionId, seq, resume_url: resumeURL, shard_count: shardCount } = hash;
  if (!sessionId || !resumeURL || seq === undefined || shardCount === undefined) return null;
  const sequence = Number(seq);
  const count = Number(shardCount);
  if (!Number.isSafeInteger(sequence) || !Number.isSafeInteger(count)) return null;
  return { sessionId, sequence, resumeURL, shardCount: count, shardId };
}
