import type { Socket } from 'node:net';
import zlib from 'node:zlib';
import { GatewayCloseCodes, GatewayOpcodes } from 'discord-api-types/v10';
import type { RawData, WebSocket } from 'ws';
import type { ClosableConnection, SimulatedDiscord } from '../world/SimulatedDiscord.js';
import { CloseReason, closeEndsSession } from './closeCodes.js';
import type { FrameSink, GatewaySession } from './GatewaySession.js';
import { handleGatewayCommand } from './gatewayCommands.js';

const COMMAND_OPS = new Set<number>([
  GatewayOpcodes.PresenceUpdate,
  GatewayOpcodes.VoiceStateUpdate,
  GatewayOpcodes.RequestGuildMembers,
  GatewayOpcodes.RequestSoundboardSounds,
]);
/** Discord compresses large payloads when IDENTIFY asks for `compress: true`. */
const PAYLOAD_COMPRESSION_THRESHOLD = 1_024;
/** Grace on top of the heartbeat interval before a silent client is considered gone (less for short intervals). */
const HEARTBEAT_GRACE_MS = 5_000;
/** GUILD_CREATEs sent per turn of the event loop after READY: a few milliseconds of work. */
const GUILD_CREATES_PER_TURN = 25;

interface GatewayFrame {
  op: number;
  d: unknown;
}

/**
 * One client WebSocket: the HELLO/heartbeat loop, identify and resume, the per-connection limits, and
 * transport compression. The session it serves outlives it.
 */
export class GatewayConnection implements ClosableConnection, FrameSink {
  private session: GatewaySession | null = null;
  private heartbeatTimer: NodeJS.Timeout | null = null;
  private sendsInWindow = 0;
  private windowStartedAt = Date.now();
  private deflate: zlib.Deflate | null = null;
  private deflatedChunks: Buffer[] = [];
  private payloadCompression = false;
  private corked = false;
  private serverCloseCode: number | null = null;
  private closed = false;
  /** Cleared by the control API to simulate a zombied connection (no HEARTBEAT_ACK). */
  public ackHeartbeats = true;

  public constructor(
    private readonly ws: WebSocket,
    requestUrl: string,
    private readonly discord: SimulatedDiscord,
  ) {
    ws.on('message', (data, isBinary) => this.onMessage(data, isBinary));
    ws.on('close', (code) => this.onClose(code));
    ws.on('error', () => this.ws.terminate());
    const query = new URL(requestUrl, 'ws://simulator').searchParams;
    const problem = this.negotiate(query);
    if (problem) {
      this.close(problem.code, problem.reason);
      return;
    }
    this.sendPayload({
      op: GatewayOpcodes.Hello,
      d: { heartbeat_interval: discord.options.heartbeatIntervalMs, _trace: [] },
    });
    this.armHeartbeatDeadline();
  }

  private negotiate(query: URLSearchParams): { code: GatewayCloseCodes; reason: string } | null {
    if (query.get('v') !== '10')
      return { code: GatewayCloseCodes.InvalidAPIVersion, reason: CloseReason[4012] };
    const encoding = query.get('encoding') ?? 'json';
    if (encoding !== 'json') {
      return {
        code: GatewayCloseCodes.DecodeError,
        reason: `encoding=${encoding} is not supported by the simulator`,
      };
    }
    const compress = query.get('compress');
    if (compress === 'zlib-stream') {
      this.deflate = zlib.createDeflate({ flush: zlib.constants.Z_NO_FLUSH });
      this.deflate.on('data', (chunk: Buffer) => this.deflatedChunks.push(chunk));
    } else if (compress !== null) {
      return {
        code: GatewayCloseCodes.DecodeError,
        reason: `compress=${compress} is not supported by the simulator`,
      };
    }
    return null;
  }

  public sendFrame(frame: string): void {
    if (this.closed) return;
    if (this.deflate) {
      const deflate = this.deflate;
      deflate.write(frame);
      deflate.flush(zlib.constants.Z_SYNC_FLUSH, () => {
        if (this.closed) return;
        this.ws.send(Buffer.concat(this.deflatedChunks));
        this.deflatedChunks = [];
      });
      return;
    }
    this.corkUntilNextTick();
    if (this.payloadCompression && frame.length > PAYLOAD_COMPRESSION_THRESHOLD) {
      this.ws.send(zlib.deflateSync(frame));
    } else {
      this.ws.send(frame);
    }
  }

  /** Frames sent in one tick leave in one write: a load run sends tens of thousands per second. */
  private corkUntilNextTick(): void {
    if (this.corked) return;
    const socket = (this.ws as unknown as { _socket?: Socket })._socket;
    if (!socket) return;
    this.corked = true;
    socket.cork();
    process.nextTick(() => {
      this.corked = false;
      socket.uncork();
    });
  }

  private sendPayload(payload: { op: number; d: unknown }): void {
    this.sendFrame(JSON.stringify({ op: payload.op, d: payload.d, s: null, t: null }));
  }

  /** Asks the client for an immediate heartbeat (server-sent op 1). */
  public requestHeartbeat(): void {
    this.sendPayload({ op: GatewayOpcodes.Heartbeat, d: null });
  }

  public sendReconnect(): void {
    this.sendPayload({ op: GatewayOpcodes.Reconnect, d: null });
  }

  /** Sends op 9; a non-resumable invalidation also ends the session. */
  public invalidateSession(resumable: boolean): void {
    this.sendPayload({ op: GatewayOpcodes.InvalidSession, d: resumable });
    if (!resumable && this.session) {
      this.discord.endSession(this.session);
      this.session = null;
    }
  }

  /** Closes with `code` and, unless told otherwise, Discord's reason text for it. */
  public close(code: number, reason: string = CloseReason[code as GatewayCloseCodes] ?? ''): void {
    if (this.closed) return;
    this.serverCloseCode = code;
    // Dispatches from now on wait in the session for a RESUME instead of going to a closing socket.
    if (this.session?.sink === this) this.session.sink = null;
    this.ws.close(code, reason);
  }

  /** Drops the socket without a close frame, as a crashed server would. */
  public terminate(): void {
    this.ws.terminate();
  }

  private armHeartbeatDeadline(): void {
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.heartbeatTimer = setTimeout(
      () => this.close(GatewayCloseCodes.SessionTimedOut),
      this.discord.options.heartbeatIntervalMs +
        Math.min(HEARTBEAT_GRACE_MS, this.discord.options.heartbeatIntervalMs),
    );
    this.heartbeatTimer.unref();
  }

  private onMessage(data: RawData, isBinary: boolean): void {
    const buffer = Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer);
    if (buffer.length > this.discord.options.maxPayloadBytes) {
      this.close(GatewayCloseCodes.DecodeError, 'Payload too large.');
      return;
    }
    if (!this.countSend()) return;
    let frame: GatewayFrame;
    try {
      const parsed: unknown = JSON.parse(buffer.toString('utf8'));
      if (
        isBinary ||
        typeof parsed !== 'object' ||
        parsed === null ||
        !Number.isInteger((parsed as GatewayFrame).op)
      ) {
        throw new Error('not a gateway payload');
      }
      frame = parsed as GatewayFrame;
    } catch {
      this.close(GatewayCloseCodes.DecodeError);
      return;
    }
    this.handle(frame);
  }

  /** Counts a client payload against the per-connection send limit; false when the limit closed it. */
  private countSend(): boolean {
    const now = Date.now();
    if (now - this.windowStartedAt >= this.discord.options.sendWindowMs) {
      this.windowStartedAt = now;
      this.sendsInWindow = 0;
    }
    if (++this.sendsInWindow > this.discord.options.sendLimit) {
      this.close(GatewayCloseCodes.RateLimited);
      return false;
    }
    return true;
  }

  private handle(frame: GatewayFrame): void {
    switch (frame.op) {
      case GatewayOpcodes.Heartbeat:
        this.armHeartbeatDeadline();
        if (this.ackHeartbeats) this.sendPayload({ op: GatewayOpcodes.HeartbeatAck, d: null });
        return;
      case GatewayOpcodes.Identify:
        if (this.session) this.close(GatewayCloseCodes.AlreadyAuthenticated);
        else this.identify(frame.d);
        return;
      case GatewayOpcodes.Resume:
        if (this.session) this.close(GatewayCloseCodes.AlreadyAuthenticated);
        else this.resume(frame.d);
        return;
      default:
        if (!COMMAND_OPS.has(frame.op)) {
          this.close(GatewayCloseCodes.UnknownOpcode);
        } else if (!this.session) {
          this.close(GatewayCloseCodes.NotAuthenticated);
        } else {
          this.discord.recordCommand(this.session, frame.op, frame.d);
          handleGatewayCommand(this.discord, this.session, frame.op, frame.d);
        }
    }
  }

  private identify(d: unknown): void {
    const identify = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
    if (typeof identify.token !== 'string') {
      this.close(GatewayCloseCodes.AuthenticationFailed);
      return;
    }
    if (!Number.isInteger(identify.intents) || (identify.intents as number) < 0) {
      this.close(GatewayCloseCodes.InvalidIntents);
      return;
    }
    const shard = identify.shard ?? [0, 1];
    if (!Array.isArray(shard) || shard.length !== 2) {
      this.close(GatewayCloseCodes.InvalidShard);
      return;
    }
    const largeThreshold = identify.large_threshold ?? 50;
    if (
      !Number.isInteger(largeThreshold) ||
      (largeThreshold as number) < 50 ||
      (largeThreshold as number) > 250
    ) {
      this.close(GatewayCloseCodes.DecodeError, 'large_threshold must be an integer from 50 to 250.');
      return;
    }
    const outcome = this.discord.identify(
      {
        token: identify.token,
        shard: shard as [number, number],
        intents: identify.intents as number,
        largeThreshold: largeThreshold as number,
        presence: identify.presence ?? null,
      },
      this,
    );
    if (outcome.kind === 'close') {
      this.close(outcome.code, outcome.reason);
      return;
    }
    if (outcome.kind === 'invalid-session') {
      this.sendPayload({ op: GatewayOpcodes.InvalidSession, d: false });
      return;
    }
    this.payloadCompression = identify.compress === true && this.deflate === null;
    const session = outcome.session;
    this.attach(session);
    const { ready, guildCreates } = this.discord.readyDispatches(session);
    this.discord.dispatchToSession(session, 'READY', ready);
    this.dispatchGuildCreates(session, guildCreates, 0);
  }

  /**
   * The GUILD_CREATEs after READY, a batch per turn of the event loop, as Discord streams them. One
   * shard's flood sent at once would hold up every other connection: another shard's identify
   * arriving meanwhile would be timed late and the next one of its bucket counted too soon. They
   * go to the session, not the connection, so a connection lost midway resumes the rest.
   */
  private dispatchGuildCreates(
    session: GatewaySession,
    guilds: readonly { id: string; data: () => unknown }[],
    from: number,
  ): void {
    if (!this.discord.isLive(session)) return;
    const end = Math.min(from + GUILD_CREATES_PER_TURN, guilds.length);
    for (let index = from; index < end; index++) {
      const guild = guilds[index]!;
      this.discord.dispatchToSession(session, 'GUILD_CREATE', guild.data(), guild.id);
    }
    if (end < guilds.length) setImmediate(() => this.dispatchGuildCreates(session, guilds, end));
  }

  private resume(d: unknown): void {
    const resume = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
    if (typeof resume.token !== 'string' || typeof resume.session_id !== 'string') {
      this.close(GatewayCloseCodes.DecodeError);
      return;
    }
    const outcome = this.discord.resume(resume.token, resume.session_id, Number(resume.seq ?? 0), this);
    if (outcome.kind === 'close') {
      this.close(outcome.code);
      return;
    }
    if (outcome.kind === 'invalid-session') {
      this.sendPayload({ op: GatewayOpcodes.InvalidSession, d: false });
      return;
    }
    const session = outcome.session;
    this.attach(session);
    const { ok, replayed } = session.replayAfter(Number(resume.seq ?? 0));
    if (!ok) {
      this.session = null;
      this.discord.endSession(session);
      this.sendPayload({ op: GatewayOpcodes.InvalidSession, d: false });
      return;
    }
    this.discord.countReplay(session, replayed);
    this.discord.dispatchToSession(session, 'RESUMED', { _trace: ['["shardfleet-simulator",{"micros":0}]'] });
  }

  private attach(session: GatewaySession): void {
    this.session = session;
    session.sink = this;
  }

  private onClose(receivedCode: number): void {
    this.closed = true;
    if (this.heartbeatTimer) clearTimeout(this.heartbeatTimer);
    this.deflate?.close();
    const code = this.serverCloseCode ?? receivedCode;
    if (this.session) {
      this.discord.recordClose(this.session.shard, code);
      this.discord.detach(this.session, this, closeEndsSession(code));
    }
  }
}
