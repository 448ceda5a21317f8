export { buildApp, type RestProxyDependencies } from './app.js';
export { bearerTokenMatcher } from './auth/bearerTokenMatcher.js';
export { loadProxyConfig, PROGRAM_NAME, type ProxyConfig, proxyEnvSchema, redisKeyPrefix } from './config.js';
export { main, REDACTED_PATHS } from './cli.js';
export { ProxyMetrics, type RateLimitedScope } from './ProxyMetrics.js';
export {
  DefaultFailoverRateLimitStoreOptions,
  FailoverRateLimitStore,
  type FailoverRateLimitStoreOptions,
  type LimiterMode,
  type OptionalFailoverRateLimitStoreOptions,
  type RequiredFailoverRateLimitStoreOptions,
} from './ratelimit/FailoverRateLimitStore.js';
export { InvalidRequestLimitError } from './ratelimit/InvalidRequestLimitError.js';
export {
  DefaultLocalRateLimitStoreOptions,
  LocalRateLimitStore,
  type LocalRateLimitStoreOptions,
  type OptionalLocalRateLimitStoreOptions,
  type RequiredLocalRateLimitStoreOptions,
} from './ratelimit/LocalRateLimitStore.js';
export { ProxyRateLimitError, type ProxyRateLimitScope } from './ratelimit/ProxyRateLimitError.js';
export {
  type AbortWatcher,
  DefaultRateLimiterOptions,
  type OptionalRateLimiterOptions,
  RateLimiter,
  type RateLimiterOptions,
  type RequiredRateLimiterOptions,
} from './ratelimit/RateLimiter.js';
export type {
  DenialReason,
  RateLimitHeaders,
  RateLimitKey,
  RateLimitStore,
  Reservation,
  Ticket,
  UpstreamOutcome,
} from './ratelimit/RateLimitStore.js';
export { RedisRateLimitStore, type RedisRateLimitStoreOptions } from './ratelimit/RedisRateLimitStore.js';
export { type RouteData, RouteDataCache, routeData } from './routing/routeData.js';
export { parseRateLimitHeaders } from './upstream/rateLimitHeaders.js';
