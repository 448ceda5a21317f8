export { main } from './cli.js';
export type { CommandSender, GatewayCommand, ICommandConsumer } from './commands/ICommandConsumer.js';
export {
  DefaultRedisCommandConsumerOptions,
  type OptionalRedisCommandConsumerOptions,
  RedisCommandConsumer,
  type RedisCommandConsumerOptions,
  type RequiredRedisCommandConsumerOptions,
} from './commands/RedisCommandConsumer.js';
export {
  DEFAULT_EVENT_BUFFER_LIMIT,
  DEFAULT_IDENTIFY_RESERVE_PERCENT,
  DEFAULT_SHARD_STUCK_AFTER_MS,
  DEFAULT_STREAM_MAX_LENGTH,
  type ShardWorkerConfig,
  shardWorkerEnvSchema,
  shardWorkerTuningSchema,
} from './config.js';
export { type CloseAction, type CloseCodeHandling, closeCodeHandling } from './gateway/closeCodes.js';
export { LeasedShardingStrategy } from './gateway/LeasedShardingStrategy.js';
export { type BudgetRefusal, IdentifyBudget, type IdentifyBudgetOptions } from './identify/IdentifyBudget.js';
export {
  DefaultRedisIdentifyThrottlerOptions,
  defaultIdentifyMarginMs,
  type IdentifyThrottlerListener,
  type OptionalRedisIdentifyThrottlerOptions,
  RedisIdentifyThrottler,
  type RedisIdentifyThrottlerOptions,
  type RequiredRedisIdentifyThrottlerOptions,
} from './identify/RedisIdentifyThrottler.js';
export type { IShardLease, LeaseLostListener } from './lease/IShardLease.js';
export {
  DefaultRedisShardLeaseOptions,
  type OptionalRedisShardLeaseOptions,
  RedisShardLease,
  type RedisShardLeaseOptions,
  type RequiredRedisShardLeaseOptions,
} from './lease/RedisShardLease.js';
export type { ConfirmedSeqListener, IEventPublisher } from './publish/IEventPublisher.js';
export {
  DefaultRedisEventPublisherOptions,
  type OptionalRedisEventPublisherOptions,
  RedisEventPublisher,
  type RedisEventPublisherOptions,
  type RequiredRedisEventPublisherOptions,
} from './publish/RedisEventPublisher.js';
export type { ISessionStore } from './session/ISessionStore.js';
export {
  DefaultRedisSessionStoreOptions,
  type OptionalRedisSessionStoreOptions,
  RedisSessionStore,
  type RedisSessionStoreOptions,
  type RequiredRedisSessionStoreOptions,
} from './session/RedisSessionStore.js';
export {
  DiscordHttpError,
  GatewayInfoClient,
  type GatewayInfoClientOptions,
} from './rest/GatewayInfoClient.js';
export { ShardMetrics, ShardStatusValue } from './ShardMetrics.js';
export {
  DefaultShardWorkerOptions,
  type OptionalShardWorkerOptions,
  ShardWorker,
  TokenRejectedError,
} from './ShardWorker.js';
export {
  type ShardState,
  type ShardStatus,
  ShardStatusBoard,
  type ShardStatusBoardOptions,
} from './status/ShardStatusBoard.js';
