// The local provider's whole cluster: the control plane plus one node (containerd, kubelet,
// kube-proxy, the cluster DNS) on a private bridge, as ../../shared/docs/local-kubernetes.md found
// works on a machine without Docker. Everything is recorded in the control plane's state file, so
// `cluster:down` stops and removes all of it: processes, containers, mounts, iptables chains, the
// route and the bridge.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, readdir, readFile, readlink, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { runCommand } from './commands.mjs';
import { readControlPlaneState, writeControlPlaneState } from './controlPlaneState.mjs';
import { ControlPlaneStartError, startControlPlane, stopControlPlane } from './controlPlane.mjs';
import { ensureDebianPackages } from './debianPackages.mjs';
import { ensureKubernetesBinaries, ensurePauseBinary, stderrProgressLog } from './kubernetesBinaries.mjs';
import { KUBELET_PORT, clusterIptablesLeftovers, setUpNodeNetwork, tearDownNodeNetwork } from './network.mjs';
import { isRunning, startProcess, stopProcess, waitForProcess } from './processes.mjs';
import { imageExists } from '../images/buildah.mjs';
import {
  deleteAllTasks,
  removeEmptyRuntimeDirs,
  removeShimLeftovers,
  runcStatesUnder,
  startContainerd,
} from '../images/containerd.mjs';
import { IMAGE_DEFINITIONS, imageName } from '../images/imageDefinitions.mjs';
import { PAUSE_IMAGE, ensurePauseImage } from '../images/hostBaseImages.mjs';
import { loadImages } from '../images/loadImages.mjs';

export const DefaultNodeOptions = Object.freeze({
  nodeName: 'shardfleet-node',
  bridge: 'sfbr0',
  podCidr: '10.244.0.0/24',
  /** The bridge's address: the node's, the pods' gateway, the API server's and the cluster DNS's. */
  gateway: '10.244.0.1',
  serviceCidr: '10.96.0.0/16',
  readyTimeoutMs: 180_000,
});

const CLUSTER_DNS_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'clusterDnsProcess.mjs');

/** Where the kubelet (1.20) writes pod logs (`<namespace>_<name>_<uid>`) whatever its root directory. */
const POD_LOGS_DIR = '/var/log/pods';
/** Where it links each container's log. */
const CONTAINER_LOGS_DIR = '/var/log/containers';

const NODE_REQUIREMENTS = [
  { program: 'ip', debianPackage: 'iproute2' },
  { program: 'iptables', debianPackage: 'iptables' },
  { program: 'containerd', debianPackage: 'containerd' },
  { program: '/usr/sbin/runc', debianPackage: 'runc' },
  { program: '/usr/lib/cni/bridge', debianPackage: 'containernetworking-plugins' },
  { program: 'jq', debianPackage: 'jq' },
  { program: 'buildah', debianPackage: 'buildah' },
];

/** The node's programs could not start; the message names which and ends with its log. */
export class NodeStartError extends ControlPlaneStartError {}

const kubectl = (kubeconfig, args) =>
  runCommand('kubectl', ['--kubeconfig', kubeconfig, ...args]).then(({ stdout }) => stdout);

/** The CNI network of the pods: the bridge plugin with host-local addresses, and port mappings. */
function cniConfiguration({ bridge, podCidr, gateway, ipamDir }) {
  return {
    cniVersion: '0.4.0',
    name: 'shardfleet',
    plugins: [
      {
        type: 'bridge',
        bridge,
        isGateway: true,
        // Nothing leaves the machine, so there is nothing to masquerade.
        ipMasq: false,
        // A pod reaching itself through its Service's ClusterIP.
        hairpinMode: true,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: podCidr, gateway }]],
          routes: [{ dst: '0.0.0.0/0' }],
          dataDir: ipamDir,
        },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
    ],
  };
}

/** The kubelet's configuration file (JSON is YAML). */
function kubeletConfiguration({ gateway, podCidr, resolvConf, staticPodDir }) {
  return {
    kind: 'KubeletConfiguration',
    apiVersion: 'kubelet.config.k8s.io/v1beta1',
    address: gateway,
    readOnlyPort: 0,
    healthzBindAddress: '127.0.0.1',
    podCIDR: podCidr,
    // This machine's cgroups (v1, hybrid) and the missing CAP_SYS_RESOURCE allow no more.
    cgroupDriver: 'cgroupfs',
    cgroupsPerQOS: false,
    enforceNodeAllocatable: [],
    failSwapOn: false,
    // As the recipe found works; the node's INPUT rule (network.mjs) keeps pods off this port, so
    // only programs of this host reach it: the API server, for logs and exec.
    port: KUBELET_PORT,
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: 'AlwaysAllow' },
    clusterDNS: [gateway],
    clusterDomain: 'cluster.local',
    // Pods get only the cluster DNS: the host's resolvers and search domains stay out.
    resolvConf,
    staticPodPath: staticPodDir,
    evictionHard: { 'memory.available': '100Mi', 'nodefs.available': '1%', 'imagefs.available': '1%' },
    // Images cannot be pulled again here: never collect them.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    serializeImagePulls: false,
  };
}

/** Reads the state file, applies `change` to it and writes it back. */
async function updateState(dir, change) {
  const state = await readControlPlaneState(dir);
  change(state);
  await writeControlPlaneState(dir, state);
}

/** Appends `recorded` to the state file's processes (stopped newest first by `cluster:down`). */
const recordProcess = (dir, recorded) => updateState(dir, (state) => state.processes.push(recorded));

/** Waits for `check()`, failing early (with the log's end) when `recorded` exits. */
const waitFor = (recorded, check, { what, timeoutMs }) =>
  waitForProcess(recorded, check, {
    what,
    timeoutMs,
    intervalMs: 500,
    makeError: (message) => new NodeStartError(message, recorded.name, recorded.logPath),
  });

const httpOk = (url) => fetch(url, { signal: AbortSignal.timeout(2_000) }).then((response) => response.ok);

/**
 * Starts the control plane (with a scheduler, listening on the bridge address) and the node, with
 * everything recorded in `dir`. Loads the pause image; other images come from `images:load`.
 * Needs root (it creates a bridge and iptables rules).
 */
export async function startLocalCluster({ dir, log = () => {}, cacheDir, options: overrides = {} }) {
  const options = { ...DefaultNodeOptions, ...overrides };
  if (process.getuid?.() !== 0) {
    throw new Error('the local node needs root: it creates a network bridge, routes and iptables rules');
  }
  await ensureDebianPackages(NODE_REQUIREMENTS, { log: stderrProgressLog });
  const { binaries } = await ensureKubernetesBinaries({ cacheDir, log: stderrProgressLog });
  const pauseBinary = await ensurePauseBinary({ cacheDir, log: stderrProgressLog });
  await ensurePauseImage({ pauseBinary, cacheDir, log });

  log(`creating the bridge ${options.bridge} (${options.gateway}, pods ${options.podCidr})`);
  const network = await setUpNodeNetwork(options);
  try {
    await startControlPlane({
      dir,
      cacheDir,
      log,
      persistent: true,
      keepDirOnStop: true,
      bindAddress: options.gateway,
      serviceClusterIpRange: options.serviceCidr,
      scheduler: true,
      users: [
        {
          user: `system:node:${options.nodeName}`,
          groups: ['system:nodes'],
          kubeconfig: 'kubelet.kubeconfig',
        },
        // Bound to system:node-proxier by the API server's default policy.
        { user: 'system:kube-proxy', kubeconfig: 'kube-proxy.kubeconfig' },
        { user: 'system:shardfleet:cluster-dns', kubeconfig: 'cluster-dns.kubeconfig' },
      ],
      readyTimeoutMs: options.readyTimeoutMs,
    });
  } catch (error) {
    await tearDownNodeNetwork(network);
    throw error;
  }
  const nodeDir = join(dir, 'node');
  const files = {
    containerd: join(nodeDir, 'containerd'),
    cniConf: join(nodeDir, 'cni'),
    ipam: join(nodeDir, 'ipam'),
    kubeletRoot: join(nodeDir, 'kubelet'),
    kubeletConfig: join(nodeDir, 'kubelet-config.json'),
    resolvConf: join(nodeDir, 'resolv.conf'),
    staticPods: join(nodeDir, 'static-pods'),
    adminKubeconfig: join(dir, 'kubeconfig'),
    logs: join(dir, 'logs'),
  };
  await updateState(dir, (state) => {
    state.node = { ...options, network, files };
  });
  try {
    await startNode({ dir, options, files, binaries, log, cacheDir });
  } catch (error) {
    log(`the node did not start; stopping everything (logs kept in ${join(dir, 'logs')})`);
    await stopLocalCluster(dir, { keepDir: true });
    throw error;
  }
  return { kubeconfigPath: files.adminKubeconfig };
}

async function startNode({ dir, options, files, binaries, log, cacheDir }) {
  for (const path of [files.cniConf, files.ipam, files.kubeletRoot, files.staticPods]) {
    await mkdir(path, { recursive: true });
  }
  await writeFile(
    join(files.cniConf, '10-shardfleet.conflist'),
    JSON.stringify(cniConfiguration({ ...options, ipamDir: files.ipam }), null, 2),
  );
  await writeFile(files.resolvConf, '');

  log('starting containerd');
  const containerd = await startContainerd({
    dir: files.containerd,
    cniConfDir: files.cniConf,
    detached: true,
    log: stderrProgressLog,
  });
  await recordProcess(dir, {
    name: 'containerd',
    pid: containerd.pid,
    executable: containerd.executable,
    logPath: containerd.logPath,
  });
  await updateState(dir, (state) => (state.node.containerdAddress = containerd.address));
  // The pause image, and every image `images:build` has built so far (the others: `images:load`).
  const built = [];
  for (const { name } of IMAGE_DEFINITIONS) {
    if (await imageExists(imageName(name), { cacheDir })) built.push(name);
  }
  // Imported while the other programs start: the kubelet runs no pod before the node is Ready.
  const loading = loadImages({
    address: containerd.address,
    names: built,
    extraImages: [PAUSE_IMAGE],
    cacheDir,
    log,
  });
  // Settled now too, so a failure elsewhere leaves no unhandled rejection behind.
  loading.catch(() => {});

  const start = async (name, executable, args) => {
    const recorded = startProcess({
      name,
      executable,
      args,
      logPath: join(files.logs, `${name}.log`),
      detached: true,
    });
    if (!recorded.pid) throw new NodeStartError(`cannot start ${executable}`, name, recorded.logPath);
    const entry = { name, pid: recorded.pid, executable, logPath: recorded.logPath };
    await recordProcess(dir, entry);
    return entry;
  };

  const missingLogDirs = [];
  for (const path of [POD_LOGS_DIR, CONTAINER_LOGS_DIR]) {
    if (!existsSync(path)) missingLogDirs.push(path);
  }
  // cluster:down removes the pod logs this node writes (what was not there before) and the
  // directories the kubelet creates for them.
  const podLogsBefore = await readdir(POD_LOGS_DIR).catch(() => []);
  await updateState(dir, (state) =>
    Object.assign(state.node, { createdLogDirs: missingLogDirs, podLogsBefore }),
  );
  log(`starting the kubelet (node ${options.nodeName}, ${options.gateway})`);
  await writeFile(
    files.kubeletConfig,
    JSON.stringify(
      kubeletConfiguration({ ...options, resolvConf: files.resolvConf, staticPodDir: files.staticPods }),
      null,
      2,
    ),
  );
  const kubelet = await start('kubelet', binaries.kubelet, [
    `--config=${files.kubeletConfig}`,
    `--kubeconfig=${join(dir, 'kubelet.kubeconfig')}`,
    '--container-runtime=remote',
    `--container-runtime-endpoint=unix://${containerd.address}`,
    `--root-dir=${files.kubeletRoot}`,
    `--cert-dir=${join(files.kubeletRoot, 'pki')}`,
    `--volume-plugin-dir=${join(files.kubeletRoot, 'volume-plugins')}`,
    `--hostname-override=${options.nodeName}`,
    `--node-ip=${options.gateway}`,
  ]);
  const kubeletReady = waitFor(
    kubelet,
    async () => {
      const node = JSON.parse(
        await kubectl(files.adminKubeconfig, ['get', 'node', options.nodeName, '-o', 'json']),
      );
      return node.status.conditions.some(({ type, status }) => type === 'Ready' && status === 'True');
    },
    { what: 'node Ready', timeoutMs: options.readyTimeoutMs },
  );

  log('starting kube-proxy (iptables mode)');
  const proxyHealthPort = 10256;
  const kubeProxy = await start('kube-proxy', binaries['kube-proxy'], [
    `--kubeconfig=${join(dir, 'kube-proxy.kubeconfig')}`,
    '--proxy-mode=iptables',
    `--cluster-cidr=${options.podCidr}`,
    `--hostname-override=${options.nodeName}`,
    `--bind-address=${options.gateway}`,
    `--healthz-bind-address=127.0.0.1:${proxyHealthPort}`,
    '--metrics-bind-address=127.0.0.1:10249',
    // Leave this machine's conntrack settings alone.
    '--conntrack-max-per-core=0',
    '--conntrack-tcp-timeout-established=0',
    '--conntrack-tcp-timeout-close-wait=0',
  ]);
  const kubeProxyHealthy = waitFor(kubeProxy, () => httpOk(`http://127.0.0.1:${proxyHealthPort}/healthz`), {
    what: 'healthy (/healthz)',
    timeoutMs: options.readyTimeoutMs,
  });

  log(`starting the cluster DNS on ${options.gateway}:53`);
  await kubectl(files.adminKubeconfig, [
    'create',
    'clusterrolebinding',
    'shardfleet:cluster-dns',
    '--clusterrole=system:kube-dns',
    '--user=system:shardfleet:cluster-dns',
  ]);
  const dns = await start('cluster-dns', process.execPath, [
    CLUSTER_DNS_SCRIPT,
    join(dir, 'cluster-dns.kubeconfig'),
    options.gateway,
    '53',
  ]);
  const dnsAnswering = waitFor(dns, async () => /answering/.test(await readFile(dns.logPath, 'utf8')), {
    what: 'answering',
    timeoutMs: 30_000,
  });
  await Promise.all([loading, kubeletReady, kubeProxyHealthy, dnsAnswering]);
}

/** The pod log directories that were not in /var/log/pods before this node started: its pods'. */
async function podLogsOfNode(node) {
  // Not recorded: the kubelet never started, so it wrote nothing.
  if (!node.podLogsBefore) return [];
  const before = new Set(node.podLogsBefore);
  const names = await readdir(POD_LOGS_DIR).catch(() => []);
  return names.filter((name) => !before.has(name)).map((name) => join(POD_LOGS_DIR, name));
}

/**
 * Removes this node's pod logs, the container log links into them, and the log directories the
 * kubelet created for this node when they are empty.
 */
async function removePodLogs(node) {
  const removed = await podLogsOfNode(node);
  for (const link of await readdir(CONTAINER_LOGS_DIR).catch(() => [])) {
    const target = await readlink(join(CONTAINER_LOGS_DIR, link)).catch(() => '');
    if (removed.some((path) => target.startsWith(`${path}/`))) await rm(join(CONTAINER_LOGS_DIR, link));
  }
  for (const path of removed) await rm(path, { recursive: true, force: true });
  for (const path of node.createdLogDirs ?? []) await rmdir(path).catch(() => {});
}

/** Pids of containerd shims started for the containerd at `address`, with all their descendants. */
function shimProcessTrees(address) {
  const children = new Map();
  const shims = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(parent, [...(children.get(parent) ?? []), Number(name)]);
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmdline[0].endsWith('containerd-shim-runc-v2') && cmdline.includes(address))
        shims.push(Number(name));
    } catch {
      // The process ended meanwhile.
    }
  }
  const tree = [];
  const visit = (pid) => {
    tree.push(pid);
    for (const child of children.get(pid) ?? []) visit(child);
  };
  shims.forEach(visit);
  return tree;
}

/** Mount points under `dir`, deepest first. */
function mountsUnder(dir) {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[1]?.replace(/\\040/g, ' '))
    .filter((point) => point && (point === dir || point.startsWith(`${dir}/`)))
    .sort((a, b) => b.length - a.length);
}

/**
 * Stops pods the kubelet's way first (a NoExecute taint evicts them, and the kubelet tears down
 * each sandbox's network), so CNI leaves no addresses or rules behind. Best effort, bounded.
 */
async function evictPods(state, log) {
  const kubeconfig = state.node.files.adminKubeconfig;
  const ready = await kubectl(kubeconfig, [
    'taint',
    'node',
    state.node.nodeName,
    'shardfleet.dev/shutting-down=true:NoExecute',
    '--overwrite',
  ]).then(
    () => true,
    () => false,
  );
  if (!ready) return;
  log('evicting every pod from the node');
  // The taint keeps replacements off the node; a short grace period spares waiting 30 s per pod.
  await kubectl(kubeconfig, [
    'delete',
    'pods',
    '--all-namespaces',
    '--all',
    '--grace-period=1',
    '--wait=false',
  ]).catch(() => {});
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const pods = await kubectl(kubeconfig, ['get', 'pods', '--all-namespaces', '-o', 'name']).catch(() => '');
    if (pods.trim() === '') return;
    await sleep(1_000);
  }
  log('some pods were still running after 60 s; stopping them with the node');
}

/** What of the cluster recorded in `state` still exists, described one per entry (empty: nothing). */
async function leftoversOf(state, dir) {
  const { network, containerdAddress } = state.node;
  const leftovers = [];
  for (const recorded of state.processes) {
    if (isRunning(recorded)) leftovers.push(`process ${recorded.name} (pid ${recorded.pid})`);
  }
  if (containerdAddress) {
    for (const pid of shimProcessTrees(containerdAddress)) leftovers.push(`container process ${pid}`);
  }
  for (const point of mountsUnder(dir)) leftovers.push(`mount ${point}`);
  for (const path of await runcStatesUnder(dir)) leftovers.push(`runc state ${path}`);
  for (const path of await podLogsOfNode(state.node)) leftovers.push(`pod logs ${path}`);
  if (network) {
    const links = await runCommand('ip', ['-o', 'link', 'show']).then(({ stdout }) => stdout);
    if (new RegExp(`^\\d+: ${network.bridge}[:@]`, 'm').test(links))
      leftovers.push(`bridge ${network.bridge}`);
    const routes = await runCommand('ip', ['route', 'show', network.serviceCidr]).then(
      ({ stdout }) => stdout,
    );
    if (routes.trim() !== '') leftovers.push(`route ${routes.trim()}`);
  }
  leftovers.push(...(await clusterIptablesLeftovers()));
  return leftovers;
}

/**
 * Stops everything recorded in `dir` (the node, then the control plane) and removes it all:
 * processes, containers left by the shims, mounts, iptables chains, the route and the bridge, and
 * `dir` unless `keepDir`. A control-plane-only cluster is just stopped. Returns the names stopped;
 * fails naming what is left when anything of the cluster still exists afterwards.
 */
export async function stopLocalCluster(dir, { log = () => {}, keepDir = false } = {}) {
  const state = await readControlPlaneState(dir);
  if (!state?.node) return stopControlPlane(dir);
  if (state.ready && state.processes.some(({ name }) => name === 'kubelet')) await evictPods(state, log);
  const stopped = [];
  for (const recorded of [...state.processes].reverse()) {
    // With the kubelet stopped, containerd ends what is left, so the shims clean up after themselves.
    if (recorded.name === 'containerd' && state.node.containerdAddress && isRunning(recorded)) {
      await deleteAllTasks(state.node.containerdAddress).catch((error) =>
        log(`cannot delete the containers' tasks: ${error.message}`),
      );
    }
    if (await stopProcess(recorded)) stopped.push(recorded.name);
  }
  if (state.node.containerdAddress) {
    for (const pid of shimProcessTrees(state.node.containerdAddress).reverse()) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }
  }
  for (const point of mountsUnder(dir)) {
    await runCommand('umount', ['--lazy', point]).catch((error) =>
      log(`cannot unmount ${point}: ${error.message}`),
    );
  }
  if (state.node.containerdAddress) await removeShimLeftovers(dir, state.node.containerdAddress);
  await removeEmptyRuntimeDirs();
  await removePodLogs(state.node);
  if (state.node.network) await tearDownNodeNetwork(state.node.network);
  const leftovers = await leftoversOf(state, dir);
  if (leftovers.length > 0) {
    throw new Error(`cluster:down left behind:\n${leftovers.map((leftover) => `- ${leftover}`).join('\n')}`);
  }
  if (keepDir) {
    await updateState(dir, (current) => {
      current.processes = [];
      delete current.node;
    });
  } else {
    await rm(dir, { recursive: true, force: true });
  }
  return stopped;
}
