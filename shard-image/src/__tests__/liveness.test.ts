import { fileURLToPath } from 'node:url';
import { SimulatorControl } from '@shardfleet/simulator';
import { ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WorkerProcess } from './workerHarness.js';

const SIMULATOR_BIN = fileURLToPath(new URL('../../../simulator/bin/shardfleet-sim.js', import.meta.url));
const HEARTBEAT_INTERVAL_MS = 500;
const STUCK_AFTER_MS = 3_000;

describe('liveness', { timeout: 90_000 }, () => {
  let redisServer: RedisServer;
  let simulator: ProgramProcess;
  let control: SimulatorControl;
  let worker: WorkerProcess;

  beforeAll(async () => {
    redisServer = await RedisServer.start();
    // A process of its own, so the test can freeze it: a gateway that goes silent mid-session.
    simulator = new ProgramProcess(process.execPath, [
      SIMULATOR_BIN,
      '--port',
      '0',
      '--guilds',
      '10',
      '--identify-interval-ms',
      '200',
      '--heartbeat-interval-ms',
      String(HEARTBEAT_INTERVAL_MS),
    ]);
    const url = (await simulator.waitForLine(/^listening on /)).slice('listening on '.length);
    control = new SimulatorControl(url);
    worker = await WorkerProcess.start({
      bot: 'test.liveness',
      redisUrl: redisServer.url,
      simulatorUrl: url,
      workerId: 0,
      shardCount: 1,
      shardsPerPod: 1,
      identifyIntervalMs: 200,
      env: { SHARD_STUCK_AFTER_MS: String(STUCK_AFTER_MS) },
    });
    await worker.waitReady();
  }, 90_000);

  afterAll(async () => {
    if (simulator?.child.pid !== undefined) process.kill(simulator.child.pid, 'SIGCONT');
    await worker?.process.stop('SIGKILL', 5_000);
    await simulator?.stop('SIGKILL', 5_000);
    await redisServer?.stop();
  }, 30_000);

  it('stays live through a zombied connection the library resumes', async () => {
    const resumesBefore = await worker.metric('shardfleet_resumes_total');
    await control.zombie(0);
    await waitUntil(async () => (await worker.metric('shardfleet_resumes_total')) > resumesBefore, {
      timeoutMs: 20_000,
      description: 'the zombied shard resumed',
    });
    await worker.waitReady();
    expect((await worker.get('/healthz')).status).toBe(200);
    expect((await control.stats()).identifies).toBe(1);
  });

  it('fails /healthz naming the shard when the gateway stays silent, and recovers after', async () => {
    const pid = simulator.child.pid as number;
    process.kill(pid, 'SIGSTOP');
    try {
      const stuck = await waitUntil(
        async () => {
          const health = await worker.get('/healthz');
          return health.status === 503 ? health.body : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 200, description: '/healthz failing' },
      );
      expect(JSON.parse(stuck)).toMatchObject({ ok: false, detail: { stuck: [{ shard: 0 }] } });
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await worker.waitReady(60_000);
    await waitUntil(async () => (await worker.get('/healthz')).status === 200, {
      timeoutMs: 10_000,
      description: '/healthz passing again',
    });
    expect((await control.stats()).identifies).toBe(1);
  });
});
