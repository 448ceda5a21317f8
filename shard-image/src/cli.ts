import { loadConfigOrExit } from '@shardfleet/protocol';
import { pino } from 'pino';
import { shardWorkerEnvSchema } from './config.js';
import { ShardWorker } from './ShardWorker.js';

const PROGRAM = 'shardfleet-shard';
/** Kubernetes sends SIGKILL 30 s after SIGTERM by default; the worker is done well before. */
const HARD_EXIT_MS = 25_000;

/** The `shardfleet-shard` program: one shard worker, configured by its environment. */
export async function main(_args: readonly string[]): Promise<void> {
  const config = loadConfigOrExit(shardWorkerEnvSchema, PROGRAM);
  const logger = pino({
    name: PROGRAM,
    level: config.logLevel,
    base: { bot: config.shardfleetBot, worker: config.workerId },
    redact: { paths: ['token', '*.token', 'd.token', 'headers.authorization'], censor: '[redacted]' },
  });
  const worker = new ShardWorker(config, logger);
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown took too long: exiting');
      process.exit(1);
    }, HARD_EXIT_MS).unref();
    worker.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  try {
    await worker.start();
  } catch (error) {
    if (stopping) return;
    logger.fatal({ err: error }, 'shard worker failed to start');
    process.exit(1);
  }
}
