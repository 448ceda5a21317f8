import { hostname } from 'node:os';
import {
  ActivityType,
  GatewayIntentBits,
  type GatewayPresenceUpdateData,
  PresenceUpdateStatus,
} from 'discord-api-types/v10';
import { z } from 'zod';
import { DISPATCH_NAME_PATTERN } from './entries.js';
import { parseIntents } from './intents.js';
import { BOT_ID_PATTERN } from './keys.js';
import { shardsForWorker, workerCount, workerIdFromPodName } from './shard-math.js';

/**
 * The default Discord API base URL, without the version.
 *
 * @defaultValue `'https://discord.com/api'`
 */
export const DEFAULT_DISCORD_API_URL = 'https://discord.com/api';

/** The pino log levels a program accepts in `LOG_LEVEL`. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** One of {@link LOG_LEVELS}. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Variables whose values never appear in an error message, even when misplaced in another variable. */
const SECRET_VARIABLES = ['DISCORD_TOKEN', 'PROXY_AUTH_TOKEN', 'REST_PROXY_TOKEN'] as const;
// Shorter values cannot be hidden without mangling the messages, and are no secret anyway.
const MIN_SCRUBBED_LENGTH = 4;

const DEFAULT_INTENTS = GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages;
const DEFAULT_PORT = 8080;
const DEFAULT_IDENTIFY_INTERVAL_MS = 5_000;
const DEFAULT_LOG_LEVEL: LogLevel = 'info';
const DEFAULT_CONSUMER_GROUP = 'bot';
const DECIMAL_PATTERN = /^\d+$/;
const LIST_SEPARATOR = /[\s,]+/;

function show(value: unknown): string {
  return JSON.stringify(String(value));
}

// Kubernetes sets an optional variable to '' as readily as it leaves it out.
function blankToUndefined(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

function withDefault<T extends z.ZodType>(schema: T, value: z.output<T>) {
  return z.preprocess(blankToUndefined, schema.default(value as never));
}

function optional<T extends z.ZodType>(schema: T) {
  return z.preprocess(blankToUndefined, schema.optional());
}

function text() {
  return z.preprocess(
    blankToUndefined,
    z.string({ error: (issue) => (issue.input === undefined ? 'required' : 'expected a string') }).trim(),
  );
}

function secret(minLength = 1) {
  return text().refine((value) => value.length >= minLength, {
    error: (issue) => `expected at least ${minLength} characters, got ${String(issue.input).length}`,
  });
}

function integer(min: number, max: number, description: string) {
  return text()
    .refine(
      (value) => {
        const parsed = DECIMAL_PATTERN.test(value) ? Number(value) : Number.NaN;
        return Number.isSafeInteger(parsed) && parsed >= min && parsed <= max;
      },
      { error: (issue) => `expected ${description}, got ${show(issue.input)}` },
    )
    .transform(Number);
}

function httpUrl() {
  return text()
    .refine((value) => URL.canParse(value) && /^https?:$/.test(new URL(value).protocol), {
      error: (issue) => `expected an http:// or https:// URL, got ${show(issue.input)}`,
    })
    .transform((value) => value.replace(/\/+$/, ''));
}

// The value is not shown: a Redis URL may carry a password.
function redisUrl() {
  return text().refine((value) => URL.canParse(value) && /^rediss?:$/.test(new URL(value).protocol), {
    error: 'expected a redis:// or rediss:// URL',
  });
}

function botId() {
  return text().refine((value) => BOT_ID_PATTERN.test(value), {
    error: (issue) =>
      `expected <namespace>.<name>, each a DNS-1123 label (lowercase letters, digits and "-"), got ${show(issue.input)}`,
  });
}

function intents() {
  return text().transform((value, ctx) => {
    try {
      return parseIntents(value);
    } catch (error) {
      ctx.addIssue((error as Error).message);
      return z.NEVER;
    }
  });
}

function events() {
  return text().transform((value, ctx) => {
    const names = [...new Set(value.split(LIST_SEPARATOR).filter((name) => name !== ''))];
    const invalid = names.filter((name) => !DISPATCH_NAME_PATTERN.test(name));
    if (invalid.length > 0) {
      ctx.addIssue(
        `expected UPPER_SNAKE event names such as MESSAGE_CREATE, got ${invalid.map(show).join(', ')}`,
      );
      return z.NEVER;
    }
    return names;
  });
}

function logLevel() {
  return text()
    .transform((value) => value.toLowerCase())
    .pipe(
      z.enum(LOG_LEVELS, {
        error: (issue) => `expected one of ${LOG_LEVELS.join(', ')}, got ${show(issue.input)}`,
      }),
    );
}

/**
 * A gateway presence, as sent in IDENTIFY and op 3: `{status, activities, since?, afk?}`.
 * Unknown keys are rejected so a typo fails at start-up instead of being ignored.
 *
 * @defaultValue `since`: `null`, `afk`: `false`
 */
export const gatewayPresenceSchema: z.ZodType<GatewayPresenceUpdateData> = z.strictObject({
  status: z.enum(PresenceUpdateStatus),
  activities: z.array(
    z.strictObject({
      name: z.string().min(1).max(128),
      type: z.enum(ActivityType),
      state: z.string().max(128).nullable().optional(),
      url: z
        .url({ protocol: /^https?$/ })
        .nullable()
        .optional(),
    }),
  ),
  since: z.number().int().nonnegative().nullable().default(null),
  afk: z.boolean().default(false),
});

function presence() {
  return text()
    .transform((value, ctx) => {
      try {
        return JSON.parse(value) as unknown;
      } catch {
        ctx.addIssue('expected a JSON presence object');
        return z.NEVER;
      }
    })
    .pipe(gatewayPresenceSchema);
}

function hasIssueAt(payload: z.core.ParsePayload, variables: readonly string[]): boolean {
  return payload.issues.some((issue) => variables.includes(String(issue.path?.[0])));
}

/**
 * The environment of a shard worker (`shardfleet-shard`), parsed into a {@link ShardConfig}.
 *
 * Variables: `SHARDFLEET_BOT`, `DISCORD_TOKEN`, `DISCORD_API_URL`, `SHARD_COUNT`,
 * `SHARDS_PER_POD`, `POD_NAME` or `WORKER_ID` (which wins), `INTENTS`, `EVENTS`, `PRESENCE`,
 * `REDIS_URL`, `PORT`, `IDENTIFY_INTERVAL_MS`, `LOG_LEVEL`. A blank variable counts as unset.
 *
 * @defaultValue `DISCORD_API_URL`: `https://discord.com/api`; `INTENTS`: `Guilds,GuildMessages`;
 * `EVENTS`: all; `PORT`: `8080`; `IDENTIFY_INTERVAL_MS`: `5000`; `LOG_LEVEL`: `info`
 */
export const shardEnvSchema = z
  .object({
    SHARDFLEET_BOT: botId(),
    DISCORD_TOKEN: secret(),
    DISCORD_API_URL: withDefault(httpUrl(), DEFAULT_DISCORD_API_URL),
    SHARD_COUNT: integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer'),
    SHARDS_PER_POD: integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer'),
    POD_NAME: optional(text()),
    WORKER_ID: optional(integer(0, Number.MAX_SAFE_INTEGER, 'a non-negative integer')),
    INTENTS: withDefault(intents(), DEFAULT_INTENTS),
    EVENTS: withDefault(events(), []),
    PRESENCE: optional(presence()),
    REDIS_URL: redisUrl(),
    PORT: withDefault(integer(1, 65_535, 'a port number 1-65535'), DEFAULT_PORT),
    // At least 1: the identify lock is a PX key, and Redis rejects PX 0.
    IDENTIFY_INTERVAL_MS: withDefault(
      integer(1, Number.MAX_SAFE_INTEGER, 'a positive integer'),
      DEFAULT_IDENTIFY_INTERVAL_MS,
    ),
    LOG_LEVEL: withDefault(logLevel(), DEFAULT_LOG_LEVEL),
  })
  .superRefine(
    (env, ctx) => {
      if (env.WORKER_ID !== undefined) return;
      if (env.POD_NAME === undefined) {
        ctx.addIssue({ code: 'custom', path: ['POD_NAME'], message: 'required unless WORKER_ID is set' });
        return;
      }
      try {
        workerIdFromPodName(env.POD_NAME);
      } catch (error) {
        ctx.addIssue({ code: 'custom', path: ['POD_NAME'], message: (error as Error).message });
      }
    },
    { when: (payload) => !hasIssueAt(payload, ['POD_NAME', 'WORKER_ID']) },
  )
  .transform((env, ctx) => {
    const workerIdVariable = env.WORKER_ID === undefined ? 'POD_NAME' : 'WORKER_ID';
    const workerId = env.WORKER_ID ?? workerIdFromPodName(env.POD_NAME ?? '');
    const workers = workerCount(env.SHARD_COUNT, env.SHARDS_PER_POD);
    if (workerId >= workers) {
      ctx.addIssue({
        code: 'custom',
        path: [workerIdVariable],
        message:
          `worker ${workerId} owns no shard: SHARD_COUNT ${env.SHARD_COUNT} with SHARDS_PER_POD ` +
          `${env.SHARDS_PER_POD} needs workers 0-${workers - 1}`,
      });
      return z.NEVER;
    }
    return {
      shardfleetBot: env.SHARDFLEET_BOT,
      discordToken: env.DISCORD_TOKEN,
      discordApiUrl: env.DISCORD_API_URL,
      shardCount: env.SHARD_COUNT,
      shardsPerPod: env.SHARDS_PER_POD,
      podName: env.POD_NAME,
      workerId,
      shardIds: shardsForWorker(workerId, env.SHARDS_PER_POD, env.SHARD_COUNT),
      intents: env.INTENTS,
      events: env.EVENTS,
      presence: env.PRESENCE,
      redisUrl: env.REDIS_URL,
      port: env.PORT,
      identifyIntervalMs: env.IDENTIFY_INTERVAL_MS,
      logLevel: env.LOG_LEVEL,
    };
  });

/** The typed configuration of a shard worker, from {@link shardEnvSchema}. */
export type ShardConfig = z.output<typeof shardEnvSchema>;

/**
 * The environment of the bot runtime (`shardfleet-bot`), parsed into a {@link BotConfig}.
 *
 * Variables: `SHARDFLEET_BOT`, `REDIS_URL`, `REST_PROXY_URL`, `REST_PROXY_TOKEN`,
 * `CONSUMER_GROUP`, `CONSUMER_NAME`, `POD_NAME` (only as the consumer name's default), `PORT`,
 * `LOG_LEVEL`. A blank variable counts as unset.
 *
 * @defaultValue `CONSUMER_GROUP`: `bot`; `CONSUMER_NAME`: `POD_NAME`, else the host name;
 * `PORT`: `8080`; `LOG_LEVEL`: `info`
 */
export const botEnvSchema = z
  .object({
    SHARDFLEET_BOT: botId(),
    REDIS_URL: redisUrl(),
    REST_PROXY_URL: httpUrl(),
    REST_PROXY_TOKEN: secret(),
    CONSUMER_GROUP: withDefault(text(), DEFAULT_CONSUMER_GROUP),
    CONSUMER_NAME: optional(text()),
    POD_NAME: optional(text()),
    PORT: withDefault(integer(1, 65_535, 'a port number 1-65535'), DEFAULT_PORT),
    LOG_LEVEL: withDefault(logLevel(), DEFAULT_LOG_LEVEL),
  })
  .transform((env) => ({
    shardfleetBot: env.SHARDFLEET_BOT,
    redisUrl: env.REDIS_URL,
    restProxyUrl: env.REST_PROXY_URL,
    restProxyToken: env.REST_PROXY_TOKEN,
    consumerGroup: env.CONSUMER_GROUP,
    consumerName: env.CONSUMER_NAME ?? env.POD_NAME ?? hostname(),
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
  }));

/** The typed configuration of the bot runtime, from {@link botEnvSchema}. */
export type BotConfig = z.output<typeof botEnvSchema>;

/**
 * The environment of the REST proxy (`shardfleet-rest-proxy`), parsed into a {@link RestProxyConfig}.
 *
 * Variables: `DISCORD_TOKEN`, `DISCORD_API_URL`, `PROXY_AUTH_TOKEN` (at least 16 characters),
 * `REDIS_URL` (optional: shared limits across replicas), `PORT`, `LOG_LEVEL`. A blank variable
 * counts as unset.
 *
 * @defaultValue `DISCORD_API_URL`: `https://discord.com/api`; `PORT`: `8080`; `LOG_LEVEL`: `info`
 */
export const restProxyEnvSchema = z
  .object({
    DISCORD_TOKEN: secret(),
    DISCORD_API_URL: withDefault(httpUrl(), DEFAULT_DISCORD_API_URL),
    PROXY_AUTH_TOKEN: secret(16),
    REDIS_URL: optional(redisUrl()),
    PORT: withDefault(integer(1, 65_535, 'a port number 1-65535'), DEFAULT_PORT),
    LOG_LEVEL: withDefault(logLevel(), DEFAULT_LOG_LEVEL),
  })
  .transform((env) => ({
    discordToken: env.DISCORD_TOKEN,
    discordApiUrl: env.DISCORD_API_URL,
    proxyAuthToken: env.PROXY_AUTH_TOKEN,
    redisUrl: env.REDIS_URL,
    port: env.PORT,
    logLevel: env.LOG_LEVEL,
  }));

/** The typed configuration of the REST proxy, from {@link restProxyEnvSchema}. */
export type RestProxyConfig = z.output<typeof restProxyEnvSchema>;

/**
 * The REST proxy's optional tuning variables, parsed into {@link RestProxyLimitsConfig}; the
 * proxy parses them together with {@link restProxyEnvSchema}. A blank variable counts as unset.
 *
 * Variables: `GLOBAL_RATE_LIMIT` (requests per second for the whole bot),
 * `INVALID_REQUEST_LIMIT` (401/403/429 per 10 minutes before the proxy stops forwarding),
 * `UPSTREAM_TIMEOUT_MS`, `QUEUE_TIMEOUT_MS` (longest wait for a rate-limit slot), `QUEUE_LIMIT`
 * (requests waiting per bucket), `SHARDFLEET_BOT` (names the Redis keys; without it they are
 * named after a fingerprint of the token).
 *
 * @defaultValue `GLOBAL_RATE_LIMIT`: `50`; `INVALID_REQUEST_LIMIT`: `8000`;
 * `UPSTREAM_TIMEOUT_MS`: `15000`; `QUEUE_TIMEOUT_MS`: `10000`; `QUEUE_LIMIT`: `1000`
 */
export const restProxyLimitsEnvSchema = z
  .object({
    GLOBAL_RATE_LIMIT: withDefault(integer(1, 1_000_000_000, 'a positive integer'), 50),
    INVALID_REQUEST_LIMIT: withDefault(integer(1, 1_000_000_000, 'a positive integer'), 8_000),
    UPSTREAM_TIMEOUT_MS: withDefault(integer(1, 3_600_000, 'milliseconds 1-3600000'), 15_000),
    QUEUE_TIMEOUT_MS: withDefault(integer(0, 3_600_000, 'milliseconds 0-3600000'), 10_000),
    QUEUE_LIMIT: withDefault(integer(0, 1_000_000, 'an integer 0-1000000'), 1_000),
    SHARDFLEET_BOT: optional(botId()),
  })
  .transform((env) => ({
    globalRateLimit: env.GLOBAL_RATE_LIMIT,
    invalidRequestLimit: env.INVALID_REQUEST_LIMIT,
    upstreamTimeoutMs: env.UPSTREAM_TIMEOUT_MS,
    queueTimeoutMs: env.QUEUE_TIMEOUT_MS,
    queueLimit: env.QUEUE_LIMIT,
    shardfleetBot: env.SHARDFLEET_BOT,
  }));

/** The typed tuning of the REST proxy, from {@link restProxyLimitsEnvSchema}. */
export type RestProxyLimitsConfig = z.output<typeof restProxyLimitsEnvSchema>;

/** One bad environment variable. */
export interface ConfigProblem {
  /** The variable's name, such as `SHARD_COUNT`. */
  readonly variable: string;
  /** What is wrong with it; never contains a secret's value. */
  readonly message: string;
}

/**
 * Thrown by {@link parseEnv}: one problem per bad variable; the message has one
 * `VARIABLE: problem` line each.
 */
export class ConfigError extends Error {
  /** The bad variables, each once. */
  public readonly problems: readonly ConfigProblem[];

  public constructor(problems: readonly ConfigProblem[]) {
    super(problems.map((problem) => `${problem.variable}: ${problem.message}`).join('\n'));
    this.name = 'ConfigError';
    this.problems = problems;
  }
}

function formatPath(path: readonly PropertyKey[]): string {
  return path
    .map((key) => (typeof key === 'number' ? `[${key}]` : `.${String(key)}`))
    .join('')
    .replace(/^\./, '');
}

function scrubSecrets(message: string, env: Readonly<Record<string, string | undefined>>): string {
  let scrubbed = message;
  for (const variable of SECRET_VARIABLES) {
    const value = env[variable]?.trim();
    if (value === undefined || value.length < MIN_SCRUBBED_LENGTH) continue;
    // Also the JSON-escaped form, as values are shown quoted.
    for (const form of [value, JSON.stringify(value).slice(1, -1)]) {
      scrubbed = scrubbed.replaceAll(form, `<${variable}>`);
    }
  }
  return scrubbed;
}

/**
 * Parses a program's environment with one of the env schemas.
 *
 * @param schema - {@link shardEnvSchema}, {@link botEnvSchema} or {@link restProxyEnvSchema}.
 * @param env - The environment.
 * @defaultValue `env`: `process.env`
 * @returns The typed configuration.
 * @throws {@link ConfigError} listing every bad variable.
 */
export function parseEnv<S extends z.ZodType>(
  schema: S,
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.output<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const messages = new Map<string, string[]>();
  for (const issue of result.error.issues) {
    const [variable, ...rest] = issue.path;
    const name = typeof variable === 'string' ? variable : '(environment)';
    const detail = formatPath(rest);
    const message = scrubSecrets(detail === '' ? issue.message : `${detail}: ${issue.message}`, env);
    const list = messages.get(name);
    if (list === undefined) messages.set(name, [message]);
    else list.push(message);
  }
  throw new ConfigError([...messages].map(([variable, list]) => ({ variable, message: list.join('; ') })));
}

/**
 * Parses a program's environment, or ends the program: on bad variables it writes
 * `<program>: invalid environment` and one line per problem to stderr and exits with code 1.
 * Call it once, first thing in `main`.
 *
 * @param schema - The program's env schema.
 * @param programName - The program's name for the message, such as `shardfleet-shard`.
 * @param env - The environment.
 * @defaultValue `env`: `process.env`
 * @returns The typed configuration.
 */
export function loadConfigOrExit<S extends z.ZodType>(
  schema: S,
  programName: string,
  env: Readonly<Record<string, string | undefined>> = process.env,
): z.output<S> {
  try {
    return parseEnv(schema, env);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    process.stderr.write(`${programName}: invalid environment\n${error.message}\n`);
    process.exit(1);
  }
}
