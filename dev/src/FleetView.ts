import type { FleetSnapshot } from './FleetMonitor.js';
import type { SupervisedProgram } from './SupervisedProgram.js';

/** Lines of the event log kept under the live view. */
const RECENT_LINES = 6;
/** Without a TTY, a status line every this many snapshots (one a second). */
const PLAIN_STATUS_EVERY = 10;

const time = () => new Date().toISOString().slice(11, 19);

function programState(program: SupervisedProgram): string {
  if (program.state === 'restarting' && program.restartAt !== null) {
    return `restarting in ${Math.max(0, Math.ceil((program.restartAt - Date.now()) / 1_000))} s`;
  }
  return program.state;
}

/** The totals: two lines in the live view, one status line without a TTY. */
function summary(snapshot: FleetSnapshot): [string, string] {
  const ready = snapshot.shards.filter((shard) => shard.status === 'ready').length;
  return [
    `shards ${ready}/${snapshot.shards.length} ready · events/s ${snapshot.eventsPerSecond.toFixed(1)} · ` +
      `stream lag ${snapshot.streamLag ?? '-'} · bot ${snapshot.botReady ? 'reading' : 'not ready'}`,
    `REST ${snapshot.restRequests} requests, ${snapshot.rest429s} 429s · ` +
      `identifies ${snapshot.identifies} · resumes ${snapshot.resumes}`,
  ];
}

/** The live view's lines for a snapshot. */
export function renderSnapshot(snapshot: FleetSnapshot, recent: readonly string[]): string[] {
  const lines = ['', 'shard  status            latency  worker'];
  for (const shard of snapshot.shards) {
    const latency = shard.latencyMs === null ? '-' : `${shard.latencyMs} ms`;
    lines.push(
      `${String(shard.shard).padEnd(6)} ${shard.status.padEnd(17)} ${latency.padStart(7)}  ${shard.worker ?? '-'}`,
    );
  }
  lines.push('', ...summary(snapshot), '', 'program           state                 restarts  pid');
  for (const program of snapshot.programs) {
    lines.push(
      `${program.spec.name.padEnd(17)} ${programState(program).padEnd(21)} ${String(program.restarts).padStart(8)}  ${program.pid ?? '-'}`,
    );
  }
  lines.push('', ...recent, '', 'Ctrl-C stops everything (sessions are kept: the next run resumes them).');
  return lines;
}

/**
 * The terminal view. On a TTY it redraws its block in place with ANSI escapes (cursor up, clear to
 * the end of the screen), lines cut to the terminal's width so wrapping cannot break the count;
 * otherwise it prints event lines as they happen and a status line every 10 s.
 */
export class FleetView {
  private readonly recent: string[] = [];
  private drawnLines = 0;
  private snapshots = 0;
  private last: FleetSnapshot | null = null;

  public constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly live: boolean,
  ) {}

  /** Text printed once above the live view (the banner). */
  public print(text: string): void {
    this.out.write(`${text}\n`);
  }

  /** An event: a crash, a restart, "all shards ready". */
  public event(line: string): void {
    const stamped = `${time()} ${line}`;
    if (!this.live) {
      this.out.write(`${stamped}\n`);
      return;
    }
    this.recent.push(stamped);
    if (this.recent.length > RECENT_LINES) this.recent.shift();
    if (this.last) this.draw(this.last);
  }

  public draw(snapshot: FleetSnapshot): void {
    this.last = snapshot;
    if (!this.live) {
      if (this.snapshots++ % PLAIN_STATUS_EVERY === 0)
        this.out.write(`${time()} ${summary(snapshot).join(' · ')}\n`);
      return;
    }
    // A terminal that reports no width (0) gets the usual 80 columns.
    const width = Math.max(20, this.out.columns || 80) - 1;
    const lines = renderSnapshot(snapshot, this.recent).map((line) => line.slice(0, width));
    const up = this.drawnLines > 0 ? `\x1b[${this.drawnLines}F` : '';
    this.out.write(`${up}\x1b[0J${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }
}
