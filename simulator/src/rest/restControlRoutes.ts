import type { FastifyError, FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import { parseOr400 } from '../control/validation.js';
import type { RestRateLimiter } from './RestRateLimiter.js';
import { isRestRouteTemplate, RestRouteTemplates } from './restRouteTable.js';

export interface RestControlRoutesOptions {
  rateLimiter: RestRateLimiter;
}

const route = z.string().refine(isRestRouteTemplate, {
  message: `expected a route template, one of: ${RestRouteTemplates.join(', ')}`,
});
const positiveInteger = z.number().int().min(1);

const schemas = {
  rateLimits: z
    .object({
      route: route.optional(),
      limit: positiveInteger.optional(),
      reset_after_ms: positiveInteger.optional(),
      global: positiveInteger.optional(),
    })
    .superRefine((body, context) => {
      if (body.route !== undefined) {
        for (const field of ['limit', 'reset_after_ms'] as const) {
          if (body[field] === undefined)
            context.addIssue({ code: 'custom', path: [field], message: 'required with route' });
        }
      } else if (body.global === undefined) {
        context.addIssue({
          code: 'custom',
          path: ['route'],
          message: 'expected route (with limit and reset_after_ms) or global',
        });
      }
    }),
  force429: z.object({
    count: positiveInteger.default(1),
    retry_after_ms: z.number().int().min(0),
    scope: z.enum(['user', 'global', 'shared']).default('user'),
    route: route.optional(),
  }),
};

/** Snake-case view of the limits, as the control API speaks. */
function limitsView(rateLimiter: RestRateLimiter) {
  const { global, routes } = rateLimiter.limits();
  return {
    global,
    routes: Object.fromEntries(
      Object.entries(routes).map(([template, { limit, windowMs }]) => [
        template,
        { limit, reset_after_ms: windowMs },
      ]),
    ),
  };
}

/**
 * Control routes of the REST rate limits (registered under `/_sim`):
 * `GET /ratelimits` shows them; `POST /ratelimits {route, limit, reset_after_ms}` or `{global}` changes them;
 * `POST /force-429 {count, retry_after_ms, scope, route?}` makes the next `count` matching requests answer 429.
 */
export const restControlRoutes: FastifyPluginAsync<RestControlRoutesOptions> = async (
  app,
  { rateLimiter },
) => {
  app.setErrorHandler((error: FastifyError, request, reply) => {
    if (error.statusCode !== undefined && error.statusCode >= 400 && error.statusCode < 500) {
      return reply.code(error.statusCode).send({ error: `body: ${error.message}` });
    }
    request.log.error({ err: error }, 'control route failed');
    return reply.code(500).send({ error: error.message });
  });

  app.get('/ratelimits', async () => limitsView(rateLimiter));

  app.post('/ratelimits', async (request, reply) => {
    const body = parseOr400(schemas.rateLimits, request.body, reply);
    if (!body) return reply;
    if (body.global !== undefined) rateLimiter.setGlobalLimit(body.global);
    if (body.route !== undefined) {
      rateLimiter.setRouteLimit(body.route, {
        limit: body.limit as number,
        windowMs: body.reset_after_ms as number,
      });
    }
    return limitsView(rateLimiter);
  });

  app.post('/force-429', async (request, reply) => {
    const body = parseOr400(schemas.force429, request.body, reply);
    if (!body) return reply;
    rateLimiter.force429({
      count: body.count,
      retryAfterMs: body.retry_after_ms,
      scope: body.scope,
      ...(body.route === undefined ? {} : { route: body.route }),
    });
    return { pending: rateLimiter.pendingForced429s };
  });
};
