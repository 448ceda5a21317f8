import type { Redis } from 'ioredis';
import type { GuardedEntry, GuardVerdict, IReplayGuard } from './IReplayGuard.js';

/** Sequence numbers per bitmap key: 8 KiB of bits. */
export const SEEN_BUCKET_BITS = 65_536;
const SCRIPT_BATCH = 500;

// KEYS[1] the stream, then per entry: its seen bitmap and its handling key.
// ARGV[1] the group, ARGV[2] the handling lease in ms, then per entry: its id and its bit.
// Returns per entry 0 duplicate (acknowledged), 1 run, 2 busy.
const BEGIN = `
local verdicts = {}
for i = 1, (#KEYS - 1) / 2 do
  local id, handling = ARGV[2 * i + 1], KEYS[2 * i + 1]
  if redis.call('GETBIT', KEYS[2 * i], ARGV[2 * i + 2]) == 1 then
    redis.call('XACK', KEYS[1], ARGV[1], id)
    verdicts[i] = 0
  else
    local owner = redis.call('SET', handling, id, 'NX', 'PX', ARGV[2], 'GET')
    if owner == false then
      verdicts[i] = 1
    elseif owner == id then
      redis.call('PEXPIRE', handling, ARGV[2])
      verdicts[i] = 1
    else
      verdicts[i] = 2
    end
  end
end
return verdicts
`;

// Same KEYS; ARGV[1] the group, ARGV[2] how long the seen bits are kept, then per entry: id, bit.
// The handling key is deleted whoever holds it: the bit is set first, so every later entry with
// the key is a duplicate anyway.
const COMPLETE = `
local ids = {}
local buckets = {}
for i = 1, (#KEYS - 1) / 2 do
  local seen = KEYS[2 * i]
  redis.call('SETBIT', seen, ARGV[2 * i + 2], 1)
  redis.call('DEL', KEYS[2 * i + 1])
  ids[i] = ARGV[2 * i + 1]
  buckets[seen] = true
end
for seen in pairs(buckets) do redis.call('PEXPIRE', seen, ARGV[2]) end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return 0
`;

// KEYS: handling keys; ARGV[1] the lease in ms (0: release), then the entry ids.
const RELEASE_OR_RENEW = `
for i = 1, #KEYS do
  if redis.call('GET', KEYS[i]) == ARGV[i + 1] then
    if ARGV[1] == '0' then redis.call('DEL', KEYS[i]) else redis.call('PEXPIRE', KEYS[i], ARGV[1]) end
  end
end
return 0
`;

class EntryKeys {
  public constructor(
    public readonly seen: string,
    public readonly handling: string,
    public readonly bit: number,
  ) {}
}

/** Required options of a {@link RedisReplayGuard}. */
export interface RequiredRedisReplayGuardOptions {
  redis: Redis;
  /** The event stream `sf:{bot}:events`. */
  stream: string;
  /** The consumer group. */
  group: string;
  /** The bot's key prefix `sf:{bot}:`: the guard's keys share the bot's hash tag. */
  keyPrefix: string;
}

/** Optional options of a {@link RedisReplayGuard}. */
export interface OptionalRedisReplayGuardOptions {
  /**
   * How long a handled key is remembered after the last event of its bucket: replays older
   * than this run again. Resume replays come within minutes; a backlog can delay them longer.
   *
   * @defaultValue `3_600_000` (1 h)
   */
  replayWindowMs: number;
  /**
   * How long the claim of an entry being handled lasts unless renewed; a consumer that dies
   * loses it after this. Keep it at most the claim idle time.
   *
   * @defaultValue `30_000`
   */
  leaseMs: number;
}

export type RedisReplayGuardOptions = RequiredRedisReplayGuardOptions &
  Partial<OptionalRedisReplayGuardOptions>;

export const DefaultRedisReplayGuardOptions = {
  replayWindowMs: 3_600_000,
  leaseMs: 30_000,
} as const satisfies OptionalRedisReplayGuardOptions;

/**
 * Recognises replays by idempotency key `s:sid:seq` with two kinds of key beside the stream:
 *
 * - `sf:{bot}:seen:<group>:<s>:<sid>:<seq / 65536>`: a bitmap, one bit per sequence number, set in the
 *   same Lua call as the `XACK` once the handler succeeded, and kept `replayWindowMs` after the
 *   bucket's last write. A set bit means "handled": a resume replay (a new entry with the same
 *   key) or a redelivery of an entry handled but not acknowledged is acknowledged unhandled.
 * - `sf:{bot}:handling:<group>:<s>:<sid>:<seq>`: a lease naming the entry id being handled, so a replay
 *   read at the same time waits (stays pending) instead of running beside it. The same entry id
 *   may take its own lease over: that is a redelivery after its consumer died.
 *
 * A per-shard high-water mark would be smaller but wrong: handlers finish out of order (several
 * in flight, several consumers, retries), so "seq below the mark" does not mean "handled", and a
 * failed entry's retry would be dropped.
 */
export class RedisReplayGuard implements IReplayGuard {
  private readonly options: Required<RedisReplayGuardOptions>;
  private readonly seenPrefix: string;
  private readonly handlingPrefix: string;

  public constructor(options: RedisReplayGuardOptions) {
    this.options = { ...DefaultRedisReplayGuardOptions, ...options };
    // Per group: another group of the same stream (another application) handles every event too.
    this.seenPrefix = `${this.options.keyPrefix}seen:${this.options.group}:`;
    this.handlingPrefix = `${this.options.keyPrefix}handling:${this.options.group}:`;
    const { redis } = this.options;
    if (typeof (redis as { sfReplayBegin?: unknown }).sfReplayBegin !== 'function') {
      redis.defineCommand('sfReplayBegin', { lua: BEGIN });
      redis.defineCommand('sfReplayComplete', { lua: COMPLETE });
      redis.defineCommand('sfReplayLease', { lua: RELEASE_OR_RENEW });
    }
  }

  public async begin(entries: readonly GuardedEntry[]): Promise<GuardVerdict[]> {
    if (entries.length === 0) return [];
    const verdicts = (await this.call(
      'sfReplayBegin',
      this.scriptArgs(entries, this.options.leaseMs),
    )) as number[];
    return verdicts.map((verdict) => (verdict === 0 ? 'duplicate' : verdict === 1 ? 'run' : 'busy'));
  }

  public async complete(entries: readonly GuardedEntry[]): Promise<void> {
    const calls: Promise<unknown>[] = [];
    // Bounded calls: Lua's unpack and the script's run time stay small.
    for (let first = 0; first < entries.length; first += SCRIPT_BATCH) {
      const batch = entries.slice(first, first + SCRIPT_BATCH);
      calls.push(this.call('sfReplayComplete', this.scriptArgs(batch, this.options.replayWindowMs)));
    }
    await Promise.all(calls);
  }

  public async release(entries: readonly GuardedEntry[]): Promise<void> {
    await this.lease(entries, 0);
  }

  public async renew(entries: readonly GuardedEntry[]): Promise<void> {
    await this.lease(entries, this.options.leaseMs);
  }

  private async lease(entries: readonly GuardedEntry[], ms: number): Promise<void> {
    if (entries.length === 0) return;
    const args: (string | number)[] = [entries.length];
    for (const entry of entries) args.push(this.keysOf(entry).handling);
    args.push(ms);
    for (const entry of entries) args.push(entry.id);
    await this.call('sfReplayLease', args);
  }

  /** `numkeys, stream, (seen, handling)..., group, ms, (id, bit)...` */
  private scriptArgs(entries: readonly GuardedEntry[], ms: number): (string | number)[] {
    const count = entries.length;
    const args = new Array<string | number>(2 + 2 * count + 2 + 2 * count);
    args[0] = 1 + 2 * count;
    args[1] = this.options.stream;
    const argv = 2 + 2 * count;
    args[argv] = this.options.group;
    args[argv + 1] = ms;
    for (let i = 0; i < count; i++) {
      const entry = entries[i] as GuardedEntry;
      const keys = this.keysOf(entry);
      args[2 + 2 * i] = keys.seen;
      args[3 + 2 * i] = keys.handling;
      args[argv + 2 + 2 * i] = entry.id;
      args[argv + 3 + 2 * i] = keys.bit;
    }
    return args;
  }

  /** The entry's keys, derived once per entry (begin and complete both need them). */
  private keysOf(entry: GuardedEntry): EntryKeys {
    if (entry.guardState instanceof EntryKeys) return entry.guardState;
    // The key is `s:sid:seq`: its last part is the sequence number.
    const colon = entry.key.lastIndexOf(':');
    const seq = Number(entry.key.slice(colon + 1));
    const keys = new EntryKeys(
      `${this.seenPrefix}${entry.key.slice(0, colon)}:${Math.floor(seq / SEEN_BUCKET_BITS)}`,
      this.handlingPrefix + entry.key,
      seq % SEEN_BUCKET_BITS,
    );
    entry.guardState = keys;
    return keys;
  }

  private call(command: string, args: (string | number)[]): Promise<unknown> {
    return (this.options.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[
      command
    ]!(...args);
  }
}
