import { randomBytes } from 'node:crypto';
import { ALL_INTENTS, PRIVILEGED_INTENTS } from '@shardfleet/protocol';
import { GatewayCloseCodes, GatewayIntentBits } from 'discord-api-types/v10';
import { type Logger, pino } from 'pino';
import { CloseReason } from '../gateway/closeCodes.js';
import { intentForEvent } from '../gateway/eventIntents.js';
import { GatewaySession } from '../gateway/GatewaySession.js';
import type { SimulatorOptions } from '../options.js';
import { GuildPopulation } from './GuildPopulation.js';
import { Ledger, type LedgerEntry } from './Ledger.js';
import { type BotIdentity, botIdentity, botUserObject, guildCreatePayload } from './payloads.js';

/**
 * Slack on the identify interval: a client that waits exactly the interval after its own previous send
 * can arrive a few milliseconds early by the server's clock, and Discord does not punish that.
 */
const IDENTIFY_CLOCK_SLACK_MS = 50;

/**
 * Past this many guilds a bot is under "large bot sharding": its shard count must be a multiple of an
 * assigned number, or identify closes with 4010. The simulator assigns its max_concurrency.
 */
const LARGE_BOT_GUILDS = 150_000;

/** Most guilds one shard may hold before Discord asks for more shards (close 4011). */
export const MAX_GUILDS_PER_SHARD = 2_500;

export interface ShardStats {
  connected: boolean;
  session: string | null;
  identifies: number;
  resumes: number;
  seq: number;
  dispatched: number;
  replayed: number;
  commands: number;
  violations: number;
  /** Most connections this shard id had open at once: above 1, two clients held the shard together. */
  peakConnections: number;
  closes: Record<string, number>;
}

export interface RecordedCommand {
  shard: number;
  session: string;
  op: number;
  d: unknown;
  at: number;
}

export interface IdentifyRequest {
  token: string;
  shard: [number, number];
  intents: number;
  largeThreshold: number;
  presence: unknown;
}

export type IdentifyOutcome =
  | { kind: 'close'; code: GatewayCloseCodes; reason?: string }
  | { kind: 'invalid-session' }
  | { kind: 'ready'; session: GatewaySession };

export type ResumeOutcome =
  | { kind: 'close'; code: GatewayCloseCodes }
  | { kind: 'invalid-session' }
  | { kind: 'resumed'; session: GatewaySession };

/** A session as saved to a state file: enough to resume it after the simulator restarts. */
export interface SavedSession {
  id: string;
  shard: number;
  shardCount: number;
  intents: number;
  largeThreshold: number;
  seq: number;
  presence: unknown;
  replay: { frame: string; entry: LedgerEntry }[];
}

/**
 * What survives a restart of the simulator (`stateFile`): the resumable sessions, the identify
 * budget and counters. The ledger, recorded commands and messages do not: they are for tests.
 */
export interface SavedDiscordState {
  version: 1;
  savedAt: number;
  identifies: number;
  resumes: number;
  violations: number;
  sessionStartRemaining: number;
  sessionPeriodStartedAt: number;
  lastIdentifyByBucket: [number, number][];
  shards: Record<string, ShardStats>;
  sessions: SavedSession[];
}

/** A live connection as the world sees it: something it can close. */
export interface ClosableConnection {
  close(code: number, reason: string): void;
}

/**
 * The state of the simulated Discord: the guild population, the token and identify budget, the gateway
 * sessions and their routing, and what was dispatched. Gateway connections, REST routes and the control
 * API all act through it.
 */
export class SimulatedDiscord {
  public readonly population: GuildPopulation;
  public readonly bot: BotIdentity;
  public readonly ledger: Ledger;
  public readonly commands: RecordedCommand[] = [];
  /** When members of a guild were last requested in full (op 8 allows one such request per 30 s). */
  public readonly allMembersRequestedAt = new Map<string, number>();
  public gatewayUrl = '';
  public readonly log: Logger;
  private validToken: string | null;
  private sessionStartRemaining: number;
  private sessionPeriodStartedAt = Date.now();
  private readonly lastIdentifyByBucket = new Map<number, number>();
  private readonly sessions = new Map<string, GatewaySession>();
  /** shard count -> shard id -> sessions, for routing a guild's events. */
  private readonly routes = new Map<number, Map<number, Set<GatewaySession>>>();
  private readonly shardStats = new Map<number, ShardStats>();
  private readonly connectionsBySession = new Map<GatewaySession, ClosableConnection>();
  private identifies = 0;
  private resumes = 0;
  private violations = 0;
  private tokenResets = 0;

  public constructor(public readonly options: SimulatorOptions) {
    this.log = options.logger ?? pino({ enabled: false });
    this.population = new GuildPopulation(options.guilds, options.seed);
    this.bot = botIdentity(options.seed);
    this.ledger = new Ledger(options.ledgerLimit);
    this.validToken = options.token;
    this.sessionStartRemaining = options.sessionLimit;
  }

  public isValidToken(token: string): boolean {
    return this.validToken !== null && token === this.validToken;
  }

  /** `session_start_limit` as GET /gateway/bot reports it. */
  public sessionStartLimit() {
    this.renewIdentifyBudget();
    return {
      total: this.options.sessionLimit,
      remaining: this.sessionStartRemaining,
      reset_after: Math.max(0, this.sessionPeriodStartedAt + this.options.sessionResetAfterMs - Date.now()),
      max_concurrency: this.options.maxConcurrency,
    };
  }

  public gatewayBot() {
    return {
      url: this.gatewayUrl,
      shards: this.population.recommendedShards(this.options.maxConcurrency),
      session_start_limit: this.sessionStartLimit(),
    };
  }

  private renewIdentifyBudget(): void {
    if (Date.now() >= this.sessionPeriodStartedAt + this.options.sessionResetAfterMs) {
      this.sessionPeriodStartedAt = Date.now();
      this.sessionStartRemaining = this.options.sessionLimit;
    }
  }

  public stats(shard: number): ShardStats {
    let stats = this.shardStats.get(shard);
    if (!stats) {
      stats = {
        connected: false,
        session: null,
        identifies: 0,
        resumes: 0,
        seq: 0,
        dispatched: 0,
        replayed: 0,
        commands: 0,
        violations: 0,
        peakConnections: 0,
        closes: {},
      };
      this.shardStats.set(shard, stats);
    }
    return stats;
  }

  /** Validates an IDENTIFY in Discord's order and, when it passes, opens the session. */
  public identify(request: IdentifyRequest, connection: ClosableConnection): IdentifyOutcome {
    if (!this.isValidToken(request.token))
      return { kind: 'close', code: GatewayCloseCodes.AuthenticationFailed };
    const [shard, shardCount] = request.shard;
    if (
      !Number.isInteger(shardCount) ||
      shardCount < 1 ||
      !Number.isInteger(shard) ||
      shard < 0 ||
      shard >= shardCount
    ) {
      return { kind: 'close', code: GatewayCloseCodes.InvalidShard };
    }
    if (this.population.size > LARGE_BOT_GUILDS && shardCount % this.options.maxConcurrency !== 0) {
      return {
        kind: 'close',
        code: GatewayCloseCodes.InvalidShard,
        reason: `Large bots must use a shard count that is a multiple of ${this.options.maxConcurrency}.`,
      };
    }
    if ((request.intents & ~ALL_INTENTS) !== 0)
      return { kind: 'close', code: GatewayCloseCodes.InvalidIntents };
    if ((request.intents & PRIVILEGED_INTENTS & ~this.options.privilegedIntents) !== 0) {
      return { kind: 'close', code: GatewayCloseCodes.DisallowedIntents };
    }
    const guilds = this.population.partition(shardCount)[shard] ?? [];
    if (guilds.length > MAX_GUILDS_PER_SHARD)
      return { kind: 'close', code: GatewayCloseCodes.ShardingRequired };

    const stats = this.stats(shard);
    const bucket = shard % this.options.maxConcurrency;
    const now = Date.now();
    const last = this.lastIdentifyByBucket.get(bucket);
    if (last !== undefined && now - last < this.options.identifyIntervalMs - IDENTIFY_CLOCK_SLACK_MS) {
      this.violations++;
      stats.violations++;
      this.log.warn(
        { shard, bucket, sinceLastMs: now - last },
        'identify too soon for its bucket: answered op 9 and counted a violation',
      );
      return { kind: 'invalid-session' };
    }
    this.renewIdentifyBudget();
    if (this.sessionStartRemaining <= 0) {
      this.log.error(
        { shard },
        'identify with the session start limit spent: every session ended, token reset',
      );
      this.resetToken();
      return {
        kind: 'close',
        code: GatewayCloseCodes.AuthenticationFailed,
        reason: 'Identify budget exhausted: token reset.',
      };
    }
    this.sessionStartRemaining--;
    this.lastIdentifyByBucket.set(bucket, now);
    this.identifies++;
    stats.identifies++;

    const session = new GatewaySession(
      randomBytes(16).toString('hex'),
      shard,
      shardCount,
      request.intents,
      request.largeThreshold,
      this.options.replayWindow,
    );
    session.presence = request.presence;
    this.sessions.set(session.id, session);
    this.routeSet(shardCount, shard).add(session);
    this.attachConnection(session, connection);
    stats.session = session.id;
    stats.seq = 0;
    this.log.info(
      {
        shard,
        shardCount,
        session: session.id,
        guilds: guilds.length,
        remaining: this.sessionStartRemaining,
      },
      'identified',
    );
    return { kind: 'ready', session };
  }

  /** The READY payload and the GUILD_CREATE payloads that follow it, for a freshly identified session. */
  public readyDispatches(session: GatewaySession): {
    ready: unknown;
    /** Built when sent: a large shard's payloads need not all exist at once. */
    guildCreates: { id: string; data: () => unknown }[];
  } {
    const indexes = this.population.partition(session.shardCount)[session.shard] ?? [];
    const joinedAt = new Date().toISOString();
    return {
      ready: {
        v: 10,
        user_settings: {},
        user: botUserObject(this.bot),
        guilds: indexes.map((index) => ({ id: this.population.idAt(index), unavailable: true })),
        session_id: session.id,
        session_type: 'normal',
        resume_gateway_url: this.gatewayUrl,
        shard: [session.shard, session.shardCount],
        application: { id: this.bot.id, flags: 0 },
        private_channels: [],
        relationships: [],
        presences: [],
        guild_join_requests: [],
        geo_ordered_rtc_regions: ['local'],
        _trace: ['["shardfleet-simulator",{"micros":0}]'],
      },
      guildCreates: indexes.map((index) => ({
        id: this.population.idAt(index),
        data: () => guildCreatePayload(this.population.guild(index), session.largeThreshold, joinedAt),
      })),
    };
  }

  public resume(
    token: string,
    sessionId: string,
    seq: number,
    connection: ClosableConnection,
  ): ResumeOutcome {
    if (!this.isValidToken(token)) return { kind: 'close', code: GatewayCloseCodes.AuthenticationFailed };
    const session = this.sessions.get(sessionId);
    if (!session) return { kind: 'invalid-session' };
    if (!Number.isInteger(seq) || seq > session.seq)
      return { kind: 'close', code: GatewayCloseCodes.InvalidSeq };
    const previous = this.connectionsBySession.get(session);
    if (previous && previous !== connection)
      previous.close(GatewayCloseCodes.UnknownError, 'Session resumed elsewhere.');
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.expiryTimer = null;
    this.attachConnection(session, connection);
    this.resumes++;
    const stats = this.stats(session.shard);
    stats.resumes++;
    stats.session = session.id;
    this.log.info(
      { shard: session.shard, session: session.id, fromSeq: seq, lastSeq: session.seq },
      'resumed',
    );
    return { kind: 'resumed', session };
  }

  private attachConnection(session: GatewaySession, connection: ClosableConnection): void {
    this.connectionsBySession.set(session, connection);
    const stats = this.stats(session.shard);
    stats.peakConnections = Math.max(stats.peakConnections, this.connectionsOfShard(session.shard).length);
  }

  /** Whether `session` can still be dispatched to or resumed. */
  public isLive(session: GatewaySession): boolean {
    return this.sessions.get(session.id) === session;
  }

  /** Drops a session that can no longer be resumed. */
  public endSession(session: GatewaySession): void {
    if (session.expiryTimer) clearTimeout(session.expiryTimer);
    session.sink = null;
    this.sessions.delete(session.id);
    this.connectionsBySession.delete(session);
    this.routes.get(session.shardCount)?.get(session.shard)?.delete(session);
  }

  /** A connection went away; the session stays resumable for the TTL unless `ended`. */
  public detach(session: GatewaySession, connection: ClosableConnection, ended: boolean): void {
    if (this.connectionsBySession.get(session) !== connection) return;
    this.connectionsBySession.delete(session);
    session.sink = null;
    if (ended) {
      this.endSession(session);
      return;
    }
    session.expiryTimer = setTimeout(() => this.endSession(session), this.options.sessionTtlMs);
    session.expiryTimer.unref();
  }

  public isConnected(shard: number): boolean {
    for (const [session] of this.connectionsBySession) {
      if (session.shard === shard && session.sink) return true;
    }
    return false;
  }

  /** Open connections of a shard id (any shard count). */
  public connectionsOfShard(shard: number): { session: GatewaySession; connection: ClosableConnection }[] {
    const found: { session: GatewaySession; connection: ClosableConnection }[] = [];
    for (const [session, connection] of this.connectionsBySession) {
      if (session.shard === shard) found.push({ session, connection });
    }
    return found;
  }

  private routeSet(shardCount: number, shard: number): Set<GatewaySession> {
    let byShard = this.routes.get(shardCount);
    if (!byShard) {
      byShard = new Map();
      this.routes.set(shardCount, byShard);
    }
    let set = byShard.get(shard);
    if (!set) {
      set = new Set();
      byShard.set(shard, set);
    }
    return set;
  }

  /**
   * Sends a dispatch to every session that owns the guild (or the shard, or shard 0 for guild-less events),
   * honouring intents. Returns the shard and the seq it got in the first session, or null if none took it.
   */
  public dispatch(
    t: string,
    data: unknown,
    target: { guildId?: string | null; shard?: number },
    entryId: string | null = null,
  ): { shard: number; seq: number | null } {
    const guildId = target.guildId ?? null;
    const required = intentForEvent(t, guildId !== null);
    let fullJson: string | undefined;
    let strippedJson: string | undefined;
    let firstShard: number | null = null;
    let firstSeq: number | null = null;
    for (const [shardCount, byShard] of this.routes) {
      const shard = target.shard ?? (guildId === null ? 0 : this.shardOfGuild(guildId, shardCount));
      firstShard ??= shard;
      for (const session of byShard.get(shard) ?? []) {
        if (required !== 0 && (session.intents & required) === 0) continue;
        const visible = this.applyContentIntent(t, data, session);
        let json: string;
        if (visible === data) {
          fullJson ??= JSON.stringify(data);
          json = fullJson;
        } else {
          strippedJson ??= JSON.stringify(visible);
          json = strippedJson;
        }
        const seq = this.sendToSession(session, t, json, entryId);
        firstSeq ??= seq;
      }
    }
    firstShard ??=
      target.shard ??
      (guildId === null
        ? 0
        : this.shardOfGuild(guildId, this.population.recommendedShards(this.options.maxConcurrency)));
    return { shard: firstShard, seq: firstSeq };
  }

  /** Dispatches to one session only (READY, GUILD_CREATE after identify, RESUMED, member chunks). */
  public dispatchToSession(
    session: GatewaySession,
    t: string,
    data: unknown,
    entryId: string | null = null,
  ): number {
    return this.sendToSession(session, t, JSON.stringify(data), entryId);
  }

  /** Numbers a dispatch in its session and records it in the ledger and the shard's stats; returns its seq. */
  private sendToSession(session: GatewaySession, t: string, json: string, entryId: string | null): number {
    const entry = session.dispatch(t, json, entryId);
    this.ledger.add(entry);
    const stats = this.stats(session.shard);
    stats.dispatched++;
    stats.seq = session.seq;
    return entry.seq;
  }

  private shardOfGuild(guildId: string, shardCount: number): number {
    const index = this.population.indexOf(guildId);
    if (index !== undefined) return this.population.shardOfIndex(index, shardCount);
    return Number((BigInt(guildId) >> 22n) % BigInt(shardCount));
  }

  /** Without MESSAGE_CONTENT, message content arrives empty unless the bot is the author or is mentioned. */
  private applyContentIntent(t: string, data: unknown, session: GatewaySession): unknown {
    if (session.intents & GatewayIntentBits.MessageContent) return data;
    if ((t !== 'MESSAGE_CREATE' && t !== 'MESSAGE_UPDATE') || typeof data !== 'object' || data === null)
      return data;
    const message = data as { author?: { id?: string }; mentions?: { id?: string }[]; guild_id?: string };
    if (!message.guild_id || message.author?.id === this.bot.id) return data;
    if (message.mentions?.some((user) => user.id === this.bot.id)) return data;
    return { ...message, content: '', embeds: [], attachments: [], components: [] };
  }

  public recordCommand(session: GatewaySession, op: number, d: unknown): void {
    this.commands.push({ shard: session.shard, session: session.id, op, d, at: Date.now() });
    this.stats(session.shard).commands++;
  }

  public recordClose(shard: number, code: number): void {
    this.log.info(
      { shard, code, reason: CloseReason[code as GatewayCloseCodes] ?? null },
      'connection closed',
    );
    const closes = this.stats(shard).closes;
    closes[code] = (closes[code] ?? 0) + 1;
  }

  public countReplay(session: GatewaySession, replayed: number): void {
    this.stats(session.shard).replayed += replayed;
  }

  /** What Discord does when the identify budget runs out: every session ends and the token is reset. */
  private resetToken(): void {
    this.validToken = null;
    this.tokenResets++;
    for (const [session, connection] of [...this.connectionsBySession]) {
      connection.close(GatewayCloseCodes.AuthenticationFailed, 'Token reset.');
      this.endSession(session);
    }
    for (const session of [...this.sessions.values()]) this.endSession(session);
  }

  /** Changes the guild population and tells live sessions about joined and left guilds. */
  public setGuildCount(count: number): void {
    const { added, removed } = this.population.resize(count);
    const joinedAt = new Date().toISOString();
    for (const index of added) {
      const guild = this.population.guild(index);
      this.dispatch('GUILD_CREATE', guildCreatePayload(guild, 50, joinedAt), { guildId: guild.id }, guild.id);
    }
    for (const index of removed) {
      const id = this.population.idAt(index);
      this.dispatch('GUILD_DELETE', { id }, { guildId: id }, id);
    }
  }

  public summary() {
    const shards: Record<string, ShardStats> = {};
    for (const [shard, stats] of [...this.shardStats].sort((a, b) => a[0] - b[0])) {
      shards[String(shard)] = { ...stats, connected: this.isConnected(shard) };
    }
    return {
      shards,
      identifies: this.identifies,
      resumes: this.resumes,
      violations: this.violations,
      sessionStartRemaining: this.sessionStartLimit().remaining,
      tokenResets: this.tokenResets,
      sessions: this.sessions.size,
      connections: this.connectionsBySession.size,
      guilds: this.population.size,
      ledger: { size: this.ledger.size, dropped: this.ledger.dropped },
    };
  }

  /** The state {@link SimulatedDiscord.restoreState} takes back, as JSON-safe data. */
  public saveState(): SavedDiscordState {
    return {
      version: 1,
      savedAt: Date.now(),
      identifies: this.identifies,
      resumes: this.resumes,
      violations: this.violations,
      sessionStartRemaining: this.sessionStartRemaining,
      sessionPeriodStartedAt: this.sessionPeriodStartedAt,
      lastIdentifyByBucket: [...this.lastIdentifyByBucket],
      shards: Object.fromEntries([...this.shardStats].map(([shard, stats]) => [String(shard), stats])),
      sessions: [...this.sessions.values()].map((session) => ({
        id: session.id,
        shard: session.shard,
        shardCount: session.shardCount,
        intents: session.intents,
        largeThreshold: session.largeThreshold,
        seq: session.seq,
        presence: session.presence,
        replay: session.replayLog(),
      })),
    };
  }

  /**
   * Takes back a saved state: the counters and budget, and every session as disconnected and
   * resumable for what is left of its TTL, counted from when the state was saved.
   */
  public restoreState(state: SavedDiscordState): void {
    this.identifies = state.identifies;
    this.resumes = state.resumes;
    this.violations = state.violations;
    this.sessionStartRemaining = state.sessionStartRemaining;
    this.sessionPeriodStartedAt = state.sessionPeriodStartedAt;
    for (const [bucket, at] of state.lastIdentifyByBucket) this.lastIdentifyByBucket.set(bucket, at);
    for (const [shard, stats] of Object.entries(state.shards)) {
      this.shardStats.set(Number(shard), { ...stats, connected: false });
    }
    const ttlLeftMs = state.savedAt + this.options.sessionTtlMs - Date.now();
    if (ttlLeftMs <= 0) return;
    for (const saved of state.sessions) {
      const session = new GatewaySession(
        saved.id,
        saved.shard,
        saved.shardCount,
        saved.intents,
        saved.largeThreshold,
        this.options.replayWindow,
      );
      session.presence = saved.presence;
      session.restoreReplay(saved.seq, saved.replay);
      this.sessions.set(session.id, session);
      this.routeSet(session.shardCount, session.shard).add(session);
      session.expiryTimer = setTimeout(() => this.endSession(session), ttlLeftMs);
      session.expiryTimer.unref();
    }
  }

  /** Back to the start state: every connection closed, sessions and records forgotten, budget restored. */
  public reset(): void {
    for (const [session, connection] of [...this.connectionsBySession]) {
      connection.close(GatewayCloseCodes.UnknownError, 'Simulator reset.');
      this.endSession(session);
    }
    for (const session of [...this.sessions.values()]) this.endSession(session);
    this.routes.clear();
    this.shardStats.clear();
    this.lastIdentifyByBucket.clear();
    this.ledger.clear();
    this.commands.length = 0;
    this.allMembersRequestedAt.clear();
    this.validToken = this.options.token;
    this.sessionStartRemaining = this.options.sessionLimit;
    this.sessionPeriodStartedAt = Date.now();
    this.identifies = 0;
    this.resumes = 0;
    this.violations = 0;
    this.tokenResets = 0;
    this.population.resize(this.options.guilds);
  }
}
