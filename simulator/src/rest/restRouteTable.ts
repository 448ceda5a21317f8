/** How one REST route is limited: a bucket of `limit` requests per `windowMs`, per major parameter. */
export interface RouteLimit {
  /** Requests a bucket allows per window (`X-RateLimit-Limit`). */
  limit: number;
  /** Length of a bucket's window; it starts at the first request of the window, as on Discord. */
  windowMs: number;
}

export interface RestRouteSpec extends RouteLimit {
  /** Counts against the global limit; false for interaction callbacks and unauthenticated routes. */
  global: boolean;
  /** Path parameters that split the route into buckets (Discord's major parameters). */
  major: readonly string[];
}

/**
 * Every REST route the simulator serves, with its default limits. Discord does not publish its numbers;
 * these are the ones it reports for the routes people measure (5 messages per 5 s per channel) and
 * generous elsewhere, so that a fleet starting at once (every shard worker and the operator call
 * GET /gateway/bot) is not slowed. Tests and benchmarks change them at run time through
 * `RestRateLimiter.setRouteLimit` or `POST /_sim/ratelimits`.
 *
 * | route | limit | window | major parameter | global |
 * |---|---|---|---|---|
 * | GET /gateway | 50 | 1 s | - | exempt (no bot token) |
 * | GET /gateway/bot | 50 | 5 s | - | counted |
 * | GET /users/@me | 50 | 1 s | - | counted |
 * | GET /oauth2/applications/@me, GET /applications/@me | 50 | 1 s | - | counted |
 * | POST /channels/{channel_id}/messages | 5 | 5 s | channel_id | counted |
 * | GET /channels/{channel_id}/messages | 50 | 1 s | channel_id | counted |
 * | POST /interactions/{interaction_id}/{interaction_token}/callback | 50 | 1 s | id + token | exempt |
 * | PUT /applications/{application_id}/commands | 10 | 10 s | - | counted |
 * | GET /applications/{application_id}/commands | 50 | 1 s | - | counted |
 * | POST /webhooks/{application_id}/{interaction_token} | 5 | 2 s | id + token | exempt |
 * | GET, PATCH /webhooks/{application_id}/{interaction_token}/messages/@original | 5 | 2 s | id + token | exempt |
 */
export const RestRouteTable = {
  'GET /gateway': { limit: 50, windowMs: 1_000, global: false, major: [] },
  'GET /gateway/bot': { limit: 50, windowMs: 5_000, global: true, major: [] },
  'GET /users/@me': { limit: 50, windowMs: 1_000, global: true, major: [] },
  'GET /oauth2/applications/@me': { limit: 50, windowMs: 1_000, global: true, major: [] },
  'GET /applications/@me': { limit: 50, windowMs: 1_000, global: true, major: [] },
  'POST /channels/{channel_id}/messages': { limit: 5, windowMs: 5_000, global: true, major: ['channel_id'] },
  'GET /channels/{channel_id}/messages': { limit: 50, windowMs: 1_000, global: true, major: ['channel_id'] },
  'POST /interactions/{interaction_id}/{interaction_token}/callback': {
    limit: 50,
    windowMs: 1_000,
    global: false,
    major: ['interaction_id', 'interaction_token'],
  },
  'PUT /applications/{application_id}/commands': { limit: 10, windowMs: 10_000, global: true, major: [] },
  'GET /applications/{application_id}/commands': { limit: 50, windowMs: 1_000, global: true, major: [] },
  'POST /webhooks/{application_id}/{interaction_token}': {
    limit: 5,
    windowMs: 2_000,
    global: false,
    major: ['application_id', 'interaction_token'],
  },
  'GET /webhooks/{application_id}/{interaction_token}/messages/@original': {
    limit: 5,
    windowMs: 2_000,
    global: false,
    major: ['application_id', 'interaction_token'],
  },
  'PATCH /webhooks/{application_id}/{interaction_token}/messages/@original': {
    limit: 5,
    windowMs: 2_000,
    global: false,
    major: ['application_id', 'interaction_token'],
  },
} as const satisfies Record<string, RestRouteSpec>;

/** A route template as Discord's documentation writes it: `POST /channels/{channel_id}/messages`. */
export type RestRouteTemplate = keyof typeof RestRouteTable;

export const RestRouteTemplates = Object.keys(RestRouteTable) as RestRouteTemplate[];

export function isRestRouteTemplate(route: string): route is RestRouteTemplate {
  return Object.hasOwn(RestRouteTable, route);
}
