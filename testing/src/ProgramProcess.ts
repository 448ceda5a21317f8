import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { waitUntil } from './waitUntil.js';

export interface ProgramOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Lines kept from stdout and stderr together, oldest dropped first. @defaultValue 5_000 */
  keepLines?: number;
}

export interface ProgramExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * A real child process under test: its output lines are kept so a test can wait for one, and
 * `stop()` ends it (SIGTERM, then SIGKILL after a grace period) and resolves with how it exited.
 */
export class ProgramProcess {
  readonly child: ChildProcess;
  readonly lines: string[] = [];
  readonly exited: Promise<ProgramExit>;
  #exit: ProgramExit | undefined;
  readonly #keepLines: number;

  constructor(command: string, args: readonly string[], options: ProgramOptions = {}) {
    this.#keepLines = options.keepLines ?? 5_000;
    this.child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [this.child.stdout, this.child.stderr]) {
      if (!stream) continue;
      createInterface({ input: stream }).on('line', (line) => {
        this.lines.push(line);
        if (this.lines.length > this.#keepLines) this.lines.shift();
      });
    }
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        resolve(this.#exit);
      });
    });
  }

  get exit(): ProgramExit | undefined {
    return this.#exit;
  }

  get output(): string {
    return this.lines.join('\n');
  }

  /** Resolves with the first kept line matching `pattern`. */
  async waitForLine(pattern: RegExp, timeoutMs = 10_000): Promise<string> {
    return waitUntil(
      () => {
        const line = this.lines.find((candidate) => pattern.test(candidate));
        if (line === undefined && this.#exit) {
          throw new Error(
            `exited (${JSON.stringify(this.#exit)}) before printing ${pattern}:\n${this.output}`,
          );
        }
        return line;
      },
      { timeoutMs, description: `a line matching ${pattern} from ${this.child.spawnfile}` },
    );
  }

  /** Sends `signal` and waits for the exit; SIGKILL after `graceMs` if it is still running. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 30_000): Promise<ProgramExit> {
    if (this.#exit) return this.#exit;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    try {
      return await this.exited;
    } finally {
      clearTimeout(timer);
    }
  }
}
