import { Socket } from 'node:net';
import { freePort } from '@shardfleet/protocol';
import { ProgramProcess } from './ProgramProcess.js';
import { waitUntil } from './waitUntil.js';

/**
 * A real `redis-server` on a free loopback port with persistence off. `stop()` and `start()` keep
 * the port, so a test can take Redis away under load and bring it back at the same URL.
 */
export class RedisServer {
  readonly port: number;
  #process: ProgramProcess | undefined;

  private constructor(port: number) {
    this.port = port;
  }

  static async start(port?: number): Promise<RedisServer> {
    const server = new RedisServer(port ?? (await freePort()));
    await server.start();
    return server;
  }

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  get running(): boolean {
    return this.#process !== undefined && this.#process.exit === undefined;
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.#process = new ProgramProcess('redis-server', [
      '--port',
      String(this.port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--daemonize',
      'no',
    ]);
    this.#process.child.once('error', () => undefined);
    await waitUntil(() => this.#ping(), {
      timeoutMs: 10_000,
      description: `redis-server on port ${this.port}`,
    });
  }

  /** Stops the server; its data is gone (persistence is off). */
  async stop(): Promise<void> {
    await this.#process?.stop('SIGKILL', 5_000);
    this.#process = undefined;
  }

  #ping(): Promise<boolean> {
    return new Promise((resolve) => {
      const socket = new Socket();
      const done = (ok: boolean) => {
        socket.destroy();
        resolve(ok);
      };
      socket.setTimeout(500, () => done(false));
      socket.once('error', () => done(false));
      socket.once('data', (data) => done(data.toString().startsWith('+PONG')));
      socket.connect(this.port, '127.0.0.1', () => socket.write('PING\r\n'));
    });
  }
}
