#!/usr/bin/env node
// `npm run cluster:up -- --control-plane-only` / `npm run cluster:down`: a local Kubernetes cluster
// for development and the integration tests. Progress goes to stderr; `up` prints
// `export KUBECONFIG=<path>` as the last line of stdout, so `eval "$(npm run -s cluster:up -- ...)"` works.
import { commandLine } from './commandLine.mjs';
import { ensureKubernetesBinaries } from '../cluster/kubernetesBinaries.mjs';
import { controlPlaneStatus, startControlPlane } from '../cluster/controlPlane.mjs';
import { kindClusterDown, kindClusterUp } from '../cluster/kind.mjs';
import { startLocalCluster, stopLocalCluster } from '../cluster/node.mjs';
import { selectProvider } from '../images/buildImages.mjs';
import { defaultClusterDir } from '../cluster/paths.mjs';

const USAGE = `Usage:
  cluster.mjs up [--provider local|kind] [--dir DIR]
      Start a single-node cluster: etcd, kube-apiserver, kube-controller-manager, kube-scheduler,
      containerd, kubelet, kube-proxy and the cluster DNS on a private bridge (as root; builds the
      Kubernetes binaries first if the cache lacks them). Prints export KUBECONFIG=... last.
  cluster.mjs up --control-plane-only [--dir DIR]
      Only etcd, kube-apiserver and kube-controller-manager on 127.0.0.1 (no root needed).
  cluster.mjs down [--dir DIR]      Stop everything \`up\` started and remove its state.
  cluster.mjs status [--dir DIR]    Say whether the cluster runs.
  cluster.mjs build                 Build and cache the Kubernetes binaries only.

DIR defaults to $SHARDFLEET_CLUSTER_DIR or ~/.cache/shardfleet/cluster; the binaries are cached in
$SHARDFLEET_CACHE_DIR (default ~/.cache/shardfleet).`;

const PROVIDERS = ['local', 'kind'];

const { values, positionals, log, fail } = commandLine({
  name: 'cluster',
  usage: USAGE,
  options: {
    'control-plane-only': { type: 'boolean', default: false },
    provider: { type: 'string' },
    dir: { type: 'string' },
  },
});
// --provider, else $SHARDFLEET_PROVIDER, else kind when a Docker engine answers, else local.
let provider;
try {
  provider = values.provider ?? selectProvider();
} catch (error) {
  fail(error.message, 2);
}
const [command] = positionals;
const dir = values.dir ?? defaultClusterDir();

async function up() {
  if (!PROVIDERS.includes(provider)) {
    fail(`--provider must be one of ${PROVIDERS.join(', ')}, not "${provider}"`, 2);
  }
  if (provider === 'kind') {
    const { kubeconfigPath } = await kindClusterUp({ dir, log });
    console.log(`export KUBECONFIG=${kubeconfigPath}`);
    return;
  }
  const status = await controlPlaneStatus(dir);
  if (status.state === 'running') {
    log(`already running in ${dir} (${status.server}); \`npm run cluster:down\` stops it`);
    console.log(`export KUBECONFIG=${status.kubeconfigPath}`);
    return;
  }
  if (status.state === 'broken') {
    log(`cleaning up the broken cluster in ${dir} (${status.dead?.join(', ') || 'not ready'} stopped)`);
    await stopLocalCluster(dir, { log });
  }
  const started = Date.now();
  // Persistent: the programs outlive this command. Keep the directory on failure for its logs.
  const { kubeconfigPath } = values['control-plane-only']
    ? await startControlPlane({ dir, persistent: true, keepDirOnStop: true, log })
    : await startLocalCluster({ dir, log });
  log(`cluster up in ${((Date.now() - started) / 1000).toFixed(1)} s; state and logs in ${dir}`);
  console.log(`export KUBECONFIG=${kubeconfigPath}`);
}

async function down() {
  if (provider === 'kind') return kindClusterDown({ log });
  const stopped = await stopLocalCluster(dir, { log });
  log(
    stopped.length > 0
      ? `stopped ${stopped.join(', ')}; removed ${dir}`
      : `nothing was running; removed ${dir}`,
  );
}

async function status() {
  const current = await controlPlaneStatus(dir);
  if (current.state === 'running')
    console.log(`running: ${current.server} (KUBECONFIG=${current.kubeconfigPath})`);
  else if (current.state === 'broken') {
    console.log(
      `broken: ${current.dead?.length ? `${current.dead.join(', ')} not running` : 'API server not ready'}`,
    );
    process.exitCode = 1;
  } else {
    console.log(`stopped (no state in ${dir})`);
    process.exitCode = 1;
  }
}

async function build() {
  const { binDir } = await ensureKubernetesBinaries({ log });
  log(`Kubernetes binaries in ${binDir}`);
}

const commands = { up, down, status, build };
if (!Object.hasOwn(commands, command)) fail(`unknown command "${command}"\n\n${USAGE}`, 2);
try {
  await commands[command]();
} catch (error) {
  fail(error.message);
}
