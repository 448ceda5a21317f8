// A private containerd for the local node: its own root, state and socket under one directory, so it
// never meets a system containerd. Configured as ../../shared/docs/local-kubernetes.md found works
// here: the native snapshotter (overlay cannot be mounted), Debian's CNI plugins, and runc behind a
// wrapper that clamps a negative oom_score_adj (this machine refuses it: no CAP_SYS_RESOURCE).
import { createHash } from 'node:crypto';
import { chmod, mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { runCommand } from '../cluster/commands.mjs';
import { ensureDebianPackages } from '../cluster/debianPackages.mjs';
import { startProcess, stopProcess, waitForProcess } from '../cluster/processes.mjs';

const READY_TIMEOUT_MS = 30_000;

const RUNC_WRAPPER = `#!/bin/sh
# runc refuses a negative oom_score_adj on this machine ("can't get final child's PID from pipe:
# EOF"): before \`runc create\`, set the bundle's negative .process.oomScoreAdj to 0.
bundle=
previous=
for argument in "$@"; do
  if [ "$previous" = --bundle ]; then bundle=$argument; fi
  previous=$argument
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
  jq 'if (.process.oomScoreAdj // 0) < 0 then .process.oomScoreAdj = 0 else . end' \\
    "$bundle/config.json" > "$bundle/config.json.clamped" &&
    mv "$bundle/config.json.clamped" "$bundle/config.json"
fi
exec /usr/sbin/runc "$@"
`;

/** Where containerd 1.6's shims put their sockets and runc state, whatever containerd's own state directory. */
const SHIM_RUNTIME_DIRS = [
  '/run/containerd/runc/k8s.io',
  '/run/containerd/runc',
  '/run/containerd/s',
  '/run/containerd/fifo',
  '/run/containerd',
];

/** Removes the shims' directories under /run/containerd when they are empty (a system containerd keeps its own). */
export async function removeEmptyRuntimeDirs() {
  for (const path of SHIM_RUNTIME_DIRS) await rmdir(path).catch(() => {});
}

/** The containerd namespace of the CRI plugin, where the kubelet's pods run. */
const CRI_NAMESPACE = 'k8s.io';
/** Where containerd 1.6's shims keep runc's state of the CRI namespace's containers. */
const RUNC_STATE_DIR = `/run/containerd/runc/${CRI_NAMESPACE}`;
const SHIM_SOCKETS_DIR = '/run/containerd/s';

const ctr = (address, args) =>
  runCommand('ctr', ['--address', address, '--namespace', CRI_NAMESPACE, ...args]).then(
    ({ stdout }) => stdout,
  );

/**
 * Deletes every task of the containerd at `address` (SIGKILL, then delete), so each shim removes its
 * runc state and socket under /run/containerd and exits.
 */
export async function deleteAllTasks(address) {
  for (const id of (await ctr(address, ['tasks', 'ls', '-q'])).split('\n').filter(Boolean)) {
    await ctr(address, ['tasks', 'delete', '--force', id]).catch(() => {});
  }
}

/** The runc state directories under /run/containerd of containers whose bundle is under `dir`. */
export async function runcStatesUnder(dir) {
  const paths = [];
  for (const id of await readdir(RUNC_STATE_DIR).catch(() => [])) {
    const state = await readFile(join(RUNC_STATE_DIR, id, 'state.json'), 'utf8').catch(() => '{}');
    const labels = JSON.parse(state).config?.labels ?? [];
    if (labels.some((label) => label.startsWith(`bundle=${dir}/`))) paths.push(join(RUNC_STATE_DIR, id));
  }
  return paths;
}

/**
 * Removes what killed shims of the containerd at `address` (its files under `dir`) leave under
 * /run/containerd: runc's state of their containers and each shim's socket, named as containerd
 * 1.6's shim.SocketAddress names it.
 */
export async function removeShimLeftovers(dir, address) {
  for (const path of await runcStatesUnder(dir)) {
    await rm(path, { recursive: true });
    const socket = createHash('sha256')
      .update(join(address, CRI_NAMESPACE, basename(path)))
      .digest('hex');
    await rm(join(SHIM_SOCKETS_DIR, socket), { force: true });
  }
}

/** Replaces `pattern` (which must match) in containerd's default configuration. */
function setting(config, pattern, replacement) {
  if (!pattern.test(config)) throw new Error(`containerd's default configuration has no ${pattern}`);
  return config.replace(pattern, replacement);
}

/**
 * `containerd config default` with the root, state and socket in `dir` and the settings the local
 * node needs. `sandboxImage` is the pause image the CRI plugin gives each pod.
 */
async function writeConfig(dir, { sandboxImage, cniConfDir }) {
  let config = (await runCommand('containerd', ['config', 'default'])).stdout;
  config = setting(config, /^root = .*$/m, `root = "${join(dir, 'root')}"`);
  config = setting(config, /^state = .*$/m, `state = "${join(dir, 'state')}"`);
  config = setting(config, /(\[grpc\]\n\s+address = ).*/, `$1"${join(dir, 'containerd.sock')}"`);
  config = setting(config, /(sandbox_image = ).*/, `$1"${sandboxImage}"`);
  config = setting(config, /(\n\s+snapshotter = )"overlayfs"/, '$1"native"');
  config = setting(config, /(\n\s+bin_dir = ).*/, '$1"/usr/lib/cni"');
  config = setting(config, /(\n\s+conf_dir = ).*/, `$1"${cniConfDir}"`);
  // Pod network namespaces under the state directory, not /var/run/netns: tear-down finds them there.
  config = setting(config, /(netns_mounts_under_state_dir = )false/, '$1true');
  config = setting(config, /(runtimes\.runc\.options\]\n\s+BinaryName = ).*/, `$1"${join(dir, 'runc')}"`);
  await writeFile(join(dir, 'runc'), RUNC_WRAPPER);
  await chmod(join(dir, 'runc'), 0o755);
  await writeFile(join(dir, 'config.toml'), config);
}

/**
 * Starts containerd with everything in `dir` (created; its socket is `<dir>/containerd.sock`).
 * Resolves once it answers, with `{ address, pid, stop() }`; `stop()` ends it and, unless
 * `keepDir`, removes `dir` and so every image and container it held.
 */
export async function startContainerd({
  dir,
  sandboxImage = 'localhost/shardfleet/pause:e2e',
  cniConfDir = join(dir, 'cni'),
  detached = false,
  log,
}) {
  await ensureDebianPackages(
    [
      { program: 'containerd', debianPackage: 'containerd' },
      { program: '/usr/sbin/runc', debianPackage: 'runc' },
      { program: 'jq', debianPackage: 'jq' },
    ],
    { log },
  );
  await mkdir(dir, { recursive: true });
  await writeConfig(dir, { sandboxImage, cniConfDir });
  const address = join(dir, 'containerd.sock');
  const logPath = join(dir, 'containerd.log');
  const recorded = startProcess({
    name: 'containerd',
    executable: 'containerd',
    args: ['--config', join(dir, 'config.toml')],
    logPath,
    detached,
  });
  const stop = async ({ keepDir = false } = {}) => {
    await stopProcess(recorded);
    await removeEmptyRuntimeDirs();
    if (!keepDir) await rm(dir, { recursive: true, force: true });
  };
  const answering = () => runCommand('ctr', ['--address', address, 'version']).then(() => true);
  await waitForProcess(recorded, answering, {
    what: 'answering',
    timeoutMs: READY_TIMEOUT_MS,
    intervalMs: 200,
    makeError: (message) => new Error(`containerd did not start (log: ${logPath}): ${message}`),
  }).catch(async (error) => {
    await stop({ keepDir: true });
    throw error;
  });
  return { address, pid: recorded.pid, executable: recorded.executable, logPath, stop };
}
