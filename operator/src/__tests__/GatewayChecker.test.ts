import { describe, expect, it } from 'vitest';
import {
  GatewayChecker,
  type GatewayInfo,
  GatewayUnreachableError,
  type IGatewayClient,
  InvalidTokenError,
} from '../gateway/GatewayChecker.js';

const INFO: GatewayInfo = {
  recommendedShards: 5,
  maxConcurrency: 1,
  sessionStartLimit: { total: 1_000, remaining: 1_000, resetAfter: 0 },
  checkedAt: '2026-01-01T00:00:00.000Z',
};

class FakeClient implements IGatewayClient {
  calls: { apiUrl: string; token: string }[] = [];
  answer: () => GatewayInfo = () => INFO;

  async fetchGatewayBot(apiUrl: string, token: string): Promise<GatewayInfo> {
    this.calls.push({ apiUrl, token });
    await Promise.resolve();
    return this.answer();
  }
}

function setup() {
  const client = new FakeClient();
  let now = 1_000_000;
  const checker = new GatewayChecker(client, {
    recheckIntervalMs: 60_000,
    minFetchIntervalMs: 5_000,
    now: () => now,
  });
  return { client, checker, advance: (ms: number) => (now += ms) };
}

describe('GatewayChecker', () => {
  it('asks once and answers from the cache until the re-check is due', async () => {
    const { client, checker, advance } = setup();
    expect(await checker.check('ns/a', 1, 'http://d', 't')).toEqual({ info: INFO, recheckInMs: 60_000 });
    advance(30_000);
    expect((await checker.check('ns/a', 1, 'http://d', 't')).recheckInMs).toBe(30_000);
    expect(client.calls).toHaveLength(1);
    advance(30_000);
    await checker.check('ns/a', 1, 'http://d', 't');
    expect(client.calls).toHaveLength(2);
  });

  it('asks again on a spec change, but not within the minimum interval', async () => {
    const { client, checker, advance } = setup();
    await checker.check('ns/a', 1, 'http://d', 't');
    await checker.check('ns/a', 2, 'http://d', 't');
    expect(client.calls).toHaveLength(1);
    advance(5_000);
    await checker.check('ns/a', 3, 'http://d', 't');
    expect(client.calls).toHaveLength(2);
  });

  it('shares one request among bots of one application, and asks for another token', async () => {
    const { client, checker } = setup();
    await Promise.all(
      Array.from({ length: 100 }, (_, i) => checker.check(`ns/bot-${i}`, 1, 'http://d', 't')),
    );
    expect(client.calls).toHaveLength(1);
    await checker.check('ns/other', 1, 'http://d', 'another-token');
    expect(client.calls).toHaveLength(2);
  });

  it('keeps a refused token refused until the re-check, without asking again', async () => {
    const { client, checker, advance } = setup();
    client.answer = () => {
      throw new InvalidTokenError('http://d');
    };
    await expect(checker.check('ns/a', 1, 'http://d', 'bad')).rejects.toBeInstanceOf(InvalidTokenError);
    advance(10_000);
    await expect(checker.check('ns/a', 1, 'http://d', 'bad')).rejects.toBeInstanceOf(InvalidTokenError);
    expect(client.calls).toHaveLength(1);
  });

  it('asks an unreachable Discord again after the minimum interval only', async () => {
    const { client, checker, advance } = setup();
    client.answer = () => {
      throw new GatewayUnreachableError('http://d', 'ECONNREFUSED');
    };
    await expect(checker.check('ns/a', 1, 'http://d', 't')).rejects.toBeInstanceOf(GatewayUnreachableError);
    await expect(checker.check('ns/a', 1, 'http://d', 't')).rejects.toBeInstanceOf(GatewayUnreachableError);
    expect(client.calls).toHaveLength(1);
    advance(5_000);
    client.answer = () => INFO;
    expect((await checker.check('ns/a', 1, 'http://d', 't')).info).toEqual(INFO);
    expect(client.calls).toHaveLength(2);
  });

  it('never keeps the token itself', async () => {
    const { checker } = setup();
    await checker.check('ns/a', 1, 'http://d', 'super-secret-token-value');
    expect(JSON.stringify([...Object.values(checker)])).not.toContain('super-secret-token-value');
  });
});
