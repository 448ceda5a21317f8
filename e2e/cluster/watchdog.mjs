// Stops a test's private control plane when the Node process that started it dies without calling
// stop() (a crashed or killed test worker), so no etcd or kube-apiserver outlives the test run.
// Usage: node watchdog.mjs <parent pid> <control plane dir>
import { rm } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { readControlPlaneState } from './controlPlaneState.mjs';
import { stopProcess } from './processes.mjs';

const parentPid = Number(process.argv[2]);
const dir = process.argv[3];

process.once('SIGTERM', () => process.exit(0));

const parentAlive = () => {
  // Once the parent dies this process is re-parented, so its parent pid changes.
  if (process.ppid !== parentPid) return false;
  try {
    process.kill(parentPid, 0);
    return true;
  } catch {
    return false;
  }
};

while (parentAlive()) await sleep(1_000);

const state = await readControlPlaneState(dir);
if (state) {
  for (const recorded of [...state.processes].reverse()) await stopProcess(recorded, { graceMs: 5_000 });
  if (state.removeDirOnStop) await rm(dir, { recursive: true, force: true });
}
