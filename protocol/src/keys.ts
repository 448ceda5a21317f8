/**
 * A bot id: `<namespace>.<name>` of its DiscordBot resource, each part a DNS-1123 label
 * (lowercase letters, digits and `-`, starting and ending with a letter or digit, at most 63
 * characters).
 */
export const BOT_ID_PATTERN =
  /^([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)\.([a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)$/;

/** The parts of a bot id. */
export interface BotId {
  /** The namespace of the DiscordBot resource. */
  readonly namespace: string;
  /** The name of the DiscordBot resource. */
  readonly name: string;
}

/**
 * Splits a bot id into its namespace and name.
 *
 * @param bot - The bot id, `<namespace>.<name>`.
 * @returns The namespace and the name.
 * @throws RangeError if `bot` does not match {@link BOT_ID_PATTERN}.
 */
export function parseBotId(bot: string): BotId {
  const match = BOT_ID_PATTERN.exec(bot);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new RangeError(
      `invalid bot id ${JSON.stringify(bot)}: expected <namespace>.<name>, each a DNS-1123 label ` +
        '(lowercase letters, digits and "-", at most 63 characters)',
    );
  }
  return { namespace: match[1], name: match[2] };
}

/**
 * The Redis keys of one bot. All share the hash tag `{<bot>}`, so they live in one Redis
 * Cluster slot and multi-key commands on them work.
 */
export interface RedisKeys {
  /** `sf:{<bot>}:events`: the event stream, written by shards, read by bots (group `bot`). */
  readonly events: string;
  /** `sf:{<bot>}:dlq`: entries that bots failed to handle too many times. */
  readonly dlq: string;
  /** `sf:{<bot>}:meta`: hash `shard_count, max_concurrency, ...` used by bots for routing. */
  readonly meta: string;
  /** `sf:{<bot>}:commands:<shard>`: the gateway command stream a shard reads. */
  commands(shard: number): string;
  /** `sf:{<bot>}:session:<shard>`: hash `session_id, seq, resume_url, shard_count` for resuming. */
  session(shard: number): string;
  /** `sf:{<bot>}:identify:<bucket>`: the identify lock of a bucket (`shard % max_concurrency`). */
  identify(bucket: number): string;
  /** `sf:{<bot>}:lease:<shard>`: the owner lease that keeps one connection per shard id. */
  lease(shard: number): string;
  /** `sf:{<bot>}:shard:<shard>`: hash `status, latency_ms, last_event_at, guilds`. */
  shardStatus(shard: number): string;
}

function suffix(value: number, what: string): string {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new RangeError(`${what} must be a non-negative integer, got ${value}`);
  }
  return String(value);
}

/**
 * The Redis key names of a bot, as the architecture contract fixes them.
 *
 * @param bot - The bot id, `<namespace>.<name>`.
 * @returns The key names; the functions throw a RangeError for a negative or fractional number.
 * @throws RangeError if `bot` is not a valid bot id.
 */
export function redisKeys(bot: string): RedisKeys {
  parseBotId(bot);
  const prefix = `sf:{${bot}}:`;
  return Object.freeze({
    events: `${prefix}events`,
    dlq: `${prefix}dlq`,
    meta: `${prefix}meta`,
    commands: (shard: number) => `${prefix}commands:${suffix(shard, 'shard')}`,
    session: (shard: number) => `${prefix}session:${suffix(shard, 'shard')}`,
    identify: (bucket: number) => `${prefix}identify:${suffix(bucket, 'bucket')}`,
    lease: (shard: number) => `${prefix}lease:${suffix(shard, 'shard')}`,
    shardStatus: (shard: number) => `${prefix}shard:${suffix(shard, 'shard')}`,
  });
}
