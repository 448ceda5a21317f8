import type { Redis } from 'ioredis';
import type { GuardedEntry, GuardVerdict, IReplayGuard } from './IReplayGuard.js';

/** Sequence numbers per bitmap key: 8 KiB of bits. */
export const SEEN_BUCKET_BITS = 65_536;
const SCRIPT_BATCH = 500;

// KEYS[1] the stream, then each distinct seen bitmap of the batch once (`b` of them), then per
// entry its handling key. ARGV[1] the group, ARGV[2] a duration in ms, then per entry: its id,
// the index of its bitmap among them (from 0) and its bit, so a bitmap key is sent once per batch.
// (Strings go to redis.call as they came: a Lua number would be formatted again per call.)
const PREAMBLE = `
local count = (#ARGV - 2) / 3
local first_handling = #KEYS - count
`;

// Reads the bits of all entries with one BITFIELD per bitmap: seen[i] is 1 if entry i was handled.
const READ_SEEN = `
local gets, at = {}, {}
for k = 2, first_handling do gets[k] = {} end
for i = 1, count do
  local list = gets[2 + tonumber(ARGV[3 * i + 1])]
  local n = #list
  list[n + 1] = 'GET'; list[n + 2] = 'u1'; list[n + 3] = ARGV[3 * i + 2]
  at[i] = n / 3 + 1
end
local bits = {}
for k = 2, first_handling do bits[k] = redis.call('BITFIELD_RO', KEYS[k], unpack(gets[k])) end
local seen = {}
for i = 1, count do seen[i] = bits[2 + tonumber(ARGV[3 * i + 1])][at[i]] end
`;

// ARGV[2] the handling lease in ms. Returns per entry 0 duplicate (acknowledged), 1 run, 2 busy.
const BEGIN = `${PREAMBLE}${READ_SEEN}
local verdicts, acks = {}, {}
for i = 1, count do
  local id = ARGV[3 * i]
  if seen[i] == 1 then
    acks[#acks + 1] = id
    verdicts[i] = 0
  else
    local handling = KEYS[first_handling + i]
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
if #acks > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(acks)) end
return verdicts
`;

// ARGV[2] how long the seen bits are kept. The handling keys are deleted whoever holds them: the
// bits are set first, so every later entry with the key is a duplicate anyway.
const COMPLETE = `${PREAMBLE}
local sets = {}
for k = 2, first_handling do sets[k] = {} end
local ids, handling = {}, {}
for i = 1, count do
  local list = sets[2 + tonumber(ARGV[3 * i + 1])]
  local n = #list
  list[n + 1] = 'SET'; list[n + 2] = 'u1'; list[n + 3] = ARGV[3 * i + 2]; list[n + 4] = '1'
  ids[i] = ARGV[3 * i]
  handling[i] = KEYS[first_handling + i]
end
for k = 2, first_handling do
  redis.call('BITFIELD', KEYS[k], unpack(sets[k]))
  redis.call('PEXPIRE', KEYS[k], ARGV[2])
end
redis.call('DEL', unpack(handling))
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

/** The keys of one bitmap bucket `(s, sid, seq / 65536)`, built once and reused by every batch. */
class BucketKeys {
  /** Which call last gave the bucket an index, and which. */
  public call = 0;
  public index = 0;
  public constructor(
    /** `s:sid` */
    public readonly session: string,
    public readonly bucket: number,
    public readonly seen: string,
    /** `sf:{bot}:handling:<group>:<s>:<sid>:` */
    public readonly handlingPrefix: string,
  ) {}
}

class EntryKeys {
  public constructor(
    public readonly bucket: BucketKeys,
    public readonly handling: string,
    public readonly bit: number,
  ) {}
}

/** Buckets remembered at most; past it the cache starts over (keys are rebuilt on demand). */
const BUCKET_CACHE_LIMIT = 4_096;

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
  /** Buckets by session `s:sid`, then by `seq / 65536`. */
  private readonly buckets = new Map<string, Map<number, BucketKeys>>();
  private bucketCount = 0;
  private lastBucket: BucketKeys | undefined;
  private calls = 0;

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
    const calls: Promise<unknown>[] = [];
    // Bounded calls: Lua's unpack and the script's run time stay small.
    for (let first = 0; first < entries.length; first += SCRIPT_BATCH) {
      const batch = entries.length <= SCRIPT_BATCH ? entries : entries.slice(first, first + SCRIPT_BATCH);
      calls.push(this.call('sfReplayBegin', this.scriptArgs(batch, this.options.leaseMs)));
    }
    const verdicts = ((await Promise.all(calls)) as number[][]).flat();
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

  /** `numkeys, stream, seen bitmaps..., handling keys..., group, ms, (id, bitmap index, bit)...` */
  private scriptArgs(entries: readonly GuardedEntry[], ms: number): (string | number)[] {
    const call = ++this.calls;
    const count = entries.length;
    const seen: string[] = [];
    const handling = new Array<string>(count);
    const argv = new Array<string | number>(2 + 3 * count);
    argv[0] = this.options.group;
    argv[1] = ms;
    for (let i = 0; i < count; i++) {
      const entry = entries[i] as GuardedEntry;
      const keys = this.keysOf(entry);
      const bucket = keys.bucket;
      if (bucket.call !== call) {
        bucket.call = call;
        bucket.index = seen.length;
        seen.push(bucket.seen);
      }
      handling[i] = keys.handling;
      argv[2 + 3 * i] = entry.id;
      argv[3 + 3 * i] = bucket.index;
      argv[4 + 3 * i] = keys.bit;
    }
    const args = new Array<string | number>(2 + seen.length + count + argv.length);
    let at = 0;
    args[at++] = 1 + seen.length + count;
    args[at++] = this.options.stream;
    for (const key of seen) args[at++] = key;
    for (const key of handling) args[at++] = key;
    for (const arg of argv) args[at++] = arg;
    return args;
  }

  /** The entry's keys, derived once per entry (begin and complete both need them). */
  private keysOf(entry: GuardedEntry): EntryKeys {
    if (entry.guardState instanceof EntryKeys) return entry.guardState;
    // The key is `s:sid:seq`: its last part is the sequence number.
    const key = entry.key;
    const colon = key.lastIndexOf(':');
    const seqText = key.slice(colon + 1);
    const seq = Number(seqText);
    const bucketNumber = Math.floor(seq / SEEN_BUCKET_BITS);
    let bucket = this.lastBucket;
    // Entries of a batch mostly share their bucket: its keys are not built again.
    if (
      bucket === undefined ||
      bucket.bucket !== bucketNumber ||
      bucket.session.length !== colon ||
      !key.startsWith(bucket.session)
    ) {
      bucket = this.bucketOf(key.slice(0, colon), bucketNumber);
      this.lastBucket = bucket;
    }
    const keys = new EntryKeys(bucket, bucket.handlingPrefix + seqText, seq % SEEN_BUCKET_BITS);
    entry.guardState = keys;
    return keys;
  }

  private bucketOf(session: string, bucketNumber: number): BucketKeys {
    let ofSession = this.buckets.get(session);
    let bucket = ofSession?.get(bucketNumber);
    if (bucket !== undefined) return bucket;
    if (this.bucketCount >= BUCKET_CACHE_LIMIT) {
      this.buckets.clear();
      this.bucketCount = 0;
      ofSession = undefined;
    }
    if (ofSession === undefined) {
      ofSession = new Map();
      this.buckets.set(session, ofSession);
    }
    bucket = new BucketKeys(
      session,
      bucketNumber,
      `${this.seenPrefix}${session}:${bucketNumber}`,
      `${this.handlingPrefix}${session}:`,
    );
    ofSession.set(bucketNumber, bucket);
    this.bucketCount++;
    return bucket;
  }

  private call(command: string, args: (string | number)[]): Promise<unknown> {
    return (this.options.redis as unknown as Record<string, (...a: (string | number)[]) => Promise<unknown>>)[
      command
    ]!(...args);
  }
}
