import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';

const BIN = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../bin/shardfleet-sim.js');
const children: ChildProcess[] = [];

function run(args: string[]): { child: ChildProcess; output: () => string; errors: () => string } {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (chunk) => {
    stdout += chunk;
  });
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  return { child, output: () => stdout, errors: () => stderr };
}

async function exitCode(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const [code] = (await once(child, 'exit')) as [number | null];
  return code;
}

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('shardfleet-sim', () => {
  it('prints its URL, serves REST and the gateway URL there, and exits 0 on SIGTERM', async () => {
    const { child, output } = run(['--port', '0', '--guilds', '2500', '--max-concurrency', '2']);
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no URL printed: ${output()}`)), 10_000);
      child.stdout?.on('data', () => {
        const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output());
        if (match?.[1]) {
          clearTimeout(timer);
          resolve(match[1]);
        }
      });
    });
    const gateway = (await (await fetch(`${url}/api/v10/gateway`)).json()) as { url: string };
    expect(gateway.url).toBe(url.replace('http://', 'ws://'));
    const bot = await fetch(`${url}/api/v10/gateway/bot`, {
      headers: { authorization: 'Bot simulator-token' },
    });
    expect(await bot.json()).toMatchObject({ shards: 4, session_start_limit: { max_concurrency: 2 } });
    child.kill('SIGTERM');
    expect(await exitCode(child)).toBe(0);
  });

  it('saves its state to --state-file on SIGTERM and refuses a file it cannot read', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'sim-cli-state-'));
    const stateFile = path.join(dir, 'state.json');
    try {
      const { child, output } = run(['--port', '0', '--state-file', stateFile]);
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no URL printed: ${output()}`)), 10_000);
        child.stdout?.on('data', () => {
          const match = /^listening on (http:\/\/127\.0\.0\.1:\d+)$/m.exec(output());
          if (match?.[1]) {
            clearTimeout(timer);
            resolve(match[1]);
          }
        });
      });
      // An answer means the program is past start-up, with its signal handlers in place.
      expect((await fetch(`${url}/_sim/stats`)).status).toBe(200);
      child.kill('SIGTERM');
      expect(await exitCode(child)).toBe(0);
      expect(JSON.parse(await readFile(stateFile, 'utf8'))).toMatchObject({ version: 1, identifies: 0 });

      const broken = run(['--port', '0', '--state-file', path.join(dir)]);
      expect(await exitCode(broken.child)).toBe(1);
      expect(broken.errors()).toMatch(/^shardfleet-sim: cannot restore --state-file /);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it.each([
    [['--guilds', 'many'], /--guilds:/],
    [['--public-url', 'ftp://x'], /--public-url:/],
    [['--privileged-intents', 'Guilds,Nope'], /--privileged-intents:.*Nope/],
    [['--no-such-flag'], /no-such-flag/],
  ])('exits 1 naming the bad option for %j', async (args, message) => {
    const { child, errors } = run(args);
    expect(await exitCode(child)).toBe(1);
    expect(errors()).toMatch(message);
    expect(errors()).not.toMatch(/\n\s+at /);
  });
});
