import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import {
  ESTIMATED_RESET_TOLERANCE_SECONDS,
  isGlobal429,
  isInvalidRequest,
  type RateLimitKey,
  type RateLimitStore,
  type Reservation,
  RESET_HEADER_TOLERANCE_SECONDS,
  type Ticket,
  type UpstreamOutcome,
} from './RateLimitStore.js';
import { HEARTBEAT_SCRIPT, INVALID_COUNT_SCRIPT, RESERVE_SCRIPT, SETTLE_SCRIPT } from './redisScripts.js';

/** Options of a {@link RedisRateLimitStore}. */
export interface RedisRateLimitStoreOptions {
  /** Key prefix, ending in `:`, with a hash tag, such as `sf:{default.mybot}:rest:`. */
  prefix: string;
  /** Requests per second across non-exempt routes, for all replicas together. */
  globalLimit: number;
  /** Invalid requests per 10 minutes at which forwarding stops, for all replicas together. */
  invalidRequestLimit: number;
  /** How long a slot stays taken when its replica never settles it (it died): above the upstream timeout. */
  inFlightTtlMs: number;
}

/** Buckets not used for this long expire from Redis. */
const IDLE_BUCKET_TTL_MS = 300_000;
/** A replica that has not sent a heartbeat for this long no longer counts. */
const REPLICA_TTL_MS = 15_000;

interface ScriptCommands {
  sfRestReserve(routes: string, ...args: (string | number)[]): Promise<[number, string, number?]>;
  sfRestSettle(routes: string, ...args: (string | number)[]): Promise<number>;
  sfRestHeartbeat(routes: string, ...args: (string | number)[]): Promise<number>;
  sfRestInvalid(routes: string, ...args: (string | number)[]): Promise<number>;
}

/**
 * Rate-limit state in Redis, shared by every replica of the proxy: a reservation and a
 * settlement are each one atomic script, so N replicas together keep to one bot's limits.
 */
export class RedisRateLimitStore implements RateLimitStore {
  /** This replica's id in the heartbeat set. */
  public readonly replicaId = randomUUID();
  private readonly redis: Redis & ScriptCommands;
  private readonly routesKey: string;
  private nextTicket = 0;

  public constructor(
    redis: Redis,
    private readonly options: RedisRateLimitStoreOptions,
  ) {
    const commands = [
      ['sfRestReserve', RESERVE_SCRIPT],
      ['sfRestSettle', SETTLE_SCRIPT],
      ['sfRestHeartbeat', HEARTBEAT_SCRIPT],
      ['sfRestInvalid', INVALID_COUNT_SCRIPT],
    ] as const;
    for (const [name, lua] of commands) {
      if (!(name in redis)) redis.defineCommand(name, { numberOfKeys: 1, lua });
    }
    this.redis = redis as Redis & ScriptCommands;
    this.routesKey = `${options.prefix}routes`;
  }

  public async reserve(key: RateLimitKey): Promise<Reservation> {
    const id = `${this.replicaId}:${this.nextTicket++}`;
    const { prefix, globalLimit, invalidRequestLimit, inFlightTtlMs } = this.options;
    const [granted, detail, retryAfterMs] = await this.redis.sfRestReserve(
      this.routesKey,
      prefix,
      key.routeId,
      key.majorParameter,
      key.global ? 1 : 0,
      globalLimit,
      invalidRequestLimit,
      id,
      inFlightTtlMs,
      IDLE_BUCKET_TTL_MS,
    );
    if (granted === 1) return { granted: true, ticket: { id, key, bucketKey: detail } };
    return {
      granted: false,
      reason: detail as 'global' | 'bucket' | 'invalid',
      retryAfterMs: retryAfterMs === undefined || retryAfterMs < 0 ? null : retryAfterMs,
    };
  }

  public async settle(ticket: Ticket, outcome: UpstreamOutcome | null): Promise<void> {
    const headers = outcome?.headers;
    const optional = (value: number | null | undefined) =>
      value === null || value === undefined ? '' : value;
    await this.redis.sfRestSettle(
      this.routesKey,
      this.options.prefix,
      ticket.key.routeId,
      ticket.key.majorParameter,
      ticket.key.global ? 1 : 0,
      ticket.id,
      ticket.bucketKey,
      outcome === null ? 0 : 1,
      outcome !== null && isInvalidRequest(outcome) ? 1 : 0,
      outcome !== null && isGlobal429(outcome) ? 1 : 0,
      outcome?.status ?? 0,
      optional(headers?.limit),
      optional(headers?.remaining),
      optional(headers?.resetEpochSeconds),
      optional(headers?.resetAfterMs),
      headers?.bucket ?? '',
      optional(headers?.retryAfterMs),
      IDLE_BUCKET_TTL_MS,
      RESET_HEADER_TOLERANCE_SECONDS,
      ESTIMATED_RESET_TOLERANCE_SECONDS,
    );
  }

  public invalidRequests(): Promise<number> {
    return this.redis.sfRestInvalid(this.routesKey, this.options.prefix);
  }

  /** Registers this replica as alive; returns the number of live replicas. */
  public heartbeat(): Promise<number> {
    return this.redis.sfRestHeartbeat(this.routesKey, this.options.prefix, this.replicaId, REPLICA_TTL_MS);
  }
}
