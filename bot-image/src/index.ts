export { Bot, type BotOptions, createBot, DefaultBotOptions, type OptionalBotOptions } from './Bot.js';
export { BotMetrics, type ConsumeResult, type GroupInfo } from './BotMetrics.js';
export {
  DefaultStreamConsumerOptions,
  type Delivery,
  type DeliveryHandler,
  type OptionalStreamConsumerOptions,
  type RequiredStreamConsumerOptions,
  StreamConsumer,
  type StreamConsumerOptions,
} from './consume/StreamConsumer.js';
export type { BotEventName, BotEvents, EventContext, EventHandler, EventMeta } from './events.js';
export {
  GatewayCommands,
  type GatewayCommandsOptions,
  GuildMembersRateLimitedError,
  type GuildMembersRequest,
  GuildMembersTimeoutError,
  ShardCountUnknownError,
  type VoiceStateRequest,
} from './gateway/GatewayCommands.js';
export { ProxyRest } from './ProxyRest.js';
export { AckOnlyGuard } from './replay/AckOnlyGuard.js';
export type { GuardedEntry, GuardVerdict, IReplayGuard } from './replay/IReplayGuard.js';
export {
  DefaultRedisReplayGuardOptions,
  type OptionalRedisReplayGuardOptions,
  RedisReplayGuard,
  type RedisReplayGuardOptions,
  type RequiredRedisReplayGuardOptions,
  SEEN_BUCKET_BITS,
} from './replay/RedisReplayGuard.js';
export { registerTestCommand, TEST_COMMAND } from './example/testCommandBot.js';
