import { createWriteStream } from 'node:fs';
import path from 'node:path';
import { FetchGatewayClient, type GatewayInfo, InvalidTokenError } from '@shardfleet/operator';
import { type RunningSimulator, startSimulator } from '@shardfleet/simulator';
import { pino } from 'pino';
import type { DevOptions } from './options.js';
import { UsageError } from './options.js';

/** The simulator's fixed token: not a secret, the simulator accepts nothing else. */
const SIMULATOR_TOKEN = 'simulator-token';
/**
 * Two identify buckets, so the default 300 guilds plan into two shards (a sharded bot, one worker
 * each) that identify side by side.
 */
const SIMULATOR_MAX_CONCURRENCY = 2;
/** Fast enough for a quick start, still one identify per bucket at a time as on Discord. */
export const SIMULATOR_IDENTIFY_INTERVAL_MS = 1_000;
/** As long as the shard workers keep a session in Redis (15 min), so a later run can resume it. */
const SIMULATOR_SESSION_TTL_MS = 15 * 60_000;

/** The Discord the fleet talks to: the real one or the simulator. */
export interface DevDiscord {
  apiUrl: string;
  token: string;
  simulator: RunningSimulator | null;
}

/** Starts the simulator on its port with its sessions saved in the state directory. */
export async function startDevSimulator(options: DevOptions, logFile: string): Promise<RunningSimulator> {
  const stateFile = path.join(options.stateDir, 'simulator.json');
  try {
    return await startSimulator({
      port: options.simulatorPort,
      guilds: options.guilds,
      eventRate: options.eventRate,
      maxConcurrency: SIMULATOR_MAX_CONCURRENCY,
      identifyIntervalMs: SIMULATOR_IDENTIFY_INTERVAL_MS,
      sessionTtlMs: SIMULATOR_SESSION_TTL_MS,
      token: SIMULATOR_TOKEN,
      stateFile,
      logger: pino({ name: 'shardfleet-sim', level: 'info' }, createWriteStream(logFile, { flags: 'a' })),
    });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EADDRINUSE') {
      throw new UsageError(
        `simulator port ${options.simulatorPort} is in use (another shardfleet dev?): pass --simulator-port`,
      );
    }
    throw new UsageError(
      `cannot restore the simulator's sessions from ${stateFile} (${(error as Error).message}): delete it to start fresh`,
    );
  }
}

export function simulatorDiscord(simulator: RunningSimulator): DevDiscord {
  return { apiUrl: `${simulator.url}/api`, token: SIMULATOR_TOKEN, simulator };
}

/** `GET /gateway/bot` as the operator asks it; a refused token or no answer is a {@link UsageError}. */
export async function gatewayInfo(discord: DevDiscord): Promise<GatewayInfo> {
  try {
    return await new FetchGatewayClient().fetchGatewayBot(discord.apiUrl, discord.token);
  } catch (error) {
    if (error instanceof InvalidTokenError) {
      throw new UsageError(`Discord at ${discord.apiUrl} refused DISCORD_TOKEN (401): check the token`);
    }
    throw new UsageError((error as Error).message);
  }
}
