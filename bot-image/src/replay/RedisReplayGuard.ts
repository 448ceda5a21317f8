import type { Redis } from 'ioredis';
import type { GuardedEntry, GuardVerdict, IReplayGuard } from './IReplayGuard.js';

/** Sequence numbers per bitmap key: 8 KiB of bits. */
export const SEEN_BUCKET_BITS = 65_536;
/** Entries per script call at most: Lua's unpack and the script's run time stay small. */
const SCRIPT_BATCH = 500;

// Every script takes, per bucket of the call, two arguments: the first byte of the bitmap it
// touches and a mask of its entries' bits from that byte on (bit n is bit 7 - n % 8 of byte n / 8,
// as in Redis). A few byte ranges per batch cost Redis and the bot far less than an argument or a
// bitmap operation per entry. BYTES turns a table of byte values into a string.
const BYTES = `
local function bytes(values)
  local chars = {}
  for i = 1, #values do chars[i] = string.char(values[i]) end
  return table.concat(chars)
end
local function byte_at(text, i)
  return string.byte(text, i) or 0
end
`;

// KEYS: per bucket its seen bitmap, then per bucket its handling bitmap of this lease period,
// then per bucket that of the previous period. ARGV[1] how long a handling bitmap is kept, then
// per bucket its first byte and mask. Returns per bucket two masks: the duplicates (seen), and
// the entries to run, whose handling bits are now set. The others are busy.
const BEGIN = `${BYTES}
local buckets = #KEYS / 3
local verdicts = {}
for k = 1, buckets do
  local from = tonumber(ARGV[2 * k])
  local want = ARGV[2 * k + 1]
  local to = from + #want - 1
  local seen = redis.call('GETRANGE', KEYS[k], from, to)
  local current = redis.call('GETRANGE', KEYS[buckets + k], from, to)
  local previous = redis.call('GETRANGE', KEYS[2 * buckets + k], from, to)
  local duplicates, run, taken, any = {}, {}, {}, false
  for i = 1, #want do
    local w, s, c = string.byte(want, i), byte_at(seen, i), byte_at(current, i)
    local r = bit.band(w, bit.bnot(bit.bor(s, c, byte_at(previous, i))))
    duplicates[i] = bit.band(w, s)
    run[i] = r
    taken[i] = bit.bor(c, r)
    if r ~= 0 then any = true end
  end
  if any then
    redis.call('SETRANGE', KEYS[buckets + k], from, bytes(taken))
    redis.call('PEXPIRE', KEYS[buckets + k], ARGV[1])
  end
  verdicts[2 * k - 1] = bytes(duplicates)
  verdicts[2 * k] = bytes(run)
end
return verdicts
`;

// KEYS[1] the stream, then per bucket its seen bitmap. ARGV[1] the group, ARGV[2] how long the
// bitmaps are kept, ARGV[3] the entry ids (comma-separated), then per bucket its first byte and
// mask. The handling bits stay: the seen bit is read first, so they no longer matter, and they
// run out.
const COMPLETE = `${BYTES}
for k = 2, #KEYS do
  local from = tonumber(ARGV[2 * k])
  local mask = ARGV[2 * k + 1]
  local seen = redis.call('GETRANGE', KEYS[k], from, from + #mask - 1)
  local marked = {}
  for i = 1, #mask do marked[i] = bit.bor(byte_at(seen, i), string.byte(mask, i)) end
  redis.call('SETRANGE', KEYS[k], from, bytes(marked))
  redis.call('PEXPIRE', KEYS[k], ARGV[2])
end
local ids = {}
for id in string.gmatch(ARGV[3], '[^,]+') do ids[#ids + 1] = id end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return 0
`;

// Renewal (ARGV[1] > 0): KEYS per bucket its handling bitmap of this period; ARGV[1] how long it is
// kept, then per bucket its first byte and mask; the bits are set. Release (ARGV[1] = 0): KEYS per
// bucket this period's, then the previous period's; the bits are cleared where a bitmap exists.
const LEASE = `${BYTES}
local renew = ARGV[1] ~= '0'
local buckets = renew and #KEYS or #KEYS / 2
for k = 1, #KEYS do
  local at = 2 * ((k - 1) % buckets + 1)
  local from = tonumber(ARGV[at])
  local mask = ARGV[at + 1]
  if renew or redis.call('EXISTS', KEYS[k]) == 1 then
    local old = redis.call('GETRANGE', KEYS[k], from, from + #mask - 1)
    local new = {}
    for i = 1, #mask do
      local m = string.byte(mask, i)
      new[i] = renew and bit.bor(byte_at(old, i), m) or bit.band(byte_at(old, i), bit.bnot(m))
    end
    redis.call('SETRANGE', KEYS[k], from, bytes(new))
    if renew then redis.call('PEXPIRE', KEYS[k], ARGV[1]) end
  end
end
return 0
`;

/** The keys of one bitmap bucket `(s, sid, seq / 65536)`, built once and reused by every call. */
class Bucket {
  /** Which call last gave the bucket a place, which place, and its lowest and highest bit in it. */
  public call = 0;
  public index = 0;
  public low = 0;
  public high = 0;
  private period = -1;
  private currentKey = '';
  private previousKey = '';

  public constructor(
    /** The guard whose keys these are (an entry may meet several guards). */
    public readonly guard: RedisReplayGuard,
    public readonly s: number,
    public readonly sid: string,
    public readonly number: number,
    public readonly seen: string,
    /** `sf:{bot}:handling:<group>:<s>:<sid>:<seq / 65536>:` */
    private readonly handlingPrefix: string,
  ) {}

  /** The handling bitmaps of lease period `period` and of the one before it. */
  public handling(period: number): [current: string, previous: string] {
    if (period !== this.period) {
      this.period = period;
      this.currentKey = `${this.handlingPrefix}${period}`;
      this.previousKey = `${this.handlingPrefix}${period - 1}`;
    }
    return [this.currentKey, this.previousKey];
  }
}

/** The entries of one script call grouped by bucket, in the order the buckets first appear. */
interface Grouped {
  buckets: Bucket[];
  /** Per bucket: the first byte of its mask, then the mask (the scripts' arguments). */
  masks: (number | Buffer)[];
  /** Per entry: its bucket's place, and its bit in the bucket. */
  bucketOf: Uint16Array;
  bitOf: Uint16Array;
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
   * The lease period: the claim of an entry being handled lasts one to two periods after it was
   * taken or last renewed. Renew it more often than once a period, and keep two periods at most
   * the claim idle time, so that an entry claimed from a dead consumer finds its lease run out.
   *
   * @defaultValue `15_000`
   */
  leaseMs: number;
}

export type RedisReplayGuardOptions = RequiredRedisReplayGuardOptions &
  Partial<OptionalRedisReplayGuardOptions>;

export const DefaultRedisReplayGuardOptions = {
  replayWindowMs: 3_600_000,
  leaseMs: 15_000,
} as const satisfies OptionalRedisReplayGuardOptions;

/**
 * Recognises replays by idempotency key `s:sid:seq` with bitmaps beside the stream, one bit per
 * sequence number, 65,536 numbers per bitmap:
 *
 * - `sf:{bot}:seen:<group>:<s>:<sid>:<seq / 65536>`: "handled", set in the same Lua call as the
 *   `XACK` once the handler succeeded, and kept `replayWindowMs` after the bucket's last write. A
 *   set bit makes a resume replay (a new entry with the same key) or a redelivery of an entry
 *   handled but not acknowledged a duplicate, acknowledged unhandled.
 * - `sf:{bot}:handling:<group>:<s>:<sid>:<seq / 65536>:<period>`: "being handled", a lease, so a
 *   replay read at the same time waits (stays pending) instead of running beside it. Time is cut
 *   in periods of `leaseMs`; a bit is set in the current period's bitmap and read in the current
 *   and previous ones, so it holds one to two periods. A lease per bit keeps the guard's cost to a
 *   few bitmap operations per batch, where a key per entry cost Redis a key written and deleted
 *   per event.
 *
 * A per-shard high-water mark would be smaller but wrong: handlers finish out of order (several
 * in flight, several consumers, retries), so "seq below the mark" does not mean "handled", and a
 * failed entry's retry would be dropped.
 */
export class RedisReplayGuard implements IReplayGuard {
  private readonly options: Required<RedisReplayGuardOptions>;
  private readonly seenPrefix: string;
  private readonly handlingPrefix: string;
  /** Buckets by `s:sid`, then by `seq / 65536`. */
  private readonly buckets = new Map<string, Map<number, Bucket>>();
  private bucketCount = 0;
  private lastBucket: Bucket | undefined;
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
      redis.defineCommand('sfReplayLease', { lua: LEASE });
    }
  }

  public async begin(entries: readonly GuardedEntry[]): Promise<GuardVerdict[]> {
    const verdicts = new Array<GuardVerdict>(entries.length);
    const duplicates: string[] = [];
    await this.inBatches(entries, async (batch, first) => {
      const grouped = this.group(batch);
      const period = this.period();
      const keys = new Array<string>(3 * grouped.buckets.length);
      const b = grouped.buckets.length;
      const args: (string | number | Buffer)[] = [3 * b];
      for (let k = 0; k < b; k++) {
        const [current, previous] = (grouped.buckets[k] as Bucket).handling(period);
        keys[k] = (grouped.buckets[k] as Bucket).seen;
        keys[b + k] = current;
        keys[2 * b + k] = previous;
      }
      args.push(...keys, 2 * this.options.leaseMs, ...grouped.masks);
      const reply = (await this.call('sfReplayBeginBuffer', args)) as Buffer[];
      for (let i = 0; i < batch.length; i++) {
        const k = grouped.bucketOf[i] as number;
        const bit = grouped.bitOf[i] as number;
        const at = (bit >>> 3) - (grouped.masks[2 * k] as number);
        const mask = 0x80 >>> (bit & 7);
        const runs = reply[2 * k + 1] as Buffer;
        if (((reply[2 * k] as Buffer)[at] as number) & mask) {
          verdicts[first + i] = 'duplicate';
          duplicates.push((batch[i] as GuardedEntry).id);
        } else if ((runs[at] as number) & mask) {
          verdicts[first + i] = 'run';
          // Another entry of this call with the same key is busy: it came after this one.
          runs[at] = (runs[at] as number) & ~mask;
        } else verdicts[first + i] = 'busy';
      }
    });
    if (duplicates.length > 0)
      await this.options.redis.xack(this.options.stream, this.options.group, ...duplicates);
    return verdicts;
  }

  public async complete(entries: readonly GuardedEntry[]): Promise<void> {
    await this.inBatches(entries, async (batch) => {
      const grouped = this.group(batch);
      const ids = new Array<string>(batch.length);
      for (let i = 0; i < batch.length; i++) ids[i] = (batch[i] as GuardedEntry).id;
      await this.call('sfReplayComplete', [
        1 + grouped.buckets.length,
        this.options.stream,
        ...grouped.buckets.map((bucket) => bucket.seen),
        this.options.group,
        this.options.replayWindowMs,
        ids.join(','),
        ...grouped.masks,
      ]);
    });
  }

  public async release(entries: readonly GuardedEntry[]): Promise<void> {
    await this.inBatches(entries, async (batch) => {
      const grouped = this.group(batch);
      const period = this.period();
      const handling = grouped.buckets.map((bucket) => bucket.handling(period));
      await this.call('sfReplayLease', [
        2 * handling.length,
        ...handling.map(([current]) => current),
        ...handling.map(([, previous]) => previous),
        0,
        ...grouped.masks,
      ]);
    });
  }

  public async renew(entries: readonly GuardedEntry[]): Promise<void> {
    await this.inBatches(entries, async (batch) => {
      const grouped = this.group(batch);
      const period = this.period();
      await this.call('sfReplayLease', [
        grouped.buckets.length,
        ...grouped.buckets.map((bucket) => bucket.handling(period)[0]),
        2 * this.options.leaseMs,
        ...grouped.masks,
      ]);
    });
  }

  private period(): number {
    return Math.floor(Date.now() / this.options.leaseMs);
  }

  private async inBatches(
    entries: readonly GuardedEntry[],
    run: (batch: readonly GuardedEntry[], first: number) => Promise<void>,
  ): Promise<void> {
    if (entries.length <= SCRIPT_BATCH) {
      if (entries.length > 0) await run(entries, 0);
      return;
    }
    const calls: Promise<void>[] = [];
    for (let first = 0; first < entries.length; first += SCRIPT_BATCH)
      calls.push(run(entries.slice(first, first + SCRIPT_BATCH), first));
    await Promise.all(calls);
  }

  /** Groups a call's entries by bucket and builds each bucket's mask of their bits. */
  private group(entries: readonly GuardedEntry[]): Grouped {
    const call = ++this.calls;
    const buckets: Bucket[] = [];
    const bucketOf = new Uint16Array(entries.length);
    const bitOf = new Uint16Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const entry = entries[i] as GuardedEntry;
      const bucket = this.bucketOfEntry(entry);
      const bit = entry.seq % SEEN_BUCKET_BITS;
      if (bucket.call !== call) {
        bucket.call = call;
        bucket.index = buckets.length;
        bucket.low = bit;
        bucket.high = bit;
        buckets.push(bucket);
      } else if (bit < bucket.low) bucket.low = bit;
      else if (bit > bucket.high) bucket.high = bit;
      bucketOf[i] = bucket.index;
      bitOf[i] = bit;
    }
    const masks = new Array<number | Buffer>(2 * buckets.length);
    for (let k = 0; k < buckets.length; k++) {
      const bucket = buckets[k] as Bucket;
      masks[2 * k] = bucket.low >>> 3;
      masks[2 * k + 1] = Buffer.alloc((bucket.high >>> 3) - (bucket.low >>> 3) + 1);
    }
    for (let i = 0; i < entries.length; i++) {
      const k = bucketOf[i] as number;
      const bit = bitOf[i] as number;
      const mask = masks[2 * k + 1] as Buffer;
      const at = (bit >>> 3) - (masks[2 * k] as number);
      mask[at] = (mask[at] as number) | (0x80 >>> (bit & 7));
    }
    return { buckets, masks, bucketOf, bitOf };
  }

  /** The entry's bucket, remembered on the entry (begin and complete both need it). */
  private bucketOfEntry(entry: GuardedEntry): Bucket {
    if (entry.guardState instanceof Bucket && entry.guardState.guard === this) return entry.guardState;
    const number = Math.floor(entry.seq / SEEN_BUCKET_BITS);
    let bucket = this.lastBucket;
    // Entries of a batch mostly share their bucket: it is not looked up again.
    if (
      bucket === undefined ||
      bucket.number !== number ||
      bucket.s !== entry.s ||
      bucket.sid !== entry.sid
    ) {
      bucket = this.lookUp(entry.s, entry.sid, number);
      this.lastBucket = bucket;
    }
    entry.guardState = bucket;
    return bucket;
  }

  private lookUp(s: number, sid: string, number: number): Bucket {
    const session = `${s}:${sid}`;
    let ofSession = this.buckets.get(session);
    let bucket = ofSession?.get(number);
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
    bucket = new Bucket(
      this,
      s,
      sid,
      number,
      `${this.seenPrefix}${session}:${number}`,
      `${this.handlingPrefix}${session}:${number}:`,
    );
    ofSession.set(number, bucket);
    this.bucketCount++;
    return bucket;
  }

  private call(command: string, args: (string | number | Buffer)[]): Promise<unknown> {
    type Script = (...a: (string | number | Buffer)[]) => Promise<unknown>;
    return (this.options.redis as unknown as Record<string, Script>)[command]!(...args);
  }
}
