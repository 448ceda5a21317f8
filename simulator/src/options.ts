import { PRIVILEGED_INTENTS } from '@shardfleet/protocol';
import type { Logger } from 'pino';

/** Options of a simulated Discord. Every option has a default in {@link DefaultSimulatorOptions}. */
export interface SimulatorOptions {
  /** Address to listen on. @defaultValue `'127.0.0.1'` */
  host: string;
  /** Port to listen on; 0 picks a free one. @defaultValue `0` */
  port: number;
  /**
   * Base URL clients reach the simulator at (http or https); /gateway/bot advertises it with the ws scheme.
   * @defaultValue the listen address
   */
  publicUrl: string | null;
  /** Number of guilds the bot is in. @defaultValue `100` */
  guilds: number;
  /** Seed of the guild population and the generated traffic. @defaultValue `1` */
  seed: number;
  /** `session_start_limit.max_concurrency`: identify buckets. @defaultValue `1` */
  maxConcurrency: number;
  /** `session_start_limit.total`: identifies per reset period. @defaultValue `1_000` */
  sessionLimit: number;
  /** Length of the identify budget's period. @defaultValue `86_400_000` (24 h) */
  sessionResetAfterMs: number;
  /** The bot token the simulator accepts. @defaultValue `'simulator-token'` */
  token: string;
  /** One identify per bucket per this interval; sooner is a violation answered with op 9. @defaultValue `5_000` */
  identifyIntervalMs: number;
  /** `heartbeat_interval` sent in HELLO. @defaultValue `41_250` */
  heartbeatIntervalMs: number;
  /** Generated MESSAGE_CREATE dispatches per second across all guilds. @defaultValue `0` */
  eventRate: number;
  /** Dispatches each session keeps for replay on RESUME. @defaultValue `10_000` */
  replayWindow: number;
  /** How long a disconnected session stays resumable. @defaultValue `180_000` */
  sessionTtlMs: number;
  /** Privileged intents the application is approved for; others close with 4014. @defaultValue all three */
  privilegedIntents: number;
  /** Client payloads allowed per connection per window; more close with 4008. @defaultValue `120` */
  sendLimit: number;
  /** Window of {@link SimulatorOptions.sendLimit}. @defaultValue `60_000` */
  sendWindowMs: number;
  /** Largest client payload in bytes; larger close with 4002. @defaultValue `4_096` */
  maxPayloadBytes: number;
  /** Global REST limit per second (interaction routes are exempt). @defaultValue `50` */
  globalRateLimit: number;
  /** Invalid requests (401, 403, 429) per 10 minutes before the simulated Cloudflare ban. @defaultValue `10_000` */
  invalidRequestLimit: number;
  /** Ledger entries kept; the oldest are dropped past it. @defaultValue `1_000_000` */
  ledgerLimit: number;
  /**
   * A JSON file the resumable sessions, identify budget and counters are saved to on close and
   * restored from on start, so clients resume across a restart of the simulator. @defaultValue `null`
   */
  stateFile: string | null;
  /** Where the simulator says what happens (identifies, resumes, closes, violations). @defaultValue `null` (silent) */
  logger: Logger | null;
}

export const DefaultSimulatorOptions = {
  host: '127.0.0.1',
  port: 0,
  publicUrl: null,
  guilds: 100,
  seed: 1,
  maxConcurrency: 1,
  sessionLimit: 1_000,
  sessionResetAfterMs: 86_400_000,
  token: 'simulator-token',
  identifyIntervalMs: 5_000,
  heartbeatIntervalMs: 41_250,
  eventRate: 0,
  replayWindow: 10_000,
  sessionTtlMs: 180_000,
  privilegedIntents: PRIVILEGED_INTENTS,
  sendLimit: 120,
  sendWindowMs: 60_000,
  maxPayloadBytes: 4_096,
  globalRateLimit: 50,
  invalidRequestLimit: 10_000,
  ledgerLimit: 1_000_000,
  stateFile: null,
  logger: null,
} as const satisfies SimulatorOptions;
