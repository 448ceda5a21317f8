import { createHash } from 'node:crypto';
import { loadConfigOrExit, restProxyEnvSchema, restProxyLimitsEnvSchema } from '@shardfleet/protocol';
import { z } from 'zod';

/**
 * The proxy's whole environment: the contract's variables (`DISCORD_TOKEN`, `DISCORD_API_URL`,
 * `PROXY_AUTH_TOKEN`, `REDIS_URL`, `PORT`, `LOG_LEVEL`) and its tuning (`GLOBAL_RATE_LIMIT`,
 * `INVALID_REQUEST_LIMIT`, `UPSTREAM_TIMEOUT_MS`, `QUEUE_TIMEOUT_MS`, `QUEUE_LIMIT`,
 * `SHARDFLEET_BOT`).
 */
export const proxyEnvSchema = z.intersection(restProxyEnvSchema, restProxyLimitsEnvSchema);

/** The proxy's typed configuration. */
export type ProxyConfig = z.output<typeof proxyEnvSchema>;

/** The program's name in messages. */
export const PROGRAM_NAME = 'shardfleet-rest-proxy';

/** Parses the environment once, or exits 1 naming each bad variable. */
export function loadProxyConfig(
  env: Readonly<Record<string, string | undefined>> = process.env,
): ProxyConfig {
  return loadConfigOrExit(proxyEnvSchema, PROGRAM_NAME, env);
}

/**
 * The Redis key prefix of the bot's rate-limit state: `sf:{<bot>}:rest:` with `SHARDFLEET_BOT`,
 * else named after a fingerprint of the token, so two bots on one Redis never share limits.
 */
export function redisKeyPrefix(config: Pick<ProxyConfig, 'shardfleetBot' | 'discordToken'>): string {
  const bot =
    config.shardfleetBot ??
    `token-${createHash('sha256').update(config.discordToken).digest('hex').slice(0, 16)}`;
  return `sf:{${bot}}:rest:`;
}
