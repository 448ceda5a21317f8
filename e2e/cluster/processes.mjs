// Starting and stopping the cluster's long-running programs. Each is recorded by pid together with
// its executable, so stopping never signals an unrelated process that reused the pid.
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { tailLines } from './commands.mjs';

/**
 * Starts `executable args` with stdout and stderr appended to `logPath`. `detached` processes get
 * their own process group and outlive this Node process (used by `cluster:up`).
 */
export function startProcess({ name, executable, args, logPath, detached = false, env = process.env }) {
  const logFd = openSync(logPath, 'a');
  try {
    const child = spawn(executable, args, { stdio: ['ignore', logFd, logFd], detached, env });
    const exited = new Promise((resolve) => {
      child.once('exit', (code, signal) => resolve({ code, signal }));
      child.once('error', (error) => resolve({ code: null, signal: null, error }));
    });
    if (detached) child.unref();
    return { name, executable, pid: child.pid, logPath, exited };
  } finally {
    closeSync(logFd);
  }
}

/** The state letter of /proc/<pid>/stat, or undefined when there is no such process. */
function processState(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  } catch {
    return undefined;
  }
}

/**
 * Whether `pid` is a live (not zombie) process running `executable`. Without /proc, a live pid is
 * assumed to be ours.
 */
export function isRunning({ pid, executable }) {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch (error) {
    if (error.code !== 'EPERM') return false;
  }
  const state = processState(pid);
  if (state === 'Z' || state === 'X') return false;
  try {
    const argv0 = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
    return argv0 === executable;
  } catch {
    return state === undefined;
  }
}

/** Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Resolves once it is gone. */
export async function stopProcess(recorded, { graceMs = 10_000 } = {}) {
  if (!isRunning(recorded)) return false;
  const signal = (name) => {
    try {
      process.kill(recorded.pid, name);
    } catch {
      // Already gone.
    }
  };
  signal('SIGTERM');
  const deadline = Date.now() + graceMs;
  while (isRunning(recorded) && Date.now() < deadline) await sleep(100);
  if (isRunning(recorded)) {
    signal('SIGKILL');
    const killDeadline = Date.now() + 5_000;
    while (isRunning(recorded) && Date.now() < killDeadline) await sleep(100);
  }
  return true;
}

/** Synchronous last resort for an exiting process: SIGKILL whatever is still running. */
export function killNow(recordedProcesses) {
  for (const recorded of recordedProcesses) {
    if (isRunning(recorded)) {
      try {
        process.kill(recorded.pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/**
 * Polls `check()` every `intervalMs` until it resolves truthy (a rejection counts as not yet) and
 * resolves with that value. Rejects when `recorded` exits first or `timeoutMs` passes, with
 * `makeError(message)` (an Error by default): the message names `what` and ends with the last
 * `logLines` lines of the process's log.
 */
export async function waitForProcess(
  recorded,
  check,
  { what, timeoutMs, intervalMs = 250, logLines = 15, makeError = (message) => new Error(message) },
) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check().catch(() => false);
    if (result) return result;
    const running = isRunning(recorded);
    if (!running || Date.now() > deadline) {
      const log = tailLines(await readFile(recorded.logPath, 'utf8').catch(() => ''), logLines);
      const why = running ? `did not reach "${what}" within ${timeoutMs / 1000} s` : `exited before ${what}`;
      throw makeError(`${recorded.name} ${why}:\n${log}`);
    }
    await sleep(intervalMs);
  }
}
