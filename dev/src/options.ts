import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { BOT_ID_PATTERN, DEFAULT_DISCORD_API_URL, parseIntents } from '@shardfleet/protocol';
import { z } from 'zod';

/** A bad flag or variable: the message is the one line `shardfleet dev` ends with. */
export class UsageError extends Error {
  public override readonly name = 'UsageError';
}

export const DEV_USAGE = `Usage: shardfleet dev [options] [bot-entry-file]

Runs the whole fleet on this machine: Redis, Discord (or its simulator), one shard worker process
per worker, the REST proxy and the bot (the example bot, or bot-entry-file: a module using
createBot() from @shardfleet/bot). Ctrl-C stops everything; the next run resumes the sessions.

  --shards auto|N              shard count: auto sizes from GET /gateway/bot as the operator does (default auto)
  --shards-per-worker N        shards each worker process runs (default 1)
  --guilds-per-shard N         target guilds per shard with --shards auto, 100-2500 (default 1000)
  --intents LIST               gateway intents, names or a number (default Guilds,GuildMessages,MessageContent)
  --bot ID                     bot id <namespace>.<name>, names the Redis keys (default local.dev)
  --state-dir DIR              where Redis data, simulator sessions and logs are kept (default .shardfleet/dev)
  --guilds N                   simulator: guilds the bot is in (default 300)
  --event-rate R               simulator: generated messages per second (default 2)
  --simulator-port P           simulator: port, kept across runs so sessions resume (default 8787)
  --help                       this text

Environment: DISCORD_TOKEN (the real Discord; without it the simulator runs), DISCORD_API_URL
(default ${DEFAULT_DISCORD_API_URL}), REDIS_URL (without it redis-server starts from PATH).`;

export interface DevOptions {
  shards: 'auto' | number;
  shardsPerWorker: number;
  guildsPerShard: number;
  intents: number;
  bot: string;
  stateDir: string;
  guilds: number;
  eventRate: number;
  simulatorPort: number;
  /** The user's bot module, absolute; null runs the example bot. */
  botEntry: string | null;
  /** Null runs the simulator. */
  discordToken: string | null;
  discordApiUrl: string;
  /** Null starts redis-server. */
  redisUrl: string | null;
}

const positiveInteger = z.coerce.number().int().min(1);

const flagsSchema = z.object({
  shards: z
    .union([z.literal('auto'), positiveInteger], { error: "expected 'auto' or a positive integer" })
    .default('auto'),
  'shards-per-worker': positiveInteger.default(1),
  'guilds-per-shard': z.coerce.number().int().min(100).max(2_500).default(1_000),
  intents: z
    .string()
    .default('Guilds,GuildMessages,MessageContent')
    .transform((value, context) => {
      try {
        return parseIntents(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    }),
  bot: z.string().regex(BOT_ID_PATTERN, 'expected <namespace>.<name>, e.g. local.dev').default('local.dev'),
  'state-dir': z.string().min(1).default('.shardfleet/dev'),
  guilds: z.coerce.number().int().min(1).max(1_000_000).default(300),
  'event-rate': z.coerce.number().min(0).max(10_000).default(2),
  'simulator-port': z.coerce.number().int().min(1).max(65_535).default(8787),
});

const envSchema = z.object({
  DISCORD_TOKEN: z.string().trim().min(1).optional(),
  DISCORD_API_URL: z
    .url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' })
    .default(DEFAULT_DISCORD_API_URL),
  REDIS_URL: z.url({ protocol: /^rediss?$/, error: 'expected a redis:// or rediss:// URL' }).optional(),
});

function firstIssue(error: z.ZodError, prefix: string): string {
  const issue = error.issues[0];
  return issue ? `${prefix}${issue.path.join('.')}: ${issue.message}` : error.message;
}

/** Names the offending option of a `parseArgs` error in one line. */
function describeArgsError(error: Error & { code?: string }): string {
  const option = /'(-[^']*)'/.exec(error.message)?.[1];
  if (error.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' && option) return `unknown option ${option}`;
  if (error.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && option) return `${option} needs a value`;
  return error.message;
}

/**
 * Reads `shardfleet dev`'s flags (after the subcommand) and environment.
 *
 * @returns The options, or `'help'`.
 * @throws {@link UsageError} naming the first bad flag or variable; never containing the token.
 */
export function parseDevOptions(
  argv: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  cwd: string,
): DevOptions | 'help' {
  let parsed: ReturnType<typeof parseArgs>;
  try {
    parsed = parseArgs({
      args: [...argv],
      strict: true,
      allowPositionals: true,
      options: {
        ...Object.fromEntries(
          Object.keys(flagsSchema.shape).map((name) => [name, { type: 'string' as const }]),
        ),
        help: { type: 'boolean' },
      },
    });
  } catch (error) {
    throw new UsageError(describeArgsError(error as Error));
  }
  if (parsed.values.help) return 'help';
  if (parsed.positionals.length > 1) {
    throw new UsageError(`one bot entry file at most, got ${parsed.positionals.join(' ')}`);
  }
  const flags = flagsSchema.safeParse(parsed.values);
  if (!flags.success) throw new UsageError(firstIssue(flags.error, '--'));
  // Blank variables count as unset, as in the programs' own schemas.
  const present = Object.fromEntries(Object.entries(env).filter(([, value]) => value?.trim()));
  const variables = envSchema.safeParse(present);
  if (!variables.success) throw new UsageError(firstIssue(variables.error, ''));
  const [entry] = parsed.positionals;
  const botEntry = entry === undefined ? null : path.resolve(cwd, entry);
  if (botEntry !== null && !existsSync(botEntry)) throw new UsageError(`bot entry file ${entry} not found`);
  const { data } = flags;
  return {
    shards: data.shards,
    shardsPerWorker: data['shards-per-worker'],
    guildsPerShard: data['guilds-per-shard'],
    intents: data.intents,
    bot: data.bot,
    stateDir: path.resolve(cwd, data['state-dir']),
    guilds: data.guilds,
    eventRate: data['event-rate'],
    simulatorPort: data['simulator-port'],
    botEntry,
    discordToken: variables.data.DISCORD_TOKEN ?? null,
    discordApiUrl: variables.data.DISCORD_API_URL.replace(/\/$/, ''),
    redisUrl: variables.data.REDIS_URL ?? null,
  };
}
