import { parseArgs } from 'node:util';
import { LOG_LEVELS, parseIntents } from '@shardfleet/protocol';
import { pino } from 'pino';
import { z } from 'zod';
import { describeIssues } from './control/validation.js';
import { DefaultSimulatorOptions, type SimulatorOptions } from './options.js';
import { startSimulator } from './server.js';

const USAGE = `Usage: shardfleet-sim [options]

A local Discord (gateway v10, REST under /api/v10, control API under /_sim) on one port.

  --host HOST                    listen address (default ${DefaultSimulatorOptions.host})
  --port P                       listen port, 0 for a free one (default ${DefaultSimulatorOptions.port})
  --public-url URL               URL clients reach this simulator at (default: the listen address)
  --guilds N                     guilds the bot is in (default ${DefaultSimulatorOptions.guilds})
  --seed S                       seed of the guild population and traffic (default ${DefaultSimulatorOptions.seed})
  --max-concurrency M            identify buckets (default ${DefaultSimulatorOptions.maxConcurrency})
  --session-limit T              identifies per 24 h (default ${DefaultSimulatorOptions.sessionLimit})
  --session-reset-after-ms MS    length of the identify budget period (default ${DefaultSimulatorOptions.sessionResetAfterMs})
  --token TOKEN                  the accepted bot token (default ${DefaultSimulatorOptions.token})
  --identify-interval-ms MS      one identify per bucket per interval (default ${DefaultSimulatorOptions.identifyIntervalMs})
  --heartbeat-interval-ms MS     heartbeat_interval sent in HELLO (default ${DefaultSimulatorOptions.heartbeatIntervalMs})
  --event-rate R                 generated MESSAGE_CREATE per second (default ${DefaultSimulatorOptions.eventRate})
  --replay-window N              dispatches kept per session for RESUME (default ${DefaultSimulatorOptions.replayWindow})
  --session-ttl-ms MS            how long a disconnected session stays resumable (default ${DefaultSimulatorOptions.sessionTtlMs})
  --privileged-intents LIST      approved privileged intents, e.g. GuildMembers,MessageContent, or none (default: all)
  --send-limit N                 client payloads per connection per 60 s (default ${DefaultSimulatorOptions.sendLimit})
  --global-rate-limit N          REST requests per second (default ${DefaultSimulatorOptions.globalRateLimit})
  --invalid-request-limit N      invalid REST requests per 10 min before a ban (default ${DefaultSimulatorOptions.invalidRequestLimit})
  --ledger-limit N               ledger entries kept (default ${DefaultSimulatorOptions.ledgerLimit})
  --state-file PATH              save resumable sessions and identify counters there on exit, restore them on start
  --log-level LEVEL              ${LOG_LEVELS.join(', ')} (default info)
  --help                         this text`;

const count = (min: number) => z.coerce.number().int().min(min);
const milliseconds = z.coerce.number().int().min(1);

const flagsSchema = z.object({
  host: z.string().min(1).optional(),
  port: count(0).max(65_535).optional(),
  'public-url': z.url({ protocol: /^https?$/, error: 'expected an http:// or https:// URL' }).optional(),
  guilds: count(0).max(10_000_000).optional(),
  seed: count(0).optional(),
  'max-concurrency': count(1).optional(),
  'session-limit': count(0).optional(),
  'session-reset-after-ms': milliseconds.optional(),
  token: z.string().min(1).optional(),
  'identify-interval-ms': count(0).optional(),
  'heartbeat-interval-ms': milliseconds.optional(),
  'event-rate': z.coerce.number().min(0).optional(),
  'replay-window': count(0).optional(),
  'session-ttl-ms': milliseconds.optional(),
  'privileged-intents': z
    .string()
    .transform((value, context) => {
      if (value === 'none') return 0;
      try {
        return parseIntents(value);
      } catch (error) {
        context.addIssue({ code: 'custom', message: (error as Error).message });
        return z.NEVER;
      }
    })
    .optional(),
  'send-limit': count(1).optional(),
  'global-rate-limit': count(1).optional(),
  'invalid-request-limit': count(1).optional(),
  'ledger-limit': count(1).optional(),
  'state-file': z.string().min(1).optional(),
  'log-level': z.enum(LOG_LEVELS).default('info'),
});

function parseFlags(argv: string[]): Partial<SimulatorOptions> | 'help' {
  const optionNames = Object.keys(flagsSchema.shape);
  const { values } = parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      ...Object.fromEntries(optionNames.map((name) => [name, { type: 'string' as const }])),
      help: { type: 'boolean' },
    },
  });
  if (values.help) return 'help';
  const result = flagsSchema.safeParse(values);
  if (!result.success)
    throw new Error(describeIssues(result.error).replaceAll(/(^|; )([a-z-]+):/g, '$1--$2:'));
  const flags = result.data;
  const options: Partial<SimulatorOptions> = {
    host: flags.host,
    port: flags.port,
    publicUrl: flags['public-url'],
    guilds: flags.guilds,
    seed: flags.seed,
    maxConcurrency: flags['max-concurrency'],
    sessionLimit: flags['session-limit'],
    sessionResetAfterMs: flags['session-reset-after-ms'],
    token: flags.token,
    identifyIntervalMs: flags['identify-interval-ms'],
    heartbeatIntervalMs: flags['heartbeat-interval-ms'],
    eventRate: flags['event-rate'],
    replayWindow: flags['replay-window'],
    sessionTtlMs: flags['session-ttl-ms'],
    privilegedIntents: flags['privileged-intents'],
    sendLimit: flags['send-limit'],
    globalRateLimit: flags['global-rate-limit'],
    invalidRequestLimit: flags['invalid-request-limit'],
    ledgerLimit: flags['ledger-limit'],
    stateFile: flags['state-file'],
    logger: pino({ name: 'shardfleet-sim', level: flags['log-level'] }),
  };
  return Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined));
}

export async function main(argv: string[]): Promise<void> {
  let options: Partial<SimulatorOptions> | 'help';
  try {
    options = parseFlags(argv);
  } catch (error) {
    console.error(`shardfleet-sim: ${(error as Error).message}\nRun shardfleet-sim --help for the options.`);
    process.exit(1);
  }
  if (options === 'help') {
    console.log(USAGE);
    return;
  }
  let simulator: Awaited<ReturnType<typeof startSimulator>>;
  try {
    simulator = await startSimulator(options);
  } catch (error) {
    const { host, port, stateFile } = { ...DefaultSimulatorOptions, ...options };
    if (stateFile && !(error as NodeJS.ErrnoException).code?.startsWith('EADDR')) {
      console.error(`shardfleet-sim: cannot restore --state-file ${stateFile}: ${(error as Error).message}`);
      process.exit(1);
    }
    console.error(`shardfleet-sim: cannot listen on ${host}:${port}: ${(error as Error).message}`);
    process.exit(1);
  }
  const { guilds, maxConcurrency } = simulator.discord.options;
  console.log(`listening on ${simulator.url}`);
  console.log(
    `gateway ${simulator.gatewayUrl} · ${guilds} guilds · ${simulator.discord.population.recommendedShards(maxConcurrency)} recommended shards · max_concurrency ${maxConcurrency} · token from --token (default simulator-token)`,
  );
  const stop = () => {
    void simulator.close().then(() => process.exit(0));
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}
