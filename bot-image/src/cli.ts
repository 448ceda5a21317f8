import { createBot } from './Bot.js';
import { registerTestCommand } from './example/testCommandBot.js';

/** Kubernetes sends SIGKILL 30 s after SIGTERM by default; the bot is done before. */
const HARD_EXIT_MS = 25_000;

/** The `shardfleet-bot` program: the example bot, configured by its environment. */
export async function main(_args: readonly string[]): Promise<void> {
  const bot = createBot({ shutdownTimeoutMs: HARD_EXIT_MS - 3_000 });
  let stopping = false;
  const shutdown = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    bot.logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      bot.logger.error('shutdown took too long: exiting');
      process.exit(1);
    }, HARD_EXIT_MS).unref();
    bot.stop().then(
      () => process.exit(0),
      (error: unknown) => {
        bot.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
  try {
    const applicationId = await registerTestCommand(bot);
    bot.logger.info({ applicationId }, 'registered /test-command');
    await bot.start();
    bot.logger.info('ready');
  } catch (error) {
    if (stopping) return;
    bot.logger.fatal({ err: error }, 'bot failed to start');
    process.exit(1);
  }
}
