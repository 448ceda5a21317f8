import { execFileSync, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';

const protocolDir = fileURLToPath(new URL('../..', import.meta.url));
const distIndex = new URL('../../dist/index.js', import.meta.url).href;
const tsc = fileURLToPath(new URL('../../../node_modules/typescript/bin/tsc', import.meta.url));
const TOKEN = 'MTE3ODI4NzY1NTMwNzI1NTgzOA.Gabcde.secret-token-value_xyz';

// The child process runs the compiled package, the way the programs do.
beforeAll(() => {
  execFileSync(process.execPath, [tsc, '-b', protocolDir], { stdio: 'pipe' });
});

function runProgram(env: Record<string, string>) {
  const script = `
    import { loadConfigOrExit, shardEnvSchema } from ${JSON.stringify(distIndex)};
    const config = loadConfigOrExit(shardEnvSchema, 'shardfleet-shard');
    process.stdout.write(JSON.stringify(config.shardIds));
  `;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { PATH: process.env.PATH ?? '', ...env },
    encoding: 'utf8',
  });
}

describe('loadConfigOrExit', () => {
  it('exits 1 naming each bad variable, one line each, without the token', () => {
    const result = runProgram({
      DISCORD_TOKEN: TOKEN,
      SHARD_COUNT: 'abc',
      SHARDS_PER_POD: '16',
      PORT: TOKEN,
    });
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('shardfleet-shard: invalid environment');
    expect(lines).toContain('SHARD_COUNT: expected a positive integer, got "abc"');
    expect(lines).toContain('SHARDFLEET_BOT: required');
    expect(lines).toContain('REDIS_URL: required');
    expect(lines).toContain('POD_NAME: required unless WORKER_ID is set');
    expect(lines.find((line) => line.startsWith('PORT: '))).toBeDefined();
    expect(lines).toHaveLength(6);
    expect(result.stderr).not.toContain(TOKEN);
  });

  it('returns the config of a valid environment', () => {
    const result = runProgram({
      SHARDFLEET_BOT: 'default.mybot',
      DISCORD_TOKEN: TOKEN,
      SHARD_COUNT: '4',
      SHARDS_PER_POD: '2',
      POD_NAME: 'mybot-shards-1',
      REDIS_URL: 'redis://localhost:6379',
    });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([2, 3]);
  });
});
