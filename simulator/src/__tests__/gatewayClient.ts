import { inflateSync } from 'node:zlib';
import WebSocket from 'ws';

export interface ReceivedPayload {
  op: number;
  d: unknown;
  s: number | null;
  t: string | null;
}

/**
 * A bare gateway client for protocol tests: it sends exactly what a test says, records what arrives, and
 * lets a test wait for a payload or the close, each with a timeout.
 */
export class RawGatewayClient {
  public readonly received: ReceivedPayload[] = [];
  public closeCode: number | null = null;
  public closeReason = '';
  private readonly ws: WebSocket;
  private readonly waiters: (() => void)[] = [];

  public constructor(url: string) {
    this.ws = new WebSocket(url);
    this.ws.on('message', (data, isBinary) => {
      const text = isBinary
        ? inflateSync(data as Buffer).toString('utf8')
        : (data as Buffer).toString('utf8');
      this.received.push(JSON.parse(text) as ReceivedPayload);
      this.notify();
    });
    this.ws.on('close', (code, reason) => {
      this.closeCode = code;
      this.closeReason = reason.toString();
      this.notify();
    });
    this.ws.on('error', () => this.notify());
  }

  private notify(): void {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  public send(payload: unknown): void {
    this.ws.send(typeof payload === 'string' ? payload : JSON.stringify(payload));
  }

  public identify(token: string, extra: Record<string, unknown> = {}): void {
    this.send({
      op: 2,
      d: { token, intents: 513, properties: { os: 'linux', browser: 'test', device: 'test' }, ...extra },
    });
  }

  /** Resolves with the first received payload matching, waiting up to `timeoutMs`. */
  public async waitFor(
    match: (payload: ReceivedPayload) => boolean,
    timeoutMs = 5_000,
  ): Promise<ReceivedPayload> {
    return this.until(() => this.received.find(match), timeoutMs, 'payload');
  }

  public async waitForClose(timeoutMs = 5_000): Promise<number> {
    return this.until(() => this.closeCode ?? undefined, timeoutMs, 'close');
  }

  private async until<T>(probe: () => T | undefined, timeoutMs: number, what: string): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = probe();
      if (found !== undefined) return found;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}; received ops ${this.received.map((p) => p.t ?? p.op).join(',')}, close ${this.closeCode}`,
        );
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, remaining);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
  }

  public dispatches(t?: string): ReceivedPayload[] {
    return this.received.filter((payload) => payload.op === 0 && (t === undefined || payload.t === t));
  }

  public close(code = 1000): void {
    this.ws.close(code);
  }

  public terminate(): void {
    this.ws.terminate();
  }
}

/** Polls `probe` until it returns a defined value or the timeout passes. */
export async function waitUntil<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}
