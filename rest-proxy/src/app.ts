import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { performance } from 'node:perf_hooks';
import Fastify, {
  LogController,
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { type Dispatcher, Pool } from 'undici';
import { bearerTokenMatcher } from './auth/bearerTokenMatcher.js';
import { type ProxyConfig, redisKeyPrefix } from './config.js';
import { ProxyMetrics } from './ProxyMetrics.js';
import { FailoverRateLimitStore, type LimiterMode } from './ratelimit/FailoverRateLimitStore.js';
import { InvalidRequestLimitError } from './ratelimit/InvalidRequestLimitError.js';
import { LocalRateLimitStore } from './ratelimit/LocalRateLimitStore.js';
import { ProxyRateLimitError } from './ratelimit/ProxyRateLimitError.js';
import { type AbortWatcher, RateLimiter } from './ratelimit/RateLimiter.js';
import type { RateLimitStore, Ticket, UpstreamOutcome } from './ratelimit/RateLimitStore.js';
import { RedisRateLimitStore } from './ratelimit/RedisRateLimitStore.js';
import { RouteDataCache, routeData } from './routing/routeData.js';
import { parseRateLimitHeaders } from './upstream/rateLimitHeaders.js';

/** What the proxy uses besides its configuration; each has a default built from the config. */
export interface RestProxyDependencies {
  /** The program's root logger; the proxy logs through children of it. */
  logger: Logger;
  /**
   * Rate-limit state.
   *
   * @defaultValue Redis with a local fallback when `REDIS_URL` is set, else in memory
   */
  store?: RateLimitStore;
  /**
   * The HTTP client of `DISCORD_API_URL`.
   *
   * @defaultValue an undici `Pool` with keep-alive to the URL's origin
   */
  dispatcher?: Dispatcher;
}

/** Methods forwarded to Discord. */
const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE', 'HEAD', 'OPTIONS'];
/** Headers of one hop only (RFC 9110 7.6.1), never forwarded in either direction. */
const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);
/** Request headers the proxy replaces. */
const REPLACED_REQUEST_HEADERS = new Set(['host', 'authorization']);
/** Response headers are all Discord's. */
const NOTHING_REPLACED: ReadonlySet<string> = new Set();
/** Header naming why the proxy answered itself. */
const PROXY_ERROR_HEADER = 'x-shardfleet-proxy-error';
const UPSTREAM_TIMEOUT_CODES = new Set([
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);
const UPSTREAM_POOL_CONNECTIONS = 256;
/** Bodies up to this size are read whole and sent in one write; larger ones stream. */
const BUFFERED_BODY_BYTES = 64 * 1_024;

/**
 * Copies a message's headers for the next hop, without hop-by-hop ones, those named in its
 * `Connection` header and those in `skip`. A plain `for...in` over the parsed headers: it runs
 * twice per request, where `Object.entries` would allocate an array per header.
 */
function forwardedHeaders(
  headers: IncomingHttpHeaders,
  skip: ReadonlySet<string>,
): Record<string, string | string[]> {
  const listed = headers.connection;
  const named = typeof listed === 'string' ? listed.toLowerCase().split(/\s*,\s*/) : null;
  const result: Record<string, string | string[]> = {};
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined || HOP_BY_HOP.has(name) || skip.has(name)) continue;
    if (named !== null && named.includes(name)) continue;
    result[name] = value;
  }
  return result;
}

/** Declared length of a message; null when it streams without one (chunked). */
function declaredLength(headers: IncomingHttpHeaders): number | null {
  if (headers['transfer-encoding'] !== undefined) return null;
  const length = Number(headers['content-length'] ?? 0);
  return Number.isSafeInteger(length) ? length : null;
}

/** Reads a small stream whole; plain events cost less than async iteration on the hot path. */
function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (chunk: Buffer) => chunks.push(chunk));
    stream.once('error', reject);
    stream.once('close', () => {
      // Closed before its end: the sender went away. Every stream also closes after its end,
      // so the Error (whose stack trace costs more than the whole read) is built only then.
      if (!stream.readableEnded) reject(new Error('the stream closed before its end'));
    });
    stream.once('end', () => resolve(chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks)));
  });
}

/**
 * The request's body for the upstream call, never parsed: a small one is read whole, so it goes
 * out with the headers in one write (and before a rate-limit slot is taken); a large or chunked
 * one (file uploads) streams through.
 */
async function requestBody(request: FastifyRequest): Promise<Buffer | Readable | null> {
  const length = declaredLength(request.headers);
  if (length === 0) return null;
  if (length === null || length > BUFFERED_BODY_BYTES) return request.raw;
  return readAll(request.raw);
}

/** The limit state with its life cycle. */
interface OwnedStore {
  store: RateLimitStore;
  start(): Promise<void>;
  close(): Promise<void>;
  /** Replicas alive at the last heartbeat, when shared through Redis. */
  replicas(): number | undefined;
}

/** Builds the proxy's limit state: Redis shared between replicas, or memory for one. */
function defaultStore(config: ProxyConfig, logger: Logger, onMode: (mode: LimiterMode) => void): OwnedStore {
  const { globalRateLimit: globalLimit, invalidRequestLimit } = config;
  if (config.redisUrl === undefined) {
    onMode('standalone');
    const store = new LocalRateLimitStore({ globalLimit, invalidRequestLimit });
    return { store, start: async () => undefined, close: async () => undefined, replicas: () => undefined };
  }
  const redis = new Redis(config.redisUrl, {
    lazyConnect: true,
    // Fail fast while Redis is away: the fallback serves instead of queueing commands.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    commandTimeout: 1_000,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let lastRedisError = '';
  redis.on('error', (error: Error) => {
    if (error.message === lastRedisError) return;
    lastRedisError = error.message;
    logger.debug({ err: error }, 'redis connection error');
  });
  redis.on('ready', () => (lastRedisError = ''));
  const primary = new RedisRateLimitStore(redis, {
    prefix: redisKeyPrefix(config),
    globalLimit,
    invalidRequestLimit,
    inFlightTtlMs: config.upstreamTimeoutMs + 5_000,
  });
  const store = new FailoverRateLimitStore(primary, {
    globalLimit,
    invalidRequestLimit,
    onModeChange: (mode, replicas, error) => {
      onMode(mode);
      if (mode === 'fallback') {
        logger.warn(
          { err: error, replicas, globalLimit: Math.max(1, Math.floor(globalLimit / replicas)) },
          `redis unavailable: rate limits are kept locally at this replica's share (1/${replicas}) until it is back`,
        );
      } else {
        logger.info({ replicas }, 'redis is back: rate limits are shared again');
      }
    },
  });
  onMode('shared');
  return {
    store,
    start: async () => {
      await redis.connect().catch(() => undefined);
      await store.start();
    },
    replicas: () => store.replicas,
    close: async () => {
      store.close();
      await redis.quit().catch(() => redis.disconnect());
    },
  };
}

/**
 * Builds the REST proxy: `/api/*` forwarded to `DISCORD_API_URL` with the bot token, within
 * Discord's rate limits, plus `/healthz`, `/readyz` and `/metrics`. The caller listens.
 */
export async function buildApp(
  config: ProxyConfig,
  dependencies: RestProxyDependencies,
): Promise<FastifyInstance> {
  const { logger } = dependencies;
  const limiterLogger = logger.child({ component: 'ratelimit' });
  // The store reports its mode as soon as it is built, before the metrics exist.
  const limiterState: { mode: LimiterMode; metrics: ProxyMetrics | undefined } = {
    mode: 'standalone',
    metrics: undefined,
  };
  const setMode = (next: LimiterMode) => {
    limiterState.mode = next;
    limiterState.metrics?.setMode(next);
  };
  const owned: OwnedStore =
    dependencies.store === undefined
      ? defaultStore(config, limiterLogger, setMode)
      : {
          store: dependencies.store,
          start: async () => undefined,
          close: async () => undefined,
          replicas: () => undefined,
        };
  const rateLimiter = new RateLimiter(owned.store, {
    queueTimeoutMs: config.queueTimeoutMs,
    queueLimit: config.queueLimit,
    invalidRequestLimit: config.invalidRequestLimit,
  });
  const metrics = new ProxyMetrics({
    invalidRequests: () => owned.store.invalidRequests(),
    waiting: () => rateLimiter.waiting,
  });
  limiterState.metrics = metrics;
  metrics.setMode(limiterState.mode);

  const apiUrl = new URL(config.discordApiUrl);
  const basePath = apiUrl.pathname.replace(/\/+$/, '');
  const dispatcher =
    dependencies.dispatcher ??
    new Pool(apiUrl.origin, { connections: UPSTREAM_POOL_CONNECTIONS, keepAliveTimeout: 30_000 });
  const isAuthorized = bearerTokenMatcher(config.proxyAuthToken);
  const routes = new RouteDataCache();
  const botAuthorization = `Bot ${config.discordToken}`;

  const app = Fastify({
    loggerInstance: logger.child({ component: 'http' }) as FastifyBaseLogger,
    // No child logger per request: its request id would label nothing (request lines are off,
    // the few warnings name their route), and building one per request stood out in profiles.
    childLoggerFactory: (parent) => parent,
    // Per-request lines would cost more than forwarding; the metrics count every request.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: true,
  });
  app.removeAllContentTypeParsers();
  // Bodies are forwarded as they came, JSON and multipart alike: never parsed.
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));
  // Requests still in flight at shutdown are answered with `Connection: close`, so their
  // keep-alive connections end with them and the server can close.
  let closing = false;
  app.addHook('preClose', async () => {
    closing = true;
  });
  app.addHook('onClose', async () => {
    await owned.close();
    if (dependencies.dispatcher === undefined) await dispatcher.close();
  });

  const sendProxyError = (
    reply: FastifyReply,
    status: number,
    reason: string,
    body: Record<string, unknown>,
  ): FastifyReply => {
    if (closing) reply.header('connection', 'close');
    return reply
      .code(status)
      .header(PROXY_ERROR_HEADER, reason)
      .send({ code: 0, ...body });
  };

  const forward = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply> => {
    const started = performance.now();
    const pathAndQuery = request.url.slice('/api'.length);
    const queryStart = pathAndQuery.indexOf('?');
    const path = (queryStart === -1 ? pathAndQuery : pathAndQuery.slice(0, queryStart)).replace(
      /^\/v\d+(?=\/|$)/,
      '',
    );
    const authorized = isAuthorized(request.headers.authorization);
    // Only authorized callers' paths are remembered: anyone could send endless others.
    const route = authorized ? routes.get(request.method, path) : routeData(request.method, path);
    const done = (answered: FastifyReply): FastifyReply => {
      metrics.observe(
        request.method,
        route.template,
        answered.statusCode,
        (performance.now() - started) / 1_000,
      );
      return answered;
    };

    if (!authorized) {
      return done(
        sendProxyError(reply, 401, 'unauthorized', {
          message: '401: Unauthorized: expected the header "Authorization: Bearer <PROXY_AUTH_TOKEN>"',
        }),
      );
    }

    const body = await requestBody(request);
    let clientGone = false;
    const watchClient: AbortWatcher = (abort) => {
      const onClose = () => {
        if (reply.raw.writableFinished) return;
        clientGone = true;
        abort(new Error('the client went away'));
      };
      reply.raw.once('close', onClose);
      return () => reply.raw.off('close', onClose);
    };
    let ticket: Ticket;
    try {
      const queuedAt = performance.now();
      ticket = await rateLimiter.acquire(
        { routeId: route.routeId, majorParameter: route.majorParameter, global: !route.exemptFromGlobal },
        watchClient,
      );
      metrics.observeQueueWait(route.template, (performance.now() - queuedAt) / 1_000);
    } catch (error) {
      if (error instanceof ProxyRateLimitError) {
        metrics.rateLimitedBy(error.scope);
        const retryAfter = error.retryAfterMs / 1_000;
        reply
          .header('retry-after', String(Math.max(1, Math.ceil(retryAfter))))
          .header('x-shardfleet-proxy-ratelimit', 'true')
          .header('x-ratelimit-scope', error.scope === 'global' ? 'global' : 'user');
        if (error.scope === 'global') reply.header('x-ratelimit-global', 'true');
        return done(
          sendProxyError(reply, 429, 'ratelimited', {
            message: `You are being rate limited by the proxy (${error.scope}): the wait would pass its bound.`,
            retry_after: retryAfter,
            global: error.scope === 'global',
            scope: error.scope,
          }),
        );
      }
      if (error instanceof InvalidRequestLimitError) {
        const resumesAt = new Date(Date.now() + error.retryAfterMs);
        reply.header('retry-after', String(Math.max(1, Math.ceil(error.retryAfterMs / 1_000))));
        return done(
          sendProxyError(reply, 503, 'invalid-request-limit', {
            message:
              `The proxy stopped forwarding: the bot made ${error.limit} invalid requests (401, 403, 429) ` +
              'within 10 minutes, its limit, and more could get its IP banned by Discord. Forwarding ' +
              `resumes at ${resumesAt.toISOString()}.`,
            retry_after: error.retryAfterMs / 1_000,
            resumes_at: resumesAt.toISOString(),
          }),
        );
      }
      if (clientGone) return reply;
      throw error;
    }

    const upstreamHeaders = forwardedHeaders(request.headers, REPLACED_REQUEST_HEADERS);
    upstreamHeaders.authorization = botAuthorization;
    let response: Dispatcher.ResponseData;
    try {
      response = await dispatcher.request({
        path: basePath + pathAndQuery,
        method: request.method as Dispatcher.HttpMethod,
        headers: upstreamHeaders,
        body,
        headersTimeout: config.upstreamTimeoutMs,
        bodyTimeout: config.upstreamTimeoutMs,
      });
    } catch (error) {
      void rateLimiter
        .release(ticket, null)
        .catch((releaseError: unknown) => limiterLogger.warn({ err: releaseError }, 'release failed'));
      const code = (error as { code?: string }).code ?? '';
      const timedOut = UPSTREAM_TIMEOUT_CODES.has(code);
      metrics.upstreamError(timedOut ? 'timeout' : 'error');
      request.log.warn({ err: error, route: route.template }, 'upstream request failed');
      return done(
        timedOut
          ? sendProxyError(reply, 504, 'upstream-timeout', {
              message: `Discord did not answer within ${config.upstreamTimeoutMs} ms (UPSTREAM_TIMEOUT_MS).`,
            })
          : sendProxyError(reply, 502, 'upstream-error', {
              message: `The request to Discord failed: ${(error as Error).message}`,
            }),
      );
    }

    const outcome: UpstreamOutcome = {
      status: response.statusCode,
      headers: parseRateLimitHeaders(response.headers),
    };
    void rateLimiter
      .release(ticket, outcome)
      .catch((error: unknown) => limiterLogger.warn({ err: error }, 'release failed'));
    if (outcome.status === 429) {
      const scope = outcome.headers.global ? 'global' : (outcome.headers.scope ?? 'user');
      metrics.rateLimitedBy(
        scope === 'global' ? 'discord_global' : scope === 'shared' ? 'discord_shared' : 'discord_user',
      );
      request.log.warn(
        { route: route.template, scope, retryAfterMs: outcome.headers.retryAfterMs },
        'Discord answered 429',
      );
    }
    // Discord's answer goes straight to the socket: fastify has nothing to add to it.
    const headers = forwardedHeaders(response.headers, NOTHING_REPLACED);
    if (closing) headers.connection = 'close';
    reply.hijack();
    reply.raw.writeHead(response.statusCode, headers);
    metrics.observe(
      request.method,
      route.template,
      response.statusCode,
      (performance.now() - started) / 1_000,
    );
    try {
      if (request.method === 'HEAD' || response.statusCode === 204 || response.statusCode === 304) {
        await response.body.dump();
        reply.raw.end();
      } else {
        const length = declaredLength(response.headers);
        if (length !== null && length <= BUFFERED_BODY_BYTES) reply.raw.end(await readAll(response.body));
        else await pipeline(response.body, reply.raw);
      }
    } catch (error) {
      // The status line is out: all that is left is to cut the answer short.
      request.log.warn({ err: error, route: route.template }, 'relaying the answer failed');
      reply.raw.destroy();
    }
    return reply;
  };

  app.route({ method: METHODS, url: '/api', handler: forward });
  app.route({ method: METHODS, url: '/api/*', handler: forward });

  app.get('/healthz', async () => ({ status: 'ok' }));
  app.get('/readyz', async () => ({
    status: 'ready',
    limiter: limiterState.mode,
    replicas: owned.replicas(),
  }));
  app.get('/metrics', async (_request, reply) =>
    reply.type(metrics.registry.contentType).send(await metrics.registry.metrics()),
  );

  await owned.start();
  return app;
}
