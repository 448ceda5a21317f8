import { DEV_USAGE, parseDevOptions, UsageError } from './options.js';

const USAGE = `Usage: shardfleet <command>

Commands:
  dev    run the whole fleet on this machine (shardfleet dev --help)`;

/** The `shardfleet` program. Bad flags, variables and start-up checks end with one line and exit 1. */
export async function main(argv: readonly string[]): Promise<void> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === 'help') {
    console.log(USAGE);
    return;
  }
  if (command !== 'dev') {
    console.error(`shardfleet: unknown command ${command}\n${USAGE}`);
    process.exit(1);
  }
  try {
    const options = parseDevOptions(rest, process.env, process.cwd());
    if (options === 'help') {
      console.log(DEV_USAGE);
      return;
    }
    // Loaded after the flags are checked: the fleet's modules take most of a second to load.
    const { runDev } = await import('./runDev.js');
    process.exit(await runDev(options));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`shardfleet dev: ${error.message}`);
    process.exit(1);
  }
}
