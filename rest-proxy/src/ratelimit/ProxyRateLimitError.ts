/** Why the proxy itself refused a request with 429. */
export type ProxyRateLimitScope = 'global' | 'bucket' | 'queue';

/** The proxy answers a request 429 itself: its wait for a rate-limit slot would pass the bound. */
export class ProxyRateLimitError extends Error {
  public constructor(
    /** Which limit: the global one, the route's bucket, or a full queue. */
    public readonly scope: ProxyRateLimitScope,
    /** When a retry may succeed, in ms. */
    public readonly retryAfterMs: number,
  ) {
    super(`rate limited by the proxy (${scope}), retry after ${retryAfterMs} ms`);
    this.name = 'ProxyRateLimitError';
  }
}
