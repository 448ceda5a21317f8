import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { SupervisedProgram } from './SupervisedProgram.js';

/**
 * The children run in their own process groups (see {@link SupervisedProgram}), so a `shardfleet
 * dev` killed with SIGKILL leaves them running. Their pids are kept in the state directory while
 * they run, and the next run stops what is left of them before it starts its own.
 */
const PIDS_FILE = 'pids.json';

interface RecordedChild {
  pid: number;
  /** `/proc/<pid>/cmdline` when it ran: a recycled pid of another program does not match. */
  cmdline: string;
}

function cmdlineOf(pid: number): string | null {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch {
    return null;
  }
}

/** Records the running children's pids. */
export function recordChildren(stateDir: string, programs: readonly SupervisedProgram[]): void {
  const children: RecordedChild[] = [];
  for (const { pid } of programs) {
    const cmdline = pid === null ? null : cmdlineOf(pid);
    if (pid !== null && cmdline !== null) children.push({ pid, cmdline });
  }
  writeFileSync(path.join(stateDir, PIDS_FILE), JSON.stringify(children));
}

/** After a clean stop nothing is left to find. */
export function forgetChildren(stateDir: string): void {
  rmSync(path.join(stateDir, PIDS_FILE), { force: true });
}

/**
 * Stops the children an earlier run left behind: SIGTERM (Redis saves its data, workers store their
 * sessions), SIGKILL for any still there after `graceMs`. Returns how many it found.
 */
export async function stopLeftovers(stateDir: string, graceMs = 10_000): Promise<number> {
  let recorded: RecordedChild[];
  try {
    recorded = JSON.parse(readFileSync(path.join(stateDir, PIDS_FILE), 'utf8')) as RecordedChild[];
  } catch {
    return 0;
  }
  const alive = () => recorded.filter(({ pid, cmdline }) => cmdlineOf(pid) === cmdline);
  const found = alive();
  for (const { pid } of found) process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (alive().length > 0 && Date.now() < deadline)
    await new Promise((resolve) => setTimeout(resolve, 100));
  for (const { pid } of alive()) process.kill(pid, 'SIGKILL');
  forgetChildren(stateDir);
  return found.length;
}
