import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { WebSocketServer } from 'ws';
import { controlRoutes } from './control/controlRoutes.js';
import { SimulatorControl } from './control/SimulatorControl.js';
import { GatewayConnection } from './gateway/GatewayConnection.js';
import { TrafficGenerator } from './gateway/TrafficGenerator.js';
import { DefaultSimulatorOptions, type SimulatorOptions } from './options.js';
import { RestRateLimiter } from './rest/RestRateLimiter.js';
import { restControlRoutes } from './rest/restControlRoutes.js';
import { restRoutes } from './rest/restRoutes.js';
import { Messaging } from './world/Messaging.js';
import { type SavedDiscordState, SimulatedDiscord } from './world/SimulatedDiscord.js';

/** Largest REST body accepted: ten files at the 10 MiB attachment limit, plus the multipart envelope. */
const BODY_LIMIT_BYTES = 101 * 1_024 * 1_024;

/** The program's logger for the HTTP layer: warnings and errors only, unless the program wants fewer. */
function httpLogger(logger: Logger): FastifyBaseLogger {
  const level = logger.levelVal > (logger.levels.values.warn ?? 40) ? logger.level : 'warn';
  return logger.child({ component: 'http' }, { level }) as FastifyBaseLogger;
}

function decodeAtSigns(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.replaceAll(/%40/gi, '@') + (query === -1 ? '' : url.slice(query));
}

/** The saved state in `file`, or null when there is none yet. */
async function readState(file: string): Promise<SavedDiscordState | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
  const state = JSON.parse(text) as SavedDiscordState;
  if (state.version !== 1) throw new Error(`${file}: unknown state version ${String(state.version)}`);
  return state;
}

/** Writes the state beside the file and renames it over: a crash mid-write leaves the old state whole. */
async function writeState(file: string, state: SavedDiscordState): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const partial = `${file}.${process.pid}.partial`;
  await writeFile(partial, JSON.stringify(state));
  await rename(partial, file);
}

export interface RunningSimulator {
  /** Base HTTP URL (REST is under `${url}/api/v10`, the control API under `${url}/_sim`). */
  readonly url: string;
  /** The gateway URL /gateway/bot advertises. */
  readonly gatewayUrl: string;
  readonly discord: SimulatedDiscord;
  readonly messaging: Messaging;
  readonly rateLimiter: RestRateLimiter;
  /** The control API client for this simulator. */
  readonly control: SimulatorControl;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** Starts a simulated Discord listening on one port for REST, the gateway and the control API. */
export async function startSimulator(overrides: Partial<SimulatorOptions> = {}): Promise<RunningSimulator> {
  const options: SimulatorOptions = { ...DefaultSimulatorOptions, ...overrides };
  const discord = new SimulatedDiscord(options);
  const saved = options.stateFile ? await readState(options.stateFile) : null;
  if (saved) {
    discord.restoreState(saved);
    discord.log.info(
      { stateFile: options.stateFile, sessions: saved.sessions.length, identifies: saved.identifies },
      'state restored',
    );
  }
  const messaging = new Messaging(discord);
  const rateLimiter = new RestRateLimiter({
    globalLimit: options.globalRateLimit,
    invalidRequestLimit: options.invalidRequestLimit,
  });
  const traffic = new TrafficGenerator(discord, options.eventRate, options.seed);
  const app: FastifyInstance = Fastify({
    bodyLimit: BODY_LIMIT_BYTES,
    return503OnClosing: true,
    forceCloseConnections: true,
    // Clients percent-encode `@` in ids such as `@original`, and Discord accepts both spellings.
    rewriteUrl: (request) => decodeAtSigns(request.url ?? '/'),
    // The HTTP layer says only what went wrong: a line per request or the listen address would drown
    // the gateway's story, and the CLI prints the address itself.
    ...(options.logger ? { loggerInstance: httpLogger(options.logger) } : {}),
  });
  await app.register(restRoutes, { prefix: '/api/v10', discord, messaging, rateLimiter });
  await app.register(controlRoutes, { prefix: '/_sim', discord, messaging, rateLimiter, traffic });
  await app.register(restControlRoutes, { prefix: '/_sim', rateLimiter });

  const sockets = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 1_024 * 1_024,
  });
  const connections = new Set<GatewayConnection>();
  app.server.on('upgrade', (request, socket, head) => {
    sockets.handleUpgrade(request, socket, head, (ws) => {
      const connection = new GatewayConnection(ws, request.url ?? '/', discord);
      connections.add(connection);
      ws.once('close', () => connections.delete(connection));
    });
  });

  await app.listen({ host: options.host, port: options.port });
  const address = app.server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${host}:${address.port}`;
  const publicUrl = new URL(options.publicUrl ?? url);
  publicUrl.protocol = publicUrl.protocol === 'https:' ? 'wss:' : 'ws:';
  discord.gatewayUrl = publicUrl.toString().replace(/\/$/, '');
  traffic.start();

  return {
    url,
    gatewayUrl: discord.gatewayUrl,
    discord,
    messaging,
    rateLimiter,
    control: new SimulatorControl(url),
    app,
    async close() {
      traffic.stop();
      for (const connection of connections) connection.terminate();
      sockets.close();
      await app.close();
      if (options.stateFile) await writeState(options.stateFile, discord.saveState());
    },
  };
}
