import { hostname } from 'node:os';
import { LOG_LEVELS } from '@shardfleet/protocol';
import { z } from 'zod';
import { version } from './version.js';

/** The default shard worker image: the one released with this operator. */
export const DEFAULT_SHARD_IMAGE = `ghcr.io/shardfleet/shard:${version}`;
/** The default REST proxy image: the one released with this operator. */
export const DEFAULT_REST_PROXY_IMAGE = `ghcr.io/shardfleet/rest-proxy:${version}`;

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const DECIMAL = /^\d+$/;

function blankToUndefined(value: unknown): unknown {
  return typeof value === 'string' && value.trim() === '' ? undefined : value;
}

function text(fallback?: string) {
  const schema = z.string().trim();
  return z.preprocess(blankToUndefined, fallback === undefined ? schema : schema.default(fallback));
}

// A missing variable reads as its default's text, so the default goes through the same transform.
function orDefault(fallback: string) {
  return (value: unknown) => blankToUndefined(value) ?? fallback;
}

function integer(min: number, max: number, fallback: number) {
  return z.preprocess(
    orDefault(String(fallback)),
    z
      .string()
      .trim()
      .refine((value) => DECIMAL.test(value) && Number(value) >= min && Number(value) <= max, {
        error: (issue) => `expected an integer ${min}-${max}, got ${JSON.stringify(issue.input)}`,
      })
      .transform(Number),
  );
}

function boolean(fallback: boolean) {
  return z.preprocess(
    orDefault(String(fallback)),
    z
      .enum(['true', 'false', '1', '0'], {
        error: (issue) => `expected true or false, got ${JSON.stringify(issue.input)}`,
      })
      .transform((value) => value === 'true' || value === '1'),
  );
}

function namespaces() {
  return z.preprocess(
    blankToUndefined,
    z
      .string()
      .default('')
      .transform((value, ctx) => {
        const list = [...new Set(value.split(/[\s,]+/).filter((item) => item !== ''))];
        const invalid = list.filter((item) => !DNS_LABEL.test(item));
        if (invalid.length > 0) {
          ctx.addIssue(
            `expected namespace names, got ${invalid.map((item) => JSON.stringify(item)).join(', ')}`,
          );
          return z.NEVER;
        }
        return list;
      }),
  );
}

/**
 * The operator's environment (`shardfleet-operator`), parsed into an {@link OperatorConfig}.
 *
 * @defaultValue `WATCH_NAMESPACES`: all; `SHARD_IMAGE` / `REST_PROXY_IMAGE`: the images of this
 * release; `PORT`: `8080`; `LEADER_ELECT`: `true`; `LEASE_NAME`: `shardfleet-operator`;
 * `LEASE_NAMESPACE`: `POD_NAMESPACE`, else `default`; `LEASE_DURATION_MS`: `15000`;
 * `RESYNC_INTERVAL_MS`: `300000`; `GATEWAY_RECHECK_INTERVAL_MS`: `600000`; `WORKERS`: `16`;
 * `LOG_LEVEL`: `info`
 */
export const operatorEnvSchema = z
  .object({
    WATCH_NAMESPACES: namespaces(),
    SHARD_IMAGE: text(DEFAULT_SHARD_IMAGE),
    REST_PROXY_IMAGE: text(DEFAULT_REST_PROXY_IMAGE),
    PORT: integer(1, 65_535, 8_080),
    LEADER_ELECT: boolean(true),
    LEASE_NAME: text('shardfleet-operator').pipe(
      z.string().regex(DNS_SUBDOMAIN, 'expected a DNS-1123 subdomain'),
    ),
    LEASE_NAMESPACE: text().optional(),
    POD_NAMESPACE: text().optional(),
    POD_NAME: text().optional(),
    LEASE_DURATION_MS: integer(2_000, 300_000, 15_000),
    RESYNC_INTERVAL_MS: integer(1_000, 86_400_000, 300_000),
    GATEWAY_RECHECK_INTERVAL_MS: integer(1_000, 86_400_000, 600_000),
    WORKERS: integer(1, 64, 16),
    LOG_LEVEL: text('info').pipe(z.enum(LOG_LEVELS)),
  })
  .transform((env) => ({
    namespaces: env.WATCH_NAMESPACES,
    shardImage: env.SHARD_IMAGE,
    restProxyImage: env.REST_PROXY_IMAGE,
    port: env.PORT,
    leaderElection: env.LEADER_ELECT,
    leaseName: env.LEASE_NAME,
    leaseNamespace: env.LEASE_NAMESPACE ?? env.POD_NAMESPACE ?? 'default',
    identity: `${env.POD_NAME ?? hostname()}_${process.pid}`,
    leaseDurationMs: env.LEASE_DURATION_MS,
    resyncIntervalMs: env.RESYNC_INTERVAL_MS,
    gatewayRecheckIntervalMs: env.GATEWAY_RECHECK_INTERVAL_MS,
    workers: env.WORKERS,
    logLevel: env.LOG_LEVEL,
  }));

/** The typed configuration of the operator, from {@link operatorEnvSchema}. */
export type OperatorConfig = z.output<typeof operatorEnvSchema>;
