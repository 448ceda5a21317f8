import type { RestRateLimitStats } from '../rest/RestRateLimiter.js';
import type { LedgerEntry, LedgerQuery } from '../world/Ledger.js';
import type { SimInteraction } from '../world/Messaging.js';
import type { SimMessage } from '../world/payloads.js';
import type { RecordedCommand, SimulatedDiscord } from '../world/SimulatedDiscord.js';

/** What `GET /_sim/stats` answers. */
export type SimulatorStats = ReturnType<SimulatedDiscord['summary']> & {
  traffic: { rate: number; generated: number };
  rest: RestRateLimitStats;
};

/** Where a dispatch went: its shard, and its seq in the first session that took it (null if none did). */
export interface DispatchPlacement {
  shard: number;
  seq: number | null;
}

/** A control API call that did not succeed; `message` is the simulator's explanation. */
export class SimulatorControlError extends Error {
  public constructor(
    public readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'SimulatorControlError';
  }
}

/**
 * A typed client of the simulator's control API (`/_sim`), for tests and tools in other processes:
 * `new SimulatorControl('http://127.0.0.1:8787').stats()`.
 */
export class SimulatorControl {
  private readonly base: string;

  public constructor(simulatorUrl: string) {
    this.base = `${simulatorUrl.replace(/\/$/, '')}/_sim`;
  }

  private async call<T>(method: 'GET' | 'POST', path: string, body?: unknown): Promise<T> {
    const response = await fetch(`${this.base}${path}`, {
      method,
      ...(body === undefined
        ? {}
        : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
    });
    const answer = (await response.json()) as T & { error?: string };
    if (!response.ok) throw new SimulatorControlError(response.status, answer.error ?? response.statusText);
    return answer;
  }

  private static query(fields: Record<string, string | number | boolean | undefined>): string {
    const search = new URLSearchParams();
    for (const [key, value] of Object.entries(fields))
      if (value !== undefined) search.set(key, String(value));
    return search.size === 0 ? '' : `?${search}`;
  }

  public stats(): Promise<SimulatorStats> {
    return this.call('GET', '/stats');
  }

  public ledger(query: LedgerQuery = {}): Promise<LedgerEntry[]> {
    return this.call('GET', `/ledger${SimulatorControl.query({ ...query })}`);
  }

  /** Sends a dispatch to the shard that owns `guild_id` (or the event's own guild_id), or to `shard`. */
  public dispatch(event: {
    t: string;
    d: unknown;
    guild_id?: string;
    shard?: number;
  }): Promise<DispatchPlacement> {
    return this.call('POST', '/dispatch', event);
  }

  public disconnect(shard: number, code = 4_000): Promise<{ closed: number }> {
    return this.call('POST', '/disconnect', { shard, code });
  }

  /** Sends op 7 (RECONNECT). */
  public reconnect(shard: number): Promise<{ connections: number }> {
    return this.call('POST', '/reconnect', { shard });
  }

  /** Sends op 9 (INVALID_SESSION). */
  public invalidate(shard: number, resumable: boolean): Promise<{ connections: number }> {
    return this.call('POST', '/invalidate', { shard, resumable });
  }

  /** Sends a server-side op 1: the client must heartbeat at once. */
  public requestHeartbeat(shard: number): Promise<{ connections: number }> {
    return this.call('POST', '/heartbeat', { shard });
  }

  /** Stops (or resumes) acknowledging the shard's heartbeats. */
  public zombie(shard: number, enabled = true): Promise<{ connections: number }> {
    return this.call('POST', '/zombie', { shard, enabled });
  }

  public setGuildCount(count: number): Promise<{ count: number; recommendedShards: number }> {
    return this.call('POST', '/guilds', { count });
  }

  public guilds(query: { shard?: number; shardCount?: number; limit?: number } = {}): Promise<string[]> {
    return this.call(
      'GET',
      `/guilds${SimulatorControl.query({ shard: query.shard, shard_count: query.shardCount, limit: query.limit })}`,
    );
  }

  public guild(id: string): Promise<{
    id: string;
    name: string;
    owner_id: string;
    member_count: number;
    channels: { id: string; type: number; name: string }[];
  }> {
    return this.call('GET', `/guilds/${id}`);
  }

  /** Member `member` of the channel's guild types a message (MESSAGE_CREATE on the owning shard). */
  public typeMessage(message: {
    channelId: string;
    content: string;
    member?: number;
  }): Promise<DispatchPlacement & { id: string; author_id: string }> {
    return this.call('POST', '/messages', {
      channel_id: message.channelId,
      content: message.content,
      member: message.member,
    });
  }

  /** Messages the bot created through REST in a channel, oldest first. */
  public botMessages(channelId: string): Promise<SimMessage[]> {
    return this.call('GET', `/messages${SimulatorControl.query({ channel_id: channelId })}`);
  }

  /** A member runs a registered slash command (INTERACTION_CREATE on the owning shard). */
  public runCommand(command: {
    channelId: string;
    name: string;
    options?: unknown[];
    member?: number;
  }): Promise<DispatchPlacement & { id: string; token: string }> {
    return this.call('POST', '/interactions', {
      channel_id: command.channelId,
      name: command.name,
      options: command.options,
      member: command.member,
    });
  }

  public interaction(id: string): Promise<SimInteraction> {
    return this.call('GET', `/interactions/${id}`);
  }

  /** Gateway commands (op 3, 4, 8, 31) the simulator received. */
  public commands(query: { shard?: number; op?: number } = {}): Promise<RecordedCommand[]> {
    return this.call('GET', `/commands${SimulatorControl.query(query)}`);
  }

  public setTraffic(rate: number): Promise<{ rate: number }> {
    return this.call('POST', '/traffic', { rate });
  }

  /** Sets a REST route's bucket, e.g. `('POST /channels/{channel_id}/messages', 2, 1_000)`. */
  public setRouteLimit(route: string, limit: number, resetAfterMs: number): Promise<unknown> {
    return this.call('POST', '/ratelimits', { route, limit, reset_after_ms: resetAfterMs });
  }

  public setGlobalLimit(perSecond: number): Promise<unknown> {
    return this.call('POST', '/ratelimits', { global: perSecond });
  }

  /** The next `count` matching REST requests answer 429 as Discord would. */
  public force429(options: {
    count?: number;
    retryAfterMs: number;
    scope?: 'user' | 'global' | 'shared';
    route?: string;
  }): Promise<{ pending: number }> {
    return this.call('POST', '/force-429', {
      count: options.count,
      retry_after_ms: options.retryAfterMs,
      scope: options.scope,
      route: options.route,
    });
  }

  /** Back to the start state. */
  public reset(): Promise<{ ok: true }> {
    return this.call('POST', '/reset', {});
  }
}
