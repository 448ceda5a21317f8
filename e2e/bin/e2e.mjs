#!/usr/bin/env node
// `npm run test:e2e`: the end-to-end spec on a real cluster. Builds the images, starts the cluster
// (`cluster:up`, unless one runs already), loads the images into its node, runs
// `vitest run -c vitest.e2e.config.ts` with KUBECONFIG set, and stops the cluster again if it
// started it (`--keep` leaves it running for a look around).
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { commandLine } from './commandLine.mjs';
import { controlPlaneStatus } from '../cluster/controlPlane.mjs';
import { startLocalCluster, stopLocalCluster } from '../cluster/node.mjs';
import { defaultClusterDir } from '../cluster/paths.mjs';
import { buildImages, REPOSITORY_ROOT, selectProvider } from '../images/buildImages.mjs';
import { loadImages } from '../images/loadImages.mjs';
import { readControlPlaneState } from '../cluster/controlPlaneState.mjs';
import { kindClusterDown, kindClusterUp } from '../cluster/kind.mjs';

const USAGE = `Usage: e2e.mjs [--keep] [-- VITEST_ARGS...]
  Builds the images, brings the cluster up (provider $SHARDFLEET_PROVIDER: local, or kind when a
  Docker engine answers), loads the images and runs the end-to-end spec (e2e/spec). A cluster this
  command started is stopped afterwards unless --keep.`;

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

const { values, positionals, log } = commandLine({
  name: 'e2e',
  usage: USAGE,
  options: { keep: { type: 'boolean', default: false } },
  requireCommand: false,
});

function runVitest(kubeconfig, extraArgs) {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        join(REPOSITORY_ROOT, 'node_modules/vitest/vitest.mjs'),
        'run',
        '-c',
        'vitest.e2e.config.ts',
        ...extraArgs,
      ],
      { cwd: REPOSITORY_ROOT, stdio: 'inherit', env: { ...process.env, KUBECONFIG: kubeconfig } },
    );
    child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)));
  });
}

const provider = selectProvider();
const dir = defaultClusterDir();
let exitCode = 1;
let startedCluster = false;
try {
  let started = Date.now();
  let kubeconfig;
  if (provider === 'kind') {
    // kind first: images:build's kind path loads each image into the cluster.
    const kind = await kindClusterUp({ dir, log });
    ({ kubeconfigPath: kubeconfig, created: startedCluster } = kind);
    await buildImages({ provider, log });
  } else {
    log('building the images');
    await buildImages({ provider, log });
    log(`images ready in ${seconds(started)}`);
    started = Date.now();
    const status = await controlPlaneStatus(dir);
    const node = status.state === 'running' ? (await readControlPlaneState(dir))?.node : undefined;
    if (node) {
      log(`using the running cluster in ${dir}`);
      kubeconfig = status.kubeconfigPath;
      await loadImages({ address: node.containerdAddress, log });
    } else {
      if (status.state !== 'stopped') await stopLocalCluster(dir, { log });
      startedCluster = true;
      // Loads every built image into the new node.
      ({ kubeconfigPath: kubeconfig } = await startLocalCluster({ dir, log }));
    }
  }
  log(`cluster ready in ${seconds(started)}; running the spec`);
  exitCode = await runVitest(kubeconfig, positionals);
} catch (error) {
  log(error.stack ?? error.message);
} finally {
  if (startedCluster && !values.keep) {
    log('stopping the cluster');
    await (provider === 'kind' ? kindClusterDown({ log }) : stopLocalCluster(dir, { log })).catch((error) =>
      log(`cluster:down failed: ${error.message}`),
    );
  } else if (startedCluster) {
    log(
      `the cluster keeps running (--keep): export KUBECONFIG=${join(dir, 'kubeconfig')}; npm run cluster:down stops it`,
    );
  }
}
process.exit(exitCode);
