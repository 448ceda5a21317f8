import { spawnSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { Redis } from 'ioredis';
import { UsageError } from './options.js';
import { SupervisedProgram } from './SupervisedProgram.js';

const INSTALL_HINT =
  'install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis) or set REDIS_URL';

/** A Redis URL without its password, for messages. */
export function redactRedisUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.password) parsed.password = '***';
  return parsed.toString();
}

/** A Redis client for the monitor: errors go to its retries, not to an unhandled event. */
export function monitorClient(url: string): Redis {
  const redis = new Redis(url, { maxRetriesPerRequest: 1, lazyConnect: true });
  redis.on('error', () => undefined);
  return redis;
}

/**
 * Answers PING within `timeoutMs`, or throws a {@link UsageError} saying why Redis is unreachable.
 */
export async function checkRedis(url: string, timeoutMs: number): Promise<void> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  let lastError: Error | undefined;
  redis.on('error', (error: Error) => {
    lastError = error;
  });
  try {
    await redis.connect();
    await redis.ping();
  } catch (error) {
    const reason = lastError?.message ?? (error as Error).message;
    throw new UsageError(`Redis at REDIS_URL ${redactRedisUrl(url)} is unreachable: ${reason}`);
  } finally {
    redis.disconnect();
  }
}

/** Waits until Redis at `url` answers PING. */
export async function waitForRedis(url: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await checkRedis(url, 500);
      return;
    } catch (error) {
      if (Date.now() >= deadline) throw error;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * `redis-server` from PATH on `port`, its data in `dir`: an RDB snapshot every minute with a change
 * and on shutdown (SIGTERM), so the shard workers' sessions are there for the next run.
 */
export function localRedis(
  dir: string,
  port: number,
  logFile: string,
  report: (line: string) => void,
): SupervisedProgram {
  if (spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).error) {
    throw new UsageError(`redis-server is not on PATH: ${INSTALL_HINT}`);
  }
  mkdirSync(dir, { recursive: true });
  return new SupervisedProgram(
    {
      name: 'redis',
      command: 'redis-server',
      args: [
        '--port',
        String(port),
        '--bind',
        '127.0.0.1',
        '--dir',
        path.resolve(dir),
        '--dbfilename',
        'dump.rdb',
        '--save',
        '60 1',
        '--appendonly',
        'no',
        '--daemonize',
        'no',
      ],
      env: process.env,
      logFile,
    },
    report,
  );
}
