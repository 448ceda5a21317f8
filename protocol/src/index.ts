export {
  type BotConfig,
  botEnvSchema,
  ConfigError,
  type ConfigProblem,
  DEFAULT_DISCORD_API_URL,
  gatewayPresenceSchema,
  LOG_LEVELS,
  type LogLevel,
  loadConfigOrExit,
  parseEnv,
  type RestProxyConfig,
  restProxyEnvSchema,
  type RestProxyLimitsConfig,
  restProxyLimitsEnvSchema,
  type ShardConfig,
  shardEnvSchema,
} from './config.js';
export {
  type CommandEntry,
  type DecodeEventEntryOptions,
  DISPATCH_NAME_PATTERN,
  decodeCommandEntry,
  decodeEventEntry,
  EntryDecodeError,
  type EventEntry,
  type EventEntryMeta,
  encodeCommandEntry,
  encodeEventEntry,
  encodeEventEntryJson,
  GatewayCommandOp,
  idempotencyKey,
} from './entries.js';
export * from './fleetPlan.js';
export {
  HealthServer,
  type HealthServerOptions,
  type MetricsRegistry,
  type ProbeResult,
} from './HealthServer.js';
export { ALL_INTENTS, IntentsError, intentNames, PRIVILEGED_INTENTS, parseIntents } from './intents.js';
export { BOT_ID_PATTERN, type BotId, parseBotId, type RedisKeys, redisKeys } from './keys.js';
export {
  DISCORD_EPOCH,
  identifyBucket,
  shardForGuild,
  shardsForWorker,
  snowflakeFromTimestamp,
  snowflakeTimestamp,
  workerCount,
  workerIdFromPodName,
} from './shard-math.js';
export { freePort } from './freePort.js';
export { metricValue } from './metricValue.js';
