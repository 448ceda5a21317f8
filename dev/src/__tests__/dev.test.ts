import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type RunningSimulator, SimulatorControl, startSimulator } from '@shardfleet/simulator';
import { freePort, ProgramProcess, waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/shardfleet.js', import.meta.url));
const SECRET_TOKEN = 'not-a-real-token-but-a-secret-0123456789';

/** The test's environment without the variables that would point `shardfleet dev` elsewhere. */
function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const { DISCORD_TOKEN: _token, DISCORD_API_URL: _api, REDIS_URL: _redis, ...env } = process.env;
  return { ...env, ...extra };
}

function dev(args: readonly string[], env: NodeJS.ProcessEnv = cleanEnv()): ProgramProcess {
  return new ProgramProcess(process.execPath, [BIN, 'dev', ...args], { env });
}

/** Every process below `pid`, from /proc. */
async function descendants(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => null);
    // The command name may hold spaces and parentheses: the fields after its last `)` are fixed.
    const ppid = stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[1];
    if (ppid !== undefined) parents.set(Number(entry), Number(ppid));
  }
  const found: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    const parent = queue.shift()!;
    for (const [child, ppid] of parents) {
      if (ppid === parent) {
        found.push(child);
        queue.push(child);
      }
    }
  }
  return found;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('shardfleet dev', { timeout: 60_000 }, () => {
  let stateDir: string;
  let simulatorPort: number;
  const running: ProgramProcess[] = [];

  beforeAll(async () => {
    stateDir = await mkdtemp(path.join(tmpdir(), 'shardfleet-dev-'));
    simulatorPort = await freePort();
  });

  afterAll(async () => {
    // SIGINT, so a fleet left running by a failed test still stops its children.
    await Promise.all(running.map((program) => program.stop('SIGINT', 40_000)));
    await rm(stateDir, { recursive: true, force: true });
  });

  /** Runs the fleet against the simulator until "all shards ready". */
  async function startFleet(): Promise<{ fleet: ProgramProcess; control: SimulatorControl }> {
    const fleet = dev([
      '--state-dir',
      stateDir,
      '--simulator-port',
      String(simulatorPort),
      '--event-rate',
      '1',
    ]);
    running.push(fleet);
    await fleet.waitForLine(/all shards ready/, 30_000);
    expect(fleet.output).toContain('DISCORD SIMULATOR');
    expect(fleet.output).toContain(`simulator   http://127.0.0.1:${simulatorPort}`);
    return { fleet, control: new SimulatorControl(`http://127.0.0.1:${simulatorPort}`) };
  }

  /** The fleet's children: redis-server, the REST proxy, two shard workers and the bot. */
  async function childrenOf(fleet: ProgramProcess): Promise<number[]> {
    const children = await descendants(fleet.child.pid!);
    expect(children).toHaveLength(5);
    return children;
  }

  async function stopFleet(fleet: ProgramProcess): Promise<void> {
    const children = await childrenOf(fleet);
    expect(await fleet.stop('SIGINT', 40_000)).toEqual({ code: 0, signal: null });
    expect(fleet.output).toMatch(/stopped: Redis data, simulator sessions and logs are kept/);
    expect(children.filter(isAlive)).toEqual([]);
  }

  async function shardWorkerPid(fleet: ProgramProcess): Promise<number> {
    for (const pid of await childrenOf(fleet)) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.includes('shardfleet-shard.js')) return pid;
    }
    throw new Error(`no shard worker among the children:\n${fleet.output}`);
  }

  it('runs the fleet, answers !test-command, stops on SIGINT; the next run resumes without identifying', async () => {
    const first = await startFleet();
    const [guildId] = await first.control.guilds({ limit: 1 });
    const channel = (await first.control.guild(guildId!)).channels.find((c) => c.type === 0)!;
    const typed = await first.control.typeMessage({ channelId: channel.id, content: '!test-command' });
    const replies = await waitUntil(
      async () => {
        const messages = await first.control.botMessages(channel.id);
        return messages.length > 0 ? messages : null;
      },
      { timeoutMs: 15_000, description: 'the reply to !test-command' },
    );
    expect(replies[0]).toMatchObject({ content: `test-command received from <@${typed.author_id}>` });
    const afterFirst = await first.control.stats();
    expect(afterFirst.identifies).toBe(2);
    await stopFleet(first.fleet);

    const second = await startFleet();
    const afterSecond = await second.control.stats();
    expect(afterSecond.identifies).toBe(afterFirst.identifies);
    expect(afterSecond.resumes).toBe(afterFirst.resumes + 2);
    expect(second.fleet.output).toMatch(
      /all shards ready: 2 shards, bot reading events \(identifies 0, resumes 2\)/,
    );

    // A crashed shard worker comes back after the first backoff and resumes its shard.
    const linesBefore = second.fleet.lines.length;
    process.kill(await shardWorkerPid(second.fleet), 'SIGKILL');
    await second.fleet.waitForLine(/shard-worker-\d exited \(SIGKILL\): restarting in 1 s/, 10_000);
    await second.fleet.waitForLine(/shard \d \(worker \d\): ready -> worker (restarting|starting)/, 10_000);
    await waitUntil(
      () => second.fleet.lines.slice(linesBefore).some((line) => /all shards ready/.test(line)),
      {
        timeoutMs: 20_000,
        description: 'all shards ready again',
      },
    );
    const afterCrash = await second.control.stats();
    expect(afterCrash.identifies).toBe(afterFirst.identifies);
    expect(afterCrash.resumes).toBe(afterSecond.resumes + 1);
    await stopFleet(second.fleet);
  });

  it('stops the children a killed run left behind before it starts', async () => {
    const killed = await startFleet();
    const orphans = await childrenOf(killed.fleet);
    await killed.fleet.stop('SIGKILL', 5_000);
    expect(orphans.filter(isAlive)).toHaveLength(5);
    const next = await startFleet();
    expect(next.fleet.output).toContain('stopped 5 processes an earlier run left behind');
    expect(orphans.filter(isAlive)).toEqual([]);
    await stopFleet(next.fleet);
  });

  describe('bad configuration ends with one line and exit 1', () => {
    let simulator: RunningSimulator;
    const badRunDir = () => path.join(stateDir, 'bad-configuration');

    beforeAll(async () => {
      simulator = await startSimulator();
    });

    afterAll(async () => {
      await simulator?.close();
    });

    async function failure(program: ProgramProcess, message: RegExp): Promise<void> {
      running.push(program);
      expect((await program.exited).code).toBe(1);
      expect(program.lines.filter((line) => line.trim() !== '')).toHaveLength(1);
      expect(program.output).toMatch(message);
      expect(program.output).not.toContain(SECRET_TOKEN);
    }

    it('an unknown flag', async () => {
      await failure(dev(['--shard-count', '3']), /^shardfleet dev: unknown option --shard-count$/);
    });

    it('a bad flag value', async () => {
      await failure(dev(['--shards-per-worker', '0']), /^shardfleet dev: --shards-per-worker: /);
    });

    it('a token Discord refuses', async () => {
      const env = cleanEnv({ DISCORD_TOKEN: SECRET_TOKEN, DISCORD_API_URL: `${simulator.url}/api` });
      await failure(dev(['--state-dir', badRunDir()], env), /refused DISCORD_TOKEN \(401\)/);
    });

    it('an unreachable Redis', async () => {
      const env = cleanEnv({ REDIS_URL: `redis://:${SECRET_TOKEN}@127.0.0.1:${await freePort()}` });
      await failure(
        dev(['--state-dir', stateDir], env),
        /Redis at REDIS_URL redis:\/\/:\*\*\*@127\.0\.0\.1:\d+\/? is unreachable/,
      );
    });
  });
});
