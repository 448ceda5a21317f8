// Small helpers for running system programs: capture output, fail with a clear error that shows
// the end of what the program printed.
import { spawn, spawnSync } from 'node:child_process';

/** A system program exited unsuccessfully. `outputTail` holds the last lines it printed. */
export class CommandFailedError extends Error {
  constructor(command, exitCode, signal, outputTail) {
    super(
      `\`${command}\` failed (${signal ? `signal ${signal}` : `exit code ${exitCode}`})` +
        (outputTail ? `:\n${outputTail}` : ''),
    );
    this.name = 'CommandFailedError';
    this.command = command;
    this.exitCode = exitCode;
    this.signal = signal;
    this.outputTail = outputTail;
  }
}

/** The last `count` non-empty lines of `text`. */
export function tailLines(text, count = 30) {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .slice(-count)
    .join('\n');
}

/** Whether `program` is an executable on PATH. */
export function onPath(program) {
  return spawnSync('sh', ['-c', 'command -v "$1"', 'sh', program], { stdio: 'ignore' }).status === 0;
}

/**
 * Runs `file args`, resolving with its stdout and stderr. `onOutput` (optional) receives each
 * chunk as it arrives, e.g. to write a build log.
 */
export function runCommand(file, args, { cwd, env, onOutput } = {}) {
  const command = [file, ...args].join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
      onOutput?.(chunk);
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
      onOutput?.(chunk);
    });
    child.once('error', (error) => reject(new Error(`cannot run \`${command}\`: ${error.message}`)));
    child.once('close', (exitCode, signal) => {
      if (exitCode === 0) resolve({ stdout, stderr });
      else reject(new CommandFailedError(command, exitCode, signal, tailLines(`${stdout}\n${stderr}`)));
    });
  });
}
