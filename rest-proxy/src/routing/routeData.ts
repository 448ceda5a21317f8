/** How the proxy files one request: its rate-limit identity and its metrics label. */
export interface RouteData {
  /**
   * The method and route with ids replaced, as `@discordjs/rest` builds it:
   * `POST /channels/:id/messages`. Requests with the same route id share a bucket hash.
   */
  readonly routeId: string;
  /**
   * The major parameter's value (channel, guild, webhook id with its token), or `global` when the
   * route has none: requests with the same bucket hash and major parameter share a bucket.
   */
  readonly majorParameter: string;
  /** The route template used as a metrics label: ids, tokens and codes replaced. */
  readonly template: string;
  /** Interaction callbacks do not count against the global limit. */
  readonly exemptFromGlobal: boolean;
}

const SNOWFLAKE = /\d{17,19}/g;
const MAJOR_PARAMETER =
  /(?:^\/webhooks\/(\d{17,19}\/[^/?]+))|(?:^\/(?:channels|guilds|webhooks)\/(\d{17,19}))/;
const INTERACTION_CALLBACK = /^\/interactions\/[^/]+\/[^/]+\/callback$/;
const FOURTEEN_DAYS_MS = 14 * 24 * 60 * 60 * 1_000;
const DISCORD_EPOCH = 1_420_070_400_000n;

/** Path segments that carry user data rather than a route's shape. */
const TEMPLATE_RULES: readonly [RegExp, string][] = [
  [/\/reactions\/.*/, '/reactions/:reaction'],
  [/^\/webhooks\/:id\/[^/]+/, '/webhooks/:id/:token'],
  [/^\/interactions\/[^/]+\/[^/]+\//, '/interactions/:id/:token/'],
  [/^\/invites\/[^/]+/, '/invites/:code'],
  [/^\/guilds\/templates\/[^/]+/, '/guilds/templates/:code'],
  [/^\/guilds\/:id\/templates\/[^/]+/, '/guilds/:id/templates/:code'],
  // Other long numbers (malformed ids) and long opaque segments (tokens) carry data too.
  [/\/[^/]*\d{5}[^/]*(?=\/|$)/g, '/:id'],
  [/\/[^/]{33,}(?=\/|$)/g, '/:token'],
];

function snowflakeAgeMs(id: string, now: number): number {
  return now - Number((BigInt(id) >> 22n) + DISCORD_EPOCH);
}

/**
 * Files a request the way `@discordjs/rest` does, so the proxy's buckets line up with Discord's:
 * ids become `:id` except in the major parameter, reactions and webhook tokens are collapsed, and
 * deleting a message older than 14 days is its own bucket.
 *
 * @param method - The HTTP method, upper case.
 * @param path - The path after `/api` and the version, without the query string.
 */
export function routeData(method: string, path: string, now = Date.now()): RouteData {
  if (INTERACTION_CALLBACK.test(path)) {
    return {
      routeId: `${method} /interactions/:id/:token/callback`,
      majorParameter: path.split('/')[2] ?? 'global',
      template: '/interactions/:id/:token/callback',
      exemptFromGlobal: true,
    };
  }
  const majorMatch = MAJOR_PARAMETER.exec(path);
  const majorParameter = majorMatch?.[2] ?? majorMatch?.[1] ?? 'global';
  let bucketRoute = path
    .replaceAll(SNOWFLAKE, ':id')
    .replace(/\/reactions\/(.*)/, '/reactions/:reaction')
    .replace(/\/webhooks\/:id\/[^/?]+/, '/webhooks/:id/:token');
  if (method === 'DELETE' && bucketRoute === '/channels/:id/messages/:id') {
    const id = /\d{17,19}$/.exec(path)?.[0];
    if (id !== undefined && snowflakeAgeMs(id, now) > FOURTEEN_DAYS_MS) bucketRoute += '/Delete Old Message';
  }
  let template = path.replaceAll(SNOWFLAKE, ':id');
  for (const [pattern, replacement] of TEMPLATE_RULES) template = template.replace(pattern, replacement);
  return { routeId: `${method} ${bucketRoute}`, majorParameter, template, exemptFromGlobal: false };
}

/**
 * {@link routeData} remembered per method and path: a bot sends to the same channels over and
 * over, and filing a path runs a dozen regular expressions. Deletions are filed afresh each time,
 * as a message's age (its bucket) changes with the clock. At `capacity` paths the cache starts
 * over, so its memory stays bounded however many channels a bot reaches.
 */
export class RouteDataCache {
  private readonly routes = new Map<string, RouteData>();

  public constructor(private readonly capacity = 10_000) {}

  public get(method: string, path: string): RouteData {
    if (method === 'DELETE') return routeData(method, path);
    const key = `${method} ${path}`;
    let route = this.routes.get(key);
    if (route === undefined) {
      if (this.routes.size >= this.capacity) this.routes.clear();
      route = routeData(method, path);
      this.routes.set(key, route);
    }
    return route;
  }
}
