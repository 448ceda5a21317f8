import { type ShardConfig, shardEnvSchema } from '@shardfleet/protocol';
import { z } from 'zod';

/**
 * The stream length the CR's `stream.maxLength` defaults to.
 *
 * @defaultValue `100_000`
 */
export const DEFAULT_STREAM_MAX_LENGTH = 100_000;
/**
 * Events kept in memory while Redis is unreachable; past it new events are dropped and counted.
 *
 * @defaultValue `50_000`
 */
export const DEFAULT_EVENT_BUFFER_LIMIT = 50_000;
/**
 * Percentage of `session_start_limit.total` the worker never spends on identifies.
 *
 * @defaultValue `5`
 */
export const DEFAULT_IDENTIFY_RESERVE_PERCENT = 5;
/**
 * How long a shard may go without progress (a heartbeat acknowledged when ready, else a status
 * change) before `/healthz` fails, so Kubernetes restarts a worker the library cannot recover.
 *
 * @defaultValue `180_000`
 */
export const DEFAULT_SHARD_STUCK_AFTER_MS = 180_000;

const DECIMAL_PATTERN = /^\d+$/;

function integerVariable(min: number, max: number, fallback: number) {
  return z.preprocess(
    (value) => (typeof value === 'string' && value.trim() === '' ? undefined : value),
    z
      .string()
      .trim()
      .refine((value) => DECIMAL_PATTERN.test(value) && Number(value) >= min && Number(value) <= max, {
        error: (issue) => `expected an integer from ${min} to ${max}, got ${JSON.stringify(issue.input)}`,
      })
      .transform(Number)
      .optional()
      .transform((value) => value ?? fallback),
  );
}

/**
 * The shard worker's own tuning variables, on top of the contract's {@link shardEnvSchema}:
 * `STREAM_MAX_LENGTH` (`MAXLEN ~` of the event stream, from the CR's `stream.maxLength`),
 * `EVENT_BUFFER_LIMIT` (events held while Redis is down), `IDENTIFY_RESERVE_PERCENT` and
 * `SHARD_STUCK_AFTER_MS` (a shard without progress that long fails `/healthz`).
 */
export const shardWorkerTuningSchema = z
  .object({
    STREAM_MAX_LENGTH: integerVariable(1, Number.MAX_SAFE_INTEGER, DEFAULT_STREAM_MAX_LENGTH),
    EVENT_BUFFER_LIMIT: integerVariable(0, 10_000_000, DEFAULT_EVENT_BUFFER_LIMIT),
    IDENTIFY_RESERVE_PERCENT: integerVariable(0, 99, DEFAULT_IDENTIFY_RESERVE_PERCENT),
    SHARD_STUCK_AFTER_MS: integerVariable(1_000, 86_400_000, DEFAULT_SHARD_STUCK_AFTER_MS),
  })
  .transform((env) => ({
    streamMaxLength: env.STREAM_MAX_LENGTH,
    eventBufferLimit: env.EVENT_BUFFER_LIMIT,
    identifyReservePercent: env.IDENTIFY_RESERVE_PERCENT,
    shardStuckAfterMs: env.SHARD_STUCK_AFTER_MS,
  }));

/** The shard worker's environment: the contract's variables and its tuning variables. */
export const shardWorkerEnvSchema = shardEnvSchema.and(shardWorkerTuningSchema);

/** The typed configuration of the shard worker, parsed once at start-up. */
export type ShardWorkerConfig = ShardConfig & z.output<typeof shardWorkerTuningSchema>;
