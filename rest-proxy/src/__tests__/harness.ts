import { Writable } from 'node:stream';
import { startSimulator, type RunningSimulator } from '@shardfleet/simulator';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { buildApp } from '../app.js';
import { REDACTED_PATHS } from '../cli.js';
import type { ProxyConfig } from '../config.js';

export const PROXY_TOKEN = 'test-proxy-token-0123456789';
export const BOT_TOKEN = 'simulator-token';
export const AUTH = { authorization: `Bearer ${PROXY_TOKEN}` };

/** A proxy built in this process, listening on a free loopback port, with its log lines. */
export interface TestProxy {
  readonly app: FastifyInstance;
  readonly url: string;
  readonly logs: string[];
  close(): Promise<void>;
}

export function proxyConfig(apiUrl: string, overrides: Partial<ProxyConfig> = {}): ProxyConfig {
  return {
    discordToken: BOT_TOKEN,
    discordApiUrl: apiUrl,
    proxyAuthToken: PROXY_TOKEN,
    redisUrl: undefined,
    port: 8080,
    logLevel: 'info',
    globalRateLimit: 50,
    invalidRequestLimit: 8_000,
    upstreamTimeoutMs: 15_000,
    queueTimeoutMs: 60_000,
    queueLimit: 1_000,
    shardfleetBot: undefined,
    ...overrides,
  };
}

export async function startProxy(config: ProxyConfig): Promise<TestProxy> {
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      logs.push(
        ...chunk
          .toString()
          .split('\n')
          .filter((line) => line !== ''),
      );
      callback();
    },
  });
  const logger = pino({ level: 'debug', redact: REDACTED_PATHS }, destination);
  const app = await buildApp(config, { logger });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return { app, url, logs, close: () => app.close() };
}

/** The simulator with channels to post in: `channels[i]` belong to the simulator's guilds. */
export async function startWorld(guilds = 20): Promise<{ simulator: RunningSimulator; channels: string[] }> {
  const simulator = await startSimulator({ guilds });
  const channels: string[] = [];
  for (const id of await simulator.control.guilds()) {
    const guild = await simulator.control.guild(id);
    channels.push(...guild.channels.filter((channel) => channel.type === 0).map((channel) => channel.id));
  }
  return { simulator, channels };
}

export function postMessage(proxyUrl: string, channelId: string, content: string, headers = AUTH) {
  return fetch(`${proxyUrl}/api/v10/channels/${channelId}/messages`, {
    method: 'POST',
    headers: { ...headers, 'content-type': 'application/json' },
    body: JSON.stringify({ content }),
  });
}

/** The value of one sample of the proxy's /metrics, or undefined. */
export async function metric(proxyUrl: string, sample: string): Promise<number | undefined> {
  const text = await (await fetch(`${proxyUrl}/metrics`)).text();
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${sample} `));
  return line === undefined ? undefined : Number(line.slice(sample.length + 1));
}
