import { pino } from 'pino';
import { buildApp } from './app.js';
import { loadProxyConfig, PROGRAM_NAME } from './config.js';

/** Paths pino replaces with `[Redacted]`: the tokens and every authorization header. */
export const REDACTED_PATHS = [
  'discordToken',
  'proxyAuthToken',
  '*.discordToken',
  '*.proxyAuthToken',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  '*.headers.authorization',
];

/** Runs the proxy until SIGTERM or SIGINT, then finishes the requests in flight and exits. */
export async function main(_args: readonly string[]): Promise<void> {
  const config = loadProxyConfig();
  const logger = pino({ name: PROGRAM_NAME, level: config.logLevel, redact: REDACTED_PATHS });
  const app = await buildApp(config, { logger });
  const address = await app.listen({ host: '0.0.0.0', port: config.port });
  logger.info(
    {
      upstream: config.discordApiUrl,
      redis: config.redisUrl !== undefined,
      globalRateLimit: config.globalRateLimit,
    },
    `listening on ${address}`,
  );
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down: finishing requests in flight');
    app.close().then(
      () => {
        logger.info('stopped');
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}
