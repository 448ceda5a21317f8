// The e2e CLIs' shared start: parse the arguments (plus --help), print the usage for --help (exit 0)
// or a missing command (exit 2), and give the program its `name: `-prefixed stderr log and fail.
import { parseArgs } from 'node:util';

/**
 * Parses `process.argv` with `options` and positionals. A parse error exits 2 with the usage;
 * `--help` prints the usage and exits 0; without a positional, when `requireCommand`, the usage
 * and exit 2.
 */
export function commandLine({ name, usage, options, requireCommand = true }) {
  const log = (line) => console.error(`${name}: ${line}`);
  const fail = (message, exitCode = 1) => {
    console.error(`${name}: ${message}`);
    process.exit(exitCode);
  };
  let parsed;
  try {
    parsed = parseArgs({
      allowPositionals: true,
      options: { ...options, help: { type: 'boolean', short: 'h', default: false } },
    });
  } catch (error) {
    fail(`${error.message}\n\n${usage}`, 2);
  }
  const { values, positionals } = parsed;
  if (values.help || (requireCommand && positionals.length === 0)) {
    console.log(usage);
    process.exit(values.help ? 0 : 2);
  }
  return { values, positionals, log, fail };
}
