import { fileURLToPath } from 'node:url';
import { freePort, ProgramProcess } from '@shardfleet/testing';
import { afterEach, describe, expect, it } from 'vitest';
import { AUTH, BOT_TOKEN, PROXY_TOKEN, postMessage, startWorld } from './harness.js';

const BIN = fileURLToPath(new URL('../../bin/shardfleet-rest-proxy.js', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function program(env: Record<string, string>): ProgramProcess {
  const child = new ProgramProcess(process.execPath, [BIN], {
    env: { PATH: process.env.PATH ?? '', ...env },
  });
  cleanups.push(() => child.stop('SIGKILL', 5_000));
  return child;
}

describe('shardfleet-rest-proxy', () => {
  it('exits 1 naming each bad variable, without showing a token', async () => {
    const child = program({
      DISCORD_TOKEN: BOT_TOKEN,
      PROXY_AUTH_TOKEN: 'short-token',
      PORT: 'eighty',
      GLOBAL_RATE_LIMIT: '0',
      REDIS_URL: 'localhost:6379',
    });
    const exit = await child.exited;
    expect(exit.code).toBe(1);
    expect(child.output).toContain('shardfleet-rest-proxy: invalid environment');
    for (const variable of ['PROXY_AUTH_TOKEN', 'PORT', 'GLOBAL_RATE_LIMIT', 'REDIS_URL']) {
      expect(child.output).toMatch(new RegExp(`^${variable}: `, 'm'));
    }
    expect(child.output).not.toContain('short-token');
  });

  it('forwards a request as a real process and stops gracefully on SIGTERM', async () => {
    const { simulator, channels } = await startWorld(2);
    cleanups.push(() => simulator.close());
    const port = await freePort();
    const child = program({
      DISCORD_TOKEN: BOT_TOKEN,
      DISCORD_API_URL: `${simulator.url}/api`,
      PROXY_AUTH_TOKEN: PROXY_TOKEN,
      PORT: String(port),
    });
    await child.waitForLine(/listening on http/, 20_000);
    const url = `http://127.0.0.1:${port}`;
    const channel = channels[0] as string;
    const response = await postMessage(url, channel, 'from the real program');
    expect(response.status).toBe(200);
    expect((await fetch(`${url}/api/v10/users/@me`, { headers: AUTH })).status).toBe(200);
    expect((await fetch(`${url}/api/v10/users/@me`)).status).toBe(401);
    expect((await simulator.control.botMessages(channel)).map((message) => message.content)).toEqual([
      'from the real program',
    ]);
    expect(await child.stop('SIGTERM', 20_000)).toEqual({ code: 0, signal: null });
    expect(child.output).toContain('shutting down');
    expect(child.output).not.toContain(BOT_TOKEN);
    expect(child.output).not.toContain(PROXY_TOKEN);
  });
});
