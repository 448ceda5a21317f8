import { afterEach, describe, expect, it } from 'vitest';
import { createConnection } from 'node:net';
import { RedisServer } from '../RedisServer.js';

function ping(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createConnection(port, '127.0.0.1', () => socket.write('PING\r\n'));
    socket.once('data', (data) => {
      socket.destroy();
      resolve(data.toString().trim());
    });
    socket.once('error', reject);
  });
}

describe('RedisServer', () => {
  let server: RedisServer | undefined;
  afterEach(async () => server?.stop());

  it('serves on its own port, stops, and comes back on the same port', async () => {
    server = await RedisServer.start();
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}`);
    expect(await ping(server.port)).toBe('+PONG');
    await server.stop();
    await expect(ping(server.port)).rejects.toThrow(/ECONNREFUSED/);
    await server.start();
    expect(await ping(server.port)).toBe('+PONG');
  });
});
