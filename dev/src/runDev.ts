import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, planFleet, shardsForWorker } from '@shardfleet/protocol';
import type { Redis } from 'ioredis';
import {
  type DevDiscord,
  gatewayInfo,
  SIMULATOR_IDENTIFY_INTERVAL_MS,
  simulatorDiscord,
  startDevSimulator,
} from './discord.js';
import { FleetMonitor, type FleetSnapshot } from './FleetMonitor.js';
import { FleetView } from './FleetView.js';
import { forgetChildren, recordChildren, stopLeftovers } from './leftovers.js';
import type { DevOptions } from './options.js';
import { checkRedis, localRedis, monitorClient, redactRedisUrl, waitForRedis } from './redis.js';
import { SupervisedProgram } from './SupervisedProgram.js';

/** How long each program may take to stop before SIGKILL; the shard worker's own hard exit is 25 s. */
const STOP_GRACE_MS = 30_000;
/** Signals this soon after the first are copies of it, not a second Ctrl-C. */
const DOUBLE_SIGNAL_WINDOW_MS = 1_000;
const STOP_SIGNALS: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** A program's bin beside the `dist/` its package resolves to. */
function programBin(packageName: string, bin: string): string {
  return fileURLToPath(new URL(`../bin/${bin}`, import.meta.resolve(packageName)));
}

function simulatorBanner(discord: DevDiscord, options: DevOptions): string {
  const url = discord.simulator?.url ?? '';
  return [
    '======================================================================',
    ' DISCORD SIMULATOR: DISCORD_TOKEN is not set, so nothing here reaches',
    ' the real Discord. Set DISCORD_TOKEN to run against Discord itself.',
    `   simulator   ${url}   (control API: ${url}/_sim/stats, /_sim/guilds ...)`,
    `   world       ${options.guilds} guilds, ${options.eventRate} generated messages/s`,
    `   try         curl -s ${url}/_sim/guilds?limit=1  then  curl -s ${url}/_sim/guilds/<id>`,
    `               curl -s -XPOST ${url}/_sim/messages -H 'content-type: application/json' \\`,
    `                 -d '{"channel_id":"<channel id>","content":"!test-command"}'`,
    '======================================================================',
  ].join('\n');
}

/** What {@link runDev} starts; stopped in reverse dependency order. */
interface Started {
  redisProgram: SupervisedProgram | null;
  simulator: DevDiscord['simulator'];
  fleet: SupervisedProgram[];
  proxy: SupervisedProgram | null;
  monitorRedis: Redis | null;
}

/**
 * `shardfleet dev`: the fleet as local processes. Resolves with the exit code once a signal stopped
 * everything (or a start-up check failed: the caller prints the error's one line).
 */
export async function runDev(options: DevOptions, out: NodeJS.WriteStream = process.stdout): Promise<number> {
  const view = new FleetView(out, out.isTTY === true);
  const logDir = path.join(options.stateDir, 'logs');
  mkdirSync(logDir, { recursive: true });
  const logFile = (name: string) => {
    const file = path.join(logDir, `${name}.log`);
    writeFileSync(file, '');
    return file;
  };
  const started: Started = {
    redisProgram: null,
    simulator: null,
    fleet: [],
    proxy: null,
    monitorRedis: null,
  };
  const report = (line: string) => view.event(line);
  // Listened to from the start: a Ctrl-C during start-up must still stop what was started.
  // SIGHUP too: a closed terminal must not leave the children (in their own process groups) running.
  const stopSignal = new Promise<NodeJS.Signals>((resolve) => {
    for (const signal of STOP_SIGNALS) process.once(signal, () => resolve(signal));
  });
  // Writes to a terminal that went away fail; the fleet still stops cleanly.
  out.on('error', () => undefined);

  const stopAll = async () => {
    // Bot and shard workers first: the workers store their sessions in Redis as they stop.
    await Promise.all(started.fleet.map((program) => program.stop(STOP_GRACE_MS)));
    await started.proxy?.stop(STOP_GRACE_MS);
    started.monitorRedis?.disconnect();
    // A state file that cannot be written costs the next run its resumes, not this run its clean stop.
    await started.simulator?.close().catch((error: unknown) => {
      report(`the simulator could not save its sessions: ${(error as Error).message}`);
    });
    // SIGTERM makes redis-server write its snapshot before it exits.
    await started.redisProgram?.stop(STOP_GRACE_MS);
    forgetChildren(options.stateDir);
  };

  const leftovers = await stopLeftovers(options.stateDir);
  if (leftovers > 0) view.print(`stopped ${leftovers} processes an earlier run left behind`);

  try {
    if (options.redisUrl) await checkRedis(options.redisUrl, 3_000);
    let discord: DevDiscord;
    if (options.discordToken) {
      discord = { apiUrl: options.discordApiUrl, token: options.discordToken, simulator: null };
    } else {
      started.simulator = await startDevSimulator(options, logFile('simulator'));
      discord = simulatorDiscord(started.simulator);
    }
    const gateway = await gatewayInfo(discord);
    const plan = planFleet(
      {
        shards: options.shards,
        shardsPerPod: options.shardsPerWorker,
        guildsPerShard: options.guildsPerShard,
      },
      gateway,
    );

    let redisUrl = options.redisUrl;
    if (!redisUrl) {
      const port = await freePort();
      started.redisProgram = localRedis(path.join(options.stateDir, 'redis'), port, logFile('redis'), report);
      started.redisProgram.start();
      redisUrl = `redis://127.0.0.1:${port}`;
      await waitForRedis(redisUrl, 10_000);
    }

    if (discord.simulator) view.print(simulatorBanner(discord, options));
    else view.print(`Discord: ${discord.apiUrl} (the real one, token from DISCORD_TOKEN)`);
    view.print(
      `bot ${options.bot} · ${plan.shards} shards in ${plan.pods} workers (max_concurrency ${plan.maxConcurrency}) · ` +
        `Redis ${redactRedisUrl(redisUrl)}${options.redisUrl ? '' : ' (local)'} · logs in ${logDir}`,
    );

    const proxyPort = await freePort();
    const proxyUrl = `http://127.0.0.1:${proxyPort}`;
    // A fresh secret each run: only this run's bot may use the proxy.
    const proxyToken = randomBytes(24).toString('hex');
    const workerPorts = await Promise.all(Array.from({ length: plan.pods }, () => freePort()));
    const botPort = await freePort();
    const [namespace, name] = options.bot.split('.') as [string, string];
    const { DISCORD_TOKEN: _token, ...userEnv } = process.env;

    started.proxy = new SupervisedProgram(
      {
        name: 'rest-proxy',
        command: process.execPath,
        args: [programBin('@shardfleet/rest-proxy', 'shardfleet-rest-proxy.js')],
        env: {
          ...userEnv,
          DISCORD_TOKEN: discord.token,
          DISCORD_API_URL: discord.apiUrl,
          PROXY_AUTH_TOKEN: proxyToken,
          PORT: String(proxyPort),
          REDIS_URL: redisUrl,
          SHARDFLEET_BOT: options.bot,
        },
        logFile: logFile('rest-proxy'),
      },
      report,
    );
    const workers = workerPorts.map(
      (port, worker) =>
        new SupervisedProgram(
          {
            name: `shard-worker-${worker}`,
            command: process.execPath,
            args: [programBin('@shardfleet/shard', 'shardfleet-shard.js')],
            env: {
              ...userEnv,
              SHARDFLEET_BOT: options.bot,
              DISCORD_TOKEN: discord.token,
              DISCORD_API_URL: discord.apiUrl,
              SHARD_COUNT: String(plan.shards),
              SHARDS_PER_POD: String(plan.shardsPerPod),
              // The pod name of the cluster: a restarted worker takes its predecessor's leases at once.
              POD_NAME: `${name}-shards-${worker}`,
              WORKER_ID: String(worker),
              INTENTS: String(options.intents),
              REDIS_URL: redisUrl,
              PORT: String(port),
              ...(discord.simulator ? { IDENTIFY_INTERVAL_MS: String(SIMULATOR_IDENTIFY_INTERVAL_MS) } : {}),
            },
            logFile: logFile(`shard-worker-${worker}`),
          },
          report,
        ),
    );
    const botProgram = new SupervisedProgram(
      {
        name: 'bot',
        command: process.execPath,
        args: [options.botEntry ?? programBin('@shardfleet/bot', 'shardfleet-bot.js')],
        env: {
          ...userEnv,
          SHARDFLEET_BOT: options.bot,
          REDIS_URL: redisUrl,
          REST_PROXY_URL: proxyUrl,
          REST_PROXY_TOKEN: proxyToken,
          CONSUMER_NAME: `${namespace}-${name}-bot-0`,
          PORT: String(botPort),
        },
        logFile: logFile('bot'),
      },
      report,
    );
    started.fleet = [...workers, botProgram];
    started.proxy.start();
    for (const program of started.fleet) program.start();

    started.monitorRedis = monitorClient(redisUrl);
    const programs = [
      ...(started.redisProgram ? [started.redisProgram] : []),
      started.proxy,
      ...workers,
      botProgram,
    ];
    const workerOf = (shard: number) =>
      workerPorts.findIndex((_, worker) =>
        shardsForWorker(worker, plan.shardsPerPod, plan.shards).includes(shard),
      );
    const monitor = new FleetMonitor(started.monitorRedis, {
      bot: options.bot,
      shardCount: plan.shards,
      proxyUrl,
      workerPorts,
      workerPrograms: workers,
      workerOf,
      botPort,
      programs,
    });
    await watch(monitor, view, plan.shards, workerOf);
  } catch (error) {
    await stopAll();
    throw error;
  }
  await stopAll();
  view.event(`stopped: Redis data, simulator sessions and logs are kept in ${options.stateDir}`);
  return 0;

  /** Draws the view every second until SIGINT or SIGTERM; a second signal kills everything. */
  async function watch(
    monitor: FleetMonitor,
    fleetView: FleetView,
    shardCount: number,
    workerOf: (shard: number) => number,
  ): Promise<void> {
    let previous: FleetSnapshot | null = null;
    let allReady = false;
    let looking = false;
    let recordedPids = '';
    const look = async () => {
      if (looking) return;
      looking = true;
      try {
        const snapshot = await monitor.snapshot();
        for (const shard of snapshot.shards) {
          const before = previous?.shards[shard.shard]?.status ?? 'unknown';
          if (shard.status !== before && shard.status !== 'unknown') {
            fleetView.event(
              `shard ${shard.shard} (worker ${workerOf(shard.shard)}): ${before} -> ${shard.status}`,
            );
          }
        }
        const ready = snapshot.botReady && snapshot.shards.every((shard) => shard.status === 'ready');
        if (ready && !allReady) {
          fleetView.event(
            `all shards ready: ${shardCount} shards, bot reading events ` +
              `(identifies ${snapshot.identifies}, resumes ${snapshot.resumes})`,
          );
        }
        allReady = ready;
        previous = snapshot;
        fleetView.draw(snapshot);
        const pids = snapshot.programs.map((program) => program.pid).join();
        if (pids !== recordedPids) recordChildren(options.stateDir, snapshot.programs);
        recordedPids = pids;
      } catch (error) {
        fleetView.event(`monitor: ${(error as Error).message}`);
      } finally {
        looking = false;
      }
    };
    const timer = setInterval(() => void look(), 1_000);
    const signal = await stopSignal;
    clearInterval(timer);
    const stoppingSince = Date.now();
    const forceStop = () => {
      // `npm run dev` gets one Ctrl-C twice (the terminal's and npm's forwarded copy): only a later one counts.
      if (Date.now() - stoppingSince < DOUBLE_SIGNAL_WINDOW_MS) return;
      for (const program of [...started.fleet, started.proxy, started.redisProgram]) program?.kill();
      process.exit(1);
    };
    for (const stopSignalName of STOP_SIGNALS) process.on(stopSignalName, forceStop);
    fleetView.event(
      `${signal}: stopping the bot, the shard workers (storing their sessions), the proxy, Redis ` +
        '(Ctrl-C again to kill them at once)',
    );
  }
}
