import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';

/** Thrown when Discord answers a REST call with an error status. */
export class DiscordHttpError extends Error {
  public constructor(
    /** The HTTP status. */
    public readonly status: number,
    /** The route called, such as `/gateway/bot`. */
    public readonly route: string,
    /** Discord's `message`, if the body had one. */
    public readonly discordMessage: string | null,
  ) {
    super(
      `Discord answered ${status} on GET ${route}${discordMessage === null ? '' : `: ${discordMessage}`}`,
    );
    this.name = 'DiscordHttpError';
  }
}

/** Required options of a {@link GatewayInfoClient}. */
export interface GatewayInfoClientOptions {
  /** The API base without the version, such as `https://discord.com/api`. */
  apiUrl: string;
  token: string;
  /** Per request. */
  timeoutMs: number;
}

const USER_AGENT = 'DiscordBot (https://github.com/shardfleet/shardfleet, 0.1.0)';

/**
 * The one REST call a shard worker makes, `GET /gateway/bot`, on plain node:http(s). It stands
 * in for @discordjs/rest in WebSocketManager's `rest` option, which only calls `get`: the full
 * client costs about 15 MB of memory in every shard pod for a request made a few times a day.
 */
export class GatewayInfoClient {
  public constructor(private readonly options: GatewayInfoClientOptions) {}

  /** GETs `route` (such as `/gateway/bot`) and parses the JSON answer. */
  public get(route: string): Promise<unknown> {
    const url = new URL(`${this.options.apiUrl}/v10${route}`);
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const outgoing = request(
        url,
        {
          method: 'GET',
          headers: { authorization: `Bot ${this.options.token}`, 'user-agent': USER_AGENT },
          timeout: this.options.timeoutMs,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            const status = response.statusCode ?? 0;
            let body: unknown = null;
            try {
              body = JSON.parse(text);
            } catch {
              // Not JSON: an error page; the status says enough.
            }
            if (status >= 200 && status < 300 && body !== null) {
              resolve(body);
              return;
            }
            const message = (body as { message?: unknown } | null)?.message;
            reject(new DiscordHttpError(status, route, typeof message === 'string' ? message : null));
          });
        },
      );
      outgoing.on('timeout', () =>
        outgoing.destroy(new Error(`GET ${route} timed out after ${this.options.timeoutMs} ms`)),
      );
      outgoing.on('error', reject);
      outgoing.end();
    });
  }
}
