import { type InternalRequest, REST, type RESTOptions, type ResponseLike } from '@discordjs/rest';

/**
 * `@discordjs/rest` pointed at the REST proxy. Discord takes interaction callbacks and webhook
 * routes without a token, so the client sends them without `Authorization`; the proxy wants its
 * Bearer token on every request, so it is always sent (the proxy replaces it with the bot token,
 * which Discord accepts on those routes too).
 */
export class ProxyRest extends REST {
  public constructor(proxyUrl: string, proxyToken: string, options: Partial<RESTOptions> = {}) {
    super({ ...options, api: `${proxyUrl}/api`, authPrefix: 'Bearer' });
    this.setToken(proxyToken);
  }

  public override queueRequest(request: InternalRequest): Promise<ResponseLike> {
    return super.queueRequest({ ...request, auth: true });
  }
}
