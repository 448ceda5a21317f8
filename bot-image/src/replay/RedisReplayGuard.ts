import type { Redis } from 'ioredis';
import type { GuardedEntry, GuardVerdict, IReplayGuard } from './IReplayGuard.js';

/** Sequence numbers per bitmap key: 8 KiB of bits. */
export const SEEN_BUCKET_BITS = 65_536;
/** Entries per script call at most: Lua's unpack and the script's run time stay small. */
const SCRIPT_BATCH = 500;

// Looks at entries that may repeat an earlier entry of their key. KEYS[1] the stream, then per
// entry its seen bitmap. ARGV[1] the group, ARGV[2] how many pending entries to look through at
// most, then per entry its id, its key `s:sid:seq` and its bit. Returns per entry 0 duplicate (the
// key was handled; the entry is acknowledged), 1 run, 2 busy (an earlier entry of the key is
// pending: it runs first). The group's pending list is what is being handled: every entry is in it
// from its delivery until the call that marks its key handled and acknowledges it.
const BEGIN = `
local function earlier(a, b)
  local a_ms, a_seq = string.match(a, '(%d+)-(%d+)')
  local b_ms, b_seq = string.match(b, '(%d+)-(%d+)')
  if a_ms ~= b_ms then return tonumber(a_ms) < tonumber(b_ms) end
  return tonumber(a_seq) < tonumber(b_seq)
end
local count = (#ARGV - 2) / 3
local verdicts, acks, wanted, last = {}, {}, {}, nil
for i = 1, count do
  local id, key = ARGV[3 * i], ARGV[3 * i + 1]
  if redis.call('GETBIT', KEYS[1 + i], ARGV[3 * i + 2]) == 1 then
    verdicts[i] = 0
    acks[#acks + 1] = id
  else
    wanted[key] = true
    if last == nil or earlier(last, id) then last = id end
  end
end
if #acks > 0 then redis.call('XACK', KEYS[1], ARGV[1], unpack(acks)) end
if last == nil then return verdicts end
-- The earliest pending entry of each wanted key, the pending list read in id order up to the last
-- entry asked about, a page at a time.
local earliest, from, left = {}, '-', tonumber(ARGV[2])
while left > 0 do
  local page = redis.call('XPENDING', KEYS[1], ARGV[1], from, last, math.min(left, 1000))
  for _, item in ipairs(page) do
    local entry = redis.call('XRANGE', KEYS[1], item[1], item[1])[1]
    if entry then
      local fields, s, sid, seq = entry[2], '', '', ''
      for j = 1, #fields, 2 do
        local name = fields[j]
        if name == 's' then s = fields[j + 1] elseif name == 'sid' then sid = fields[j + 1]
        elseif name == 'seq' then seq = fields[j + 1] end
      end
      local key = s .. ':' .. sid .. ':' .. seq
      if wanted[key] and earliest[key] == nil then earliest[key] = item[1] end
    end
  end
  left = left - #page
  if #page < 1000 then break end
  from = '(' .. page[#page][1]
end
for i = 1, count do
  if verdicts[i] == nil then
    local first = earliest[ARGV[3 * i + 1]]
    verdicts[i] = (first == nil or first == ARGV[3 * i]) and 1 or 2
  end
end
return verdicts
`;

// KEYS[1] the stream, then per bucket its seen bitmap. ARGV[1] the group, ARGV[2] how long the
// bitmaps are kept, ARGV[3] the entry ids (comma-separated), then per bucket the first byte it
// touches and a mask of its entries' bits from that byte on (bit n is bit 7 - n % 8 of byte
// n / 8, as in Redis): a byte range per bitmap costs Redis and the bot far less than an argument
// or a bitmap operation per entry.
const COMPLETE = `
for k = 2, #KEYS do
  local from = tonumber(ARGV[2 * k])
  local mask = ARGV[2 * k + 1]
  local seen = redis.call('GETRANGE', KEYS[k], from, from + #mask - 1)
  local marked = {}
  for i = 1, #mask do
    marked[i] = string.char(bit.bor(string.byte(seen, i) or 0, string.byte(mask, i)))
  end
  redis.call('SETRANGE', KEYS[k], from, table.concat(marked))
  redis.call('PEXPIRE', KEYS[k], ARGV[2])
end
local ids = {}
for id in string.gmatch(ARGV[3], '[^,]+') do ids[#ids + 1] = id end
redis.call('XACK', KEYS[1], ARGV[1], unpack(ids))
return 0
`;

/** The seen bitmap of one bucket `(s, sid, seq / 65536)`, built once and reused by every call. */
class Bucket {
  /** Which call last gave the bucket a place, which place, and its lowest and highest bit in it. */
  public call = 0;
  public index = 0;
  public low = 0;
  public high = 0;

  public constructor(
    /** The guard whose keys these are (an entry may meet several guards). */
    public readonly guard: RedisReplayGuard,
    public readonly s: number,
    public readonly sid: string,
    public readonly number: number,
    public readonly seen: string,
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
   * Pending entries looked through at most when an entry that may be a replay is checked for an
   * earlier entry of its key. The pending list holds what the group's consumers have in hand
   * (their `maxInFlight` each) and what failed handlers left for a retry.
   *
   * @defaultValue `20_000`
   */
  pendingScanLimit: number;
}

export type RedisReplayGuardOptions = RequiredRedisReplayGuardOptions &
  Partial<OptionalRedisReplayGuardOptions>;

export const DefaultRedisReplayGuardOptions = {
  replayWindowMs: 3_600_000,
  pendingScanLimit: 20_000,
} as const satisfies OptionalRedisReplayGuardOptions;

/**
 * Recognises replays by idempotency key `s:sid:seq`.
 *
 * - Every handled entry sets its bit in `sf:{bot}:seen:<group>:<s>:<sid>:<seq / 65536>` (a bitmap,
 *   one bit per sequence number, kept `replayWindowMs` after the bucket's last write) in the same
 *   Lua call as its `XACK`.
 * - Only an entry that may repeat an earlier one is looked at before it runs: one the shard marked
 *   `r` (it got it while resuming, or wrote it again after a write with an unknown outcome) or one
 *   delivered again. A set bit makes it a duplicate, acknowledged unhandled. Otherwise, if an earlier
 *   entry of its key is pending in the group (being handled, or waiting for a retry), it waits
 *   (stays pending) for that one; else it runs. Every other entry runs at once: the group hands
 *   entries out in stream order, so no earlier entry of its key can have been handled.
 *
 * A per-shard high-water mark would be smaller but wrong: handlers finish out of order (several
 * in flight, several consumers, retries), so "seq below the mark" does not mean "handled", and a
 * failed entry's retry would be dropped.
 */
export class RedisReplayGuard implements IReplayGuard {
  private readonly options: Required<RedisReplayGuardOptions>;
  private readonly seenPrefix: string;
  /** Buckets by `s:sid`, then by `seq / 65536`. */
  private readonly buckets = new Map<string, Map<number, Bucket>>();
  private bucketCount = 0;
  private lastBucket: Bucket | undefined;
  private calls = 0;

  public constructor(options: RedisReplayGuardOptions) {
    this.options = { ...DefaultRedisReplayGuardOptions, ...options };
    // Per group: another group of the same stream (another application) handles every event too.
    this.seenPrefix = `${this.options.keyPrefix}seen:${this.options.group}:`;
    const { redis } = this.options;
    if (typeof (redis as { sfReplayBegin?: unknown }).sfReplayBegin !== 'function') {
      redis.defineCommand('sfReplayBegin', { lua: BEGIN });
      redis.defineCommand('sfReplayComplete', { lua: COMPLETE });
    }
  }

  public async begin(entries: readonly GuardedEntry[]): Promise<GuardVerdict[]> {
    const verdicts = new Array<GuardVerdict>(entries.length);
    await this.inBatches(entries, async (batch, first) => {
      const args: (string | number)[] = [1 + batch.length, this.options.stream];
      for (const entry of batch) args.push(this.bucketOfEntry(entry).seen);
      args.push(this.options.group, this.options.pendingScanLimit);
      for (const entry of batch) {
        args.push(entry.id, `${entry.s}:${entry.sid}:${entry.seq}`, entry.seq % SEEN_BUCKET_BITS);
      }
      const reply = (await this.call('sfReplayBegin', args)) as number[];
      for (let i = 0; i < batch.length; i++) {
        verdicts[first + i] = reply[i] === 0 ? 'duplicate' : reply[i] === 1 ? 'run' : 'busy';
      }
    });
    return verdicts;
  }

  public async complete(entries: readonly GuardedEntry[]): Promise<void> {
    await this.inBatches(entries, async (batch) => {
      const { buckets, masks } = this.masks(batch);
      const ids = new Array<string>(batch.length);
      for (let i = 0; i < batch.length; i++) ids[i] = (batch[i] as GuardedEntry).id;
      await this.call('sfReplayComplete', [
        1 + buckets.length,
        this.options.stream,
        ...buckets.map((bucket) => bucket.seen),
        this.options.group,
        this.options.replayWindowMs,
        ids.join(','),
        ...masks,
      ]);
    });
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

  /** Groups entries by bucket: per bucket the first byte of its bits and the mask of them from there. */
  private masks(entries: readonly GuardedEntry[]): { buckets: Bucket[]; masks: (number | Buffer)[] } {
    const call = ++this.calls;
    const buckets: Bucket[] = [];
    const bucketOf = new Uint16Array(entries.length);
    const bitOf = new Uint16Array(entries.length);
    for (let i = 0; i < entries.length; i++) {
      const bucket = this.bucketOfEntry(entries[i] as GuardedEntry);
      const bit = (entries[i] as GuardedEntry).seq % SEEN_BUCKET_BITS;
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
    return { buckets, masks };
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
    bucket = new Bucket(this, s, sid, number, `${this.seenPrefix}${session}:${number}`);
    ofSession.set(number, bucket);
    this.bucketCount++;
    return bucket;
  }

  private call(command: string, args: (string | number | Buffer)[]): Promise<unknown> {
    type Script = (...a: (string | number | Buffer)[]) => Promise<unknown>;
    return (this.options.redis as unknown as Record<string, Script>)[command]!(...args);
  }
}
