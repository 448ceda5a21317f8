import { afterEach, describe, expect, it, vi } from 'vitest';
import { type ProcessOutcome, WorkQueue } from '../controller/WorkQueue.js';

class Conflict extends Error {}

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((done) => (resolve = done));
  return { promise, resolve };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

describe('WorkQueue', () => {
  let queue: WorkQueue | undefined;
  afterEach(async () => {
    vi.useRealTimers();
    await queue?.shutDown();
    queue = undefined;
  });

  it('merges duplicates of a waiting key', async () => {
    const seen: string[] = [];
    queue = new WorkQueue(
      async (key) => (seen.push(key), {}),
      () => false,
      { workers: 1 },
    );
    queue.add('a');
    queue.add('a');
    queue.add('b');
    queue.add('a');
    queue.start();
    await vi.waitFor(() => expect(seen).toEqual(['a', 'b']));
    await flush();
    expect(seen).toEqual(['a', 'b']);
  });

  it('never processes one key twice at a time, and processes it again if it changed meanwhile', async () => {
    const gate = deferred();
    let running = 0;
    let maxRunning = 0;
    let calls = 0;
    queue = new WorkQueue(
      async () => {
        calls++;
        running++;
        maxRunning = Math.max(maxRunning, running);
        if (calls === 1) await gate.promise;
        running--;
        return {};
      },
      () => false,
      { workers: 4 },
    );
    queue.start();
    queue.add('a');
    await vi.waitFor(() => expect(calls).toBe(1));
    queue.add('a');
    queue.add('a');
    await flush();
    expect(calls).toBe(1);
    gate.resolve();
    await vi.waitFor(() => expect(calls).toBe(2));
    await flush();
    expect(calls).toBe(2);
    expect(maxRunning).toBe(1);
  });

  it('processes different keys in parallel', async () => {
    const gate = deferred();
    const started: string[] = [];
    queue = new WorkQueue(
      async (key) => (started.push(key), await gate.promise, {}),
      () => false,
      { workers: 2 },
    );
    queue.start();
    queue.add('a');
    queue.add('b');
    await vi.waitFor(() => expect(started).toEqual(['a', 'b']));
    gate.resolve();
  });

  it('retries a failing key with exponential backoff and forgets the failures after a success', async () => {
    vi.useFakeTimers();
    const times: number[] = [];
    const outcomes: ProcessOutcome[] = [];
    const start = Date.now();
    queue = new WorkQueue(
      async () => {
        times.push(Date.now() - start);
        if (times.length <= 3) throw new Error('boom');
        return {};
      },
      () => false,
      {
        workers: 1,
        baseBackoffMs: 100,
        maxBackoffMs: 1_000,
        onProcessed: (_key, outcome) => outcomes.push(outcome),
      },
    );
    queue.start();
    queue.add('a');
    await vi.advanceTimersByTimeAsync(2_000);
    expect(times).toEqual([0, 100, 300, 700]);
    expect(outcomes).toEqual(['error', 'error', 'error', 'success']);
    expect(queue.backoffMs(1)).toBe(100);
    expect(queue.backoffMs(20)).toBe(1_000);
  });

  it('requeues a conflict soon without counting it as a failure', async () => {
    vi.useFakeTimers();
    const outcomes: ProcessOutcome[] = [];
    let calls = 0;
    queue = new WorkQueue(
      async () => {
        calls++;
        if (calls <= 3) throw new Conflict('409');
        if (calls === 4) throw new Error('boom');
        return {};
      },
      (error) => error instanceof Conflict,
      {
        workers: 1,
        baseBackoffMs: 1_000,
        conflictDelayMs: 10,
        onProcessed: (_key, outcome) => outcomes.push(outcome),
      },
    );
    queue.start();
    queue.add('a');
    await vi.advanceTimersByTimeAsync(50);
    expect(outcomes).toEqual(['conflict', 'conflict', 'conflict', 'error']);
    // The error came at 30 ms and waits the base delay (1 s): the conflicts did not grow it.
    await vi.advanceTimersByTimeAsync(979);
    expect(calls).toBe(4);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toBe(5);
  });

  it('reprocesses a key when its result asks to, and the earliest schedule wins', async () => {
    vi.useFakeTimers();
    let calls = 0;
    queue = new WorkQueue(
      async () => (calls++, { requeueAfterMs: 1_000 }),
      () => false,
      { workers: 1 },
    );
    queue.start();
    queue.add('a');
    await vi.advanceTimersByTimeAsync(0);
    expect(calls).toBe(1);
    queue.addAfter('a', 5_000);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(calls).toBe(2);
    queue.forget('a');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls).toBe(2);
  });
});
