import { createHash } from 'node:crypto';

/** What `GET /gateway/bot` says, in the operator's terms. */
export interface GatewayInfo {
  readonly recommendedShards: number;
  readonly maxConcurrency: number;
  readonly sessionStartLimit: {
    readonly total: number;
    readonly remaining: number;
    readonly resetAfter: number;
  };
  /** When Discord answered, ISO 8601. */
  readonly checkedAt: string;
}

/** Discord refused the token (401). */
export class InvalidTokenError extends Error {
  public constructor(public readonly apiUrl: string) {
    super(`Discord at ${apiUrl} refused the bot token (401 Unauthorized)`);
    this.name = 'InvalidTokenError';
  }
}

/** Discord could not be asked: a network error, a timeout, a 5xx, a 429 or a malformed answer. */
export class GatewayUnreachableError extends Error {
  public constructor(
    public readonly apiUrl: string,
    public readonly detail: string,
    /** How long Discord asked to wait (429), if it did. */
    public readonly retryAfterMs?: number,
  ) {
    super(`GET ${apiUrl}/v10/gateway/bot failed: ${detail}`);
    this.name = 'GatewayUnreachableError';
  }
}

/** Fetches gateway information for a token: the swappable edge to Discord. */
export interface IGatewayClient {
  fetchGatewayBot(apiUrl: string, token: string): Promise<GatewayInfo>;
}

/** Options of a {@link GatewayChecker}. */
export interface GatewayCheckerOptions {
  /** A bot's information is fetched again after this long. @defaultValue `600_000` */
  readonly recheckIntervalMs?: number;
  /**
   * Answers for one application (API URL and token) younger than this are shared, however many
   * bots or spec changes ask: Discord limits this route, and many DiscordBots may share a token.
   * @defaultValue `5_000`
   */
  readonly minFetchIntervalMs?: number;
  /** @defaultValue `Date.now` */
  readonly now?: () => number;
}

/** The answer, or the failure, of one application's last fetch. */
type Outcome = { readonly info: GatewayInfo } | { readonly error: Error };

interface AppEntry {
  fetchedAt: number;
  outcome?: Outcome;
  pending?: Promise<Outcome>;
}

interface BotEntry {
  readonly appKey: string;
  readonly generation: number;
  readonly fetchedAt: number;
}

const REQUEST_TIMEOUT_MS = 10_000;

/** The default {@link IGatewayClient}: `fetch` against `<apiUrl>/v10/gateway/bot`. */
export class FetchGatewayClient implements IGatewayClient {
  public async fetchGatewayBot(apiUrl: string, token: string): Promise<GatewayInfo> {
    let response: Response;
    try {
      response = await fetch(`${apiUrl}/v10/gateway/bot`, {
        headers: {
          authorization: `Bot ${token}`,
          'user-agent': 'DiscordBot (https://shardfleet.dev, shardfleet-operator)',
        },
        signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
      });
    } catch (error) {
      const cause = (error as Error & { cause?: Error }).cause;
      throw new GatewayUnreachableError(apiUrl, cause?.message ?? (error as Error).message);
    }
    if (response.status === 401) throw new InvalidTokenError(apiUrl);
    if (response.status === 429) {
      const retryAfter = Number(response.headers.get('retry-after'));
      throw new GatewayUnreachableError(
        apiUrl,
        '429 Too Many Requests',
        Number.isFinite(retryAfter) ? retryAfter * 1_000 : undefined,
      );
    }
    if (!response.ok) throw new GatewayUnreachableError(apiUrl, `${response.status} ${response.statusText}`);
    const body = (await response.json().catch(() => undefined)) as
      | {
          shards?: unknown;
          session_start_limit?: {
            total?: unknown;
            remaining?: unknown;
            reset_after?: unknown;
            max_concurrency?: unknown;
          };
        }
      | undefined;
    const limit = body?.session_start_limit;
    const numbers = [
      body?.shards,
      limit?.total,
      limit?.remaining,
      limit?.reset_after,
      limit?.max_concurrency,
    ];
    if (!numbers.every((value) => typeof value === 'number' && Number.isInteger(value) && value >= 0)) {
      throw new GatewayUnreachableError(apiUrl, 'the answer is not a gateway/bot object');
    }
    const [shards, total, remaining, resetAfter, maxConcurrency] = numbers as number[];
    return {
      recommendedShards: Math.max(1, shards!),
      maxConcurrency: Math.max(1, maxConcurrency!),
      sessionStartLimit: { total: total!, remaining: remaining!, resetAfter: resetAfter! },
      checkedAt: new Date().toISOString(),
    };
  }
}

function appKeyOf(apiUrl: string, token: string): string {
  // The token itself is never kept as a key: only a digest of it.
  return `${apiUrl}#${createHash('sha256').update(token).digest('hex')}`;
}

/**
 * Asks Discord for a bot's gateway information no more often than needed: again after the
 * re-check interval, when the bot's spec (generation) or token changes, and never twice within
 * the minimum fetch interval for one application. Failures are cached like answers, so a bad
 * token or an unreachable Discord is not asked in a tight loop.
 */
export class GatewayChecker {
  readonly #client: IGatewayClient;
  readonly #recheckIntervalMs: number;
  readonly #minFetchIntervalMs: number;
  readonly #now: () => number;
  readonly #apps = new Map<string, AppEntry>();
  readonly #bots = new Map<string, BotEntry>();

  public constructor(client: IGatewayClient, options: GatewayCheckerOptions = {}) {
    this.#client = client;
    this.#recheckIntervalMs = options.recheckIntervalMs ?? 600_000;
    this.#minFetchIntervalMs = options.minFetchIntervalMs ?? 5_000;
    this.#now = options.now ?? Date.now;
  }

  /**
   * The gateway information for a bot.
   *
   * @param bot - The bot's key (`namespace/name`).
   * @param generation - The bot's `metadata.generation`: a new one asks again.
   * @returns The information and when the next check is due, in ms from now.
   * @throws {@link InvalidTokenError} or {@link GatewayUnreachableError}.
   */
  public async check(
    bot: string,
    generation: number,
    apiUrl: string,
    token: string,
  ): Promise<{ info: GatewayInfo; recheckInMs: number }> {
    const appKey = appKeyOf(apiUrl, token);
    const now = this.#now();
    const known = this.#bots.get(bot);
    const app = this.#apps.get(appKey);
    const botFresh =
      known !== undefined &&
      known.appKey === appKey &&
      known.generation === generation &&
      now - known.fetchedAt < this.#recheckIntervalMs;
    let outcome: Outcome;
    let fetchedAt: number;
    const young = app !== undefined && now - app.fetchedAt < this.#minFetchIntervalMs;
    // An answer (or a refused token) holds until the re-check; an unreachable Discord is asked
    // again on the caller's backoff, but never within the minimum fetch interval.
    const settled =
      app?.outcome !== undefined &&
      (!('error' in app.outcome) || app.outcome.error instanceof InvalidTokenError);
    if (app?.outcome !== undefined && ((settled && botFresh) || young)) {
      outcome = app.outcome;
      fetchedAt = botFresh ? known.fetchedAt : app.fetchedAt;
    } else {
      const entry = app ?? { fetchedAt: 0 };
      this.#apps.set(appKey, entry);
      entry.pending ??= this.#fetch(entry, apiUrl, token);
      outcome = await entry.pending;
      fetchedAt = entry.fetchedAt;
    }
    this.#bots.set(bot, { appKey, generation, fetchedAt });
    if ('error' in outcome) throw outcome.error;
    return {
      info: outcome.info,
      recheckInMs: Math.max(0, fetchedAt + this.#recheckIntervalMs - this.#now()),
    };
  }

  /** Forgets a deleted bot. */
  public forget(bot: string): void {
    this.#bots.delete(bot);
  }

  async #fetch(entry: AppEntry, apiUrl: string, token: string): Promise<Outcome> {
    let outcome: Outcome;
    try {
      outcome = { info: await this.#client.fetchGatewayBot(apiUrl, token) };
    } catch (error) {
      outcome = { error: error instanceof Error ? error : new Error(String(error)) };
    }
    entry.fetchedAt = this.#now();
    entry.outcome = outcome;
    entry.pending = undefined;
    return outcome;
  }
}
