/**
 * The Discord epoch: the first millisecond of 2015, in ms since the Unix epoch. Snowflake
 * timestamps count from here.
 */
export const DISCORD_EPOCH = 1_420_070_400_000;

const SNOWFLAKE_PATTERN = /^\d{1,20}$/;
const MAX_SNOWFLAKE = (1n << 64n) - 1n;
const MAX_TIMESTAMP_OFFSET = 2 ** 42 - 1;
const MAX_INCREMENT = 0xfff;
const POD_ORDINAL_PATTERN = /^.+-(\d+)$/;

function describe(value: unknown): string {
  return typeof value === 'string' ? JSON.stringify(value) : String(value);
}

function snowflakeToBigInt(id: string | bigint, what: string): bigint {
  const value = typeof id === 'bigint' ? id : SNOWFLAKE_PATTERN.test(id) ? BigInt(id) : -1n;
  if (value < 0n || value > MAX_SNOWFLAKE) {
    throw new RangeError(
      `${what} must be a snowflake (an unsigned 64-bit decimal integer), got ${describe(id)}`,
    );
  }
  return value;
}

function assertInteger(value: number, name: string, min: number): void {
  if (!Number.isSafeInteger(value) || value < min) {
    const expected = min === 0 ? 'a non-negative integer' : `an integer >= ${min}`;
    throw new RangeError(`${name} must be ${expected}, got ${describe(value)}`);
  }
}

/**
 * The shard that receives the events of a guild: `(guild_id >> 22) % shardCount`, computed
 * with BigInt so it is exact for every snowflake.
 *
 * @param guildId - The guild's snowflake; `null`, `undefined` or `''` (DMs, guild-less events) map to shard 0.
 * @param shardCount - The total number of shards, a positive integer.
 * @returns The shard id, in `[0, shardCount)`.
 * @throws RangeError if `guildId` is not a snowflake or `shardCount` is not a positive integer.
 */
export function shardForGuild(guildId: string | bigint | null | undefined, shardCount: number): number {
  assertInteger(shardCount, 'shardCount', 1);
  if (guildId === null || guildId === undefined || guildId === '') return 0;
  return Number((snowflakeToBigInt(guildId, 'guildId') >> 22n) % BigInt(shardCount));
}

/**
 * The number of shard workers (StatefulSet replicas) needed for a fleet.
 *
 * @param shardCount - The total number of shards, a positive integer.
 * @param shardsPerPod - The shards each worker runs, a positive integer.
 * @returns `ceil(shardCount / shardsPerPod)`.
 * @throws RangeError if an argument is not a positive integer.
 */
export function workerCount(shardCount: number, shardsPerPod: number): number {
  assertInteger(shardCount, 'shardCount', 1);
  assertInteger(shardsPerPod, 'shardsPerPod', 1);
  return Math.ceil(shardCount / shardsPerPod);
}

/**
 * The shard ids a worker runs: `[worker * shardsPerPod, min((worker + 1) * shardsPerPod, shardCount))`.
 *
 * @param worker - The worker id (the StatefulSet ordinal), a non-negative integer.
 * @param shardsPerPod - The shards each worker runs, a positive integer.
 * @param shardCount - The total number of shards, a positive integer.
 * @returns The shard ids in ascending order; never empty.
 * @throws RangeError if an argument is not a valid integer or the worker owns no shard.
 */
export function shardsForWorker(worker: number, shardsPerPod: number, shardCount: number): number[] {
  assertInteger(worker, 'worker', 0);
  const workers = workerCount(shardCount, shardsPerPod);
  if (worker >= workers) {
    throw new RangeError(
      `worker ${worker} owns no shard: ${shardCount} shards at ${shardsPerPod} per pod need workers 0-${workers - 1}`,
    );
  }
  const first = worker * shardsPerPod;
  const end = Math.min(first + shardsPerPod, shardCount);
  const shards = new Array<number>(end - first);
  for (let i = 0; i < shards.length; i++) shards[i] = first + i;
  return shards;
}

/**
 * The identify rate-limit bucket of a shard (`rate_limit_key`): shards in the same bucket
 * must identify at least 5 seconds apart.
 *
 * @param shard - The shard id, a non-negative integer.
 * @param maxConcurrency - `session_start_limit.max_concurrency` from `GET /gateway/bot`, a positive integer.
 * @returns `shard % maxConcurrency`.
 * @throws RangeError if an argument is not a valid integer.
 */
export function identifyBucket(shard: number, maxConcurrency: number): number {
  assertInteger(shard, 'shard', 0);
  assertInteger(maxConcurrency, 'maxConcurrency', 1);
  return shard % maxConcurrency;
}

/**
 * The worker id of a shard pod: the trailing ordinal of its StatefulSet pod name
 * (`mybot-shards-3` is worker 3).
 *
 * @param podName - The pod name, as the downward API gives it in `POD_NAME`.
 * @returns The ordinal.
 * @throws RangeError if the name does not end in `-<ordinal>`.
 */
export function workerIdFromPodName(podName: string): number {
  const ordinal = POD_ORDINAL_PATTERN.exec(podName)?.[1];
  const id = ordinal === undefined ? Number.NaN : Number(ordinal);
  if (!Number.isSafeInteger(id)) {
    throw new RangeError(
      `pod name ${describe(podName)} does not end in -<ordinal> (expected a StatefulSet pod name such as "mybot-shards-0")`,
    );
  }
  return id;
}

/**
 * The creation time encoded in a snowflake.
 *
 * @param id - The snowflake, as a decimal string or a bigint.
 * @returns Milliseconds since the Unix epoch.
 * @throws RangeError if `id` is not a snowflake.
 */
export function snowflakeTimestamp(id: string | bigint): number {
  return Number(snowflakeToBigInt(id, 'id') >> 22n) + DISCORD_EPOCH;
}

/**
 * Builds a snowflake for a point in time, with worker and process bits 0.
 *
 * @param ms - Milliseconds since the Unix epoch, an integer in the 42-bit range after {@link DISCORD_EPOCH}.
 * @param increment - The 12-bit sequence number that tells apart ids of the same millisecond.
 * @defaultValue `increment`: `0`
 * @returns The snowflake as a decimal string.
 * @throws RangeError if `ms` or `increment` is out of range.
 */
export function snowflakeFromTimestamp(ms: number, increment = 0): string {
  const offset = ms - DISCORD_EPOCH;
  if (!Number.isSafeInteger(ms) || offset < 0 || offset > MAX_TIMESTAMP_OFFSET) {
    throw new RangeError(
      `ms must be an integer time between the Discord epoch and 2^42 ms after it, got ${ms}`,
    );
  }
  if (!Number.isSafeInteger(increment) || increment < 0 || increment > MAX_INCREMENT) {
    throw new RangeError(`increment must be an integer in 0-${MAX_INCREMENT}, got ${increment}`);
  }
  return ((BigInt(offset) << 22n) | BigInt(increment)).toString();
}
