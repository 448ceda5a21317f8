import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';

/** What a {@link SupervisedProgram} runs. */
export interface ProgramSpec {
  /** Shown in the view and log lines, such as `shard-worker-0`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: NodeJS.ProcessEnv;
  /** Its stdout and stderr are appended here. */
  readonly logFile: string;
}

export type ProgramState = 'running' | 'restarting' | 'stopping' | 'stopped';

/** First restart delay; doubled per crash in a row up to {@link MAX_BACKOFF_MS}. */
const FIRST_BACKOFF_MS = 1_000;
const MAX_BACKOFF_MS = 30_000;
/** A child that ran this long before it crashed starts over at the first delay. */
const STABLE_AFTER_MS = 30_000;

/**
 * A child process kept running: a crash is restarted after a backoff (1 s, 2 s, 4 s ... 30 s), and
 * `stop()` ends it with SIGTERM, then SIGKILL after a grace period. The child runs in its own process
 * group, so a Ctrl-C in the terminal reaches only `shardfleet dev`, which stops the children in order
 * (the shard workers must store their sessions while Redis still runs).
 */
export class SupervisedProgram {
  public state: ProgramState = 'stopped';
  public restarts = 0;
  public pid: number | null = null;
  /** When the next restart happens (ms since the epoch), while `state` is `restarting`. */
  public restartAt: number | null = null;
  /** Every pid this program had, so a test or the caller can check none is left. */
  public readonly pids: number[] = [];
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private restartTimer: NodeJS.Timeout | null = null;
  private crashesInARow = 0;

  public constructor(
    public readonly spec: ProgramSpec,
    /** Told about crashes and restarts, in one line each. */
    private readonly report: (line: string) => void,
  ) {}

  public start(): void {
    const output = openSync(this.spec.logFile, 'a');
    const startedAt = Date.now();
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, [...this.spec.args], {
        env: this.spec.env,
        stdio: ['ignore', output, output],
        detached: true,
      });
    } finally {
      closeSync(output);
    }
    this.child = child;
    this.state = 'running';
    this.pid = child.pid ?? null;
    if (child.pid !== undefined) this.pids.push(child.pid);
    this.exited = new Promise((resolve) => {
      child.once('error', (error) => {
        this.report(`${this.spec.name} could not start: ${error.message}`);
      });
      child.once('close', (code, signal) => {
        this.child = null;
        this.pid = null;
        resolve();
        if (this.state === 'stopping') return;
        this.crashesInARow = Date.now() - startedAt >= STABLE_AFTER_MS ? 1 : this.crashesInARow + 1;
        const delayMs = Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (this.crashesInARow - 1));
        this.state = 'restarting';
        this.restartAt = Date.now() + delayMs;
        this.report(
          `${this.spec.name} exited (${signal ?? `code ${String(code)}`}): restarting in ${delayMs / 1_000} s, ` +
            `see ${this.spec.logFile}`,
        );
        this.restartTimer = setTimeout(() => {
          this.restartTimer = null;
          this.restartAt = null;
          this.restarts++;
          this.start();
        }, delayMs);
      });
    });
  }

  /** Ends the program (and any pending restart); resolves once it exited. */
  public async stop(graceMs: number): Promise<void> {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = null;
    this.restartAt = null;
    const child = this.child;
    this.state = 'stopping';
    if (child) {
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      await this.exited;
      clearTimeout(timer);
    }
    this.state = 'stopped';
  }

  /** Ends the program at once (a second Ctrl-C). */
  public kill(): void {
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.state = 'stopping';
    this.child?.kill('SIGKILL');
  }
}
