// A real Kubernetes control plane on 127.0.0.1: etcd, kube-apiserver (token auth, RBAC, service
// account keys) and kube-controller-manager (token controller, StatefulSet and garbage collection
// controllers). Tests start a private one; `npm run cluster:up` starts a persistent one.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:https';
import { request as httpRequest } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { spawn } from 'node:child_process';
import { tailLines } from './commands.mjs';
import { readControlPlaneState, writeControlPlaneState } from './controlPlaneState.mjs';
import { ensureDebianPackages } from './debianPackages.mjs';
import { ensureKubernetesBinaries, stderrProgressLog } from './kubernetesBinaries.mjs';
import { KUBERNETES_VERSION } from './paths.mjs';
import { freePort, isRunning, killNow, startProcess, stopProcess } from './processes.mjs';

const ETCD = '/usr/bin/etcd';
const RUNTIME_REQUIREMENTS = [{ program: ETCD, debianPackage: 'etcd-server' }];

export const DefaultControlPlaneOptions = Object.freeze({
  serviceClusterIpRange: '10.96.0.0/16',
  bindAddress: '127.0.0.1',
  scheduler: false,
  users: [],
  readyTimeoutMs: 180_000,
  persistent: false,
  keepDirOnStop: false,
});

/** A control plane program exited or never became ready; `logPath` holds what it printed. */
export class ControlPlaneStartError extends Error {
  constructor(message, component, logPath) {
    super(message);
    this.name = 'ControlPlaneStartError';
    this.component = component;
    this.logPath = logPath;
  }
}

/** `dir` already holds a running control plane. */
export class ControlPlaneAlreadyRunningError extends Error {
  constructor(dir, kubeconfigPath) {
    super(`a control plane is already running in ${dir} (KUBECONFIG=${kubeconfigPath})`);
    this.name = 'ControlPlaneAlreadyRunningError';
    this.dir = dir;
    this.kubeconfigPath = kubeconfigPath;
  }
}

/** GET `url`; resolves with the status and body, or undefined when nothing answers. */
function get(url, { token, ca, insecure = false } = {}) {
  return new Promise((resolve) => {
    const options = {
      method: 'GET',
      timeout: 5_000,
      headers: token ? { authorization: `Bearer ${token}` } : {},
      ...(url.startsWith('https:') ? { ca, rejectUnauthorized: !insecure } : {}),
    };
    const req = (url.startsWith('https:') ? request : httpRequest)(url, options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode, body }));
      res.on('error', () => resolve(undefined));
    });
    req.once('timeout', () => req.destroy());
    req.once('error', () => resolve(undefined));
    req.end();
  });
}

/** Whether the API server serves every group version its discovery document lists. */
async function allGroupsServed(server, credentials) {
  const groups = await get(`${server}/apis`, credentials);
  if (groups?.status !== 200) return false;
  const versions = JSON.parse(groups.body).groups.flatMap((group) =>
    group.versions.map(({ groupVersion }) => groupVersion),
  );
  const responses = await Promise.all(
    ['/api/v1', ...versions.map((version) => `/apis/${version}`)].map((path) =>
      get(`${server}${path}`, credentials),
    ),
  );
  return responses.every((response) => response?.status === 200);
}

/** Builds a kubeconfig (JSON, which is valid YAML) for `user` with a bearer token. */
function kubeconfig({ server, caPem, user, token }) {
  return `${JSON.stringify(
    {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [
        {
          name: 'shardfleet-local',
          cluster: { server, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
        },
      ],
      users: [{ name: user, user: { token } }],
      contexts: [
        { name: 'shardfleet-local', context: { cluster: 'shardfleet-local', user, namespace: 'default' } },
      ],
      'current-context': 'shardfleet-local',
    },
    null,
    2,
  )}\n`;
}

/** Whether the log says the program could not bind its port (another process took it meanwhile). */
async function lostPortRace(logPath) {
  const log = await readFile(logPath, 'utf8').catch(() => '');
  return /address already in use/i.test(log);
}

/**
 * Waits until `check()` returns a truthy value, failing early when `component` exits.
 */
async function waitForComponent(component, check, { timeoutMs, what }) {
  let exit;
  component.exited.then((result) => (exit = result));
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const result = await check();
    if (result) return result;
    if (exit) {
      const log = tailLines(await readFile(component.logPath, 'utf8').catch(() => ''), 15);
      throw new ControlPlaneStartError(
        `${component.name} exited (${exit.error?.message ?? (exit.signal ? `signal ${exit.signal}` : `code ${exit.code}`)}) before ${what}:\n${log}`,
        component.name,
        component.logPath,
      );
    }
    if (Date.now() > deadline) {
      throw new ControlPlaneStartError(
        `${component.name} did not reach "${what}" within ${timeoutMs / 1000} s; see ${component.logPath}`,
        component.name,
        component.logPath,
      );
    }
    await sleep(250);
  }
}

/** Stops the recorded processes (newest first) of the control plane in `dir`. */
async function stopRecorded(state) {
  const stopped = [];
  for (const recorded of [...state.processes].reverse()) {
    if (await stopProcess(recorded)) stopped.push(recorded.name);
  }
  return stopped;
}

/**
 * Stops the control plane recorded in `dir` (processes by saved pid, newest first) and removes
 * `dir`. Returns the names of the processes it stopped; a directory without state is just removed.
 *
 * @param {string} dir
 * @returns {Promise<string[]>}
 */
export async function stopControlPlane(dir) {
  const state = await readControlPlaneState(dir);
  const stopped = state ? await stopRecorded(state) : [];
  await rm(dir, { recursive: true, force: true });
  return stopped;
}

/**
 * Describes the control plane recorded in `dir`: `running` (every process alive and the API server
 * ready), `stopped` (nothing recorded) or `broken` (recorded but not all of it works).
 *
 * @param {string} dir
 * @returns {Promise<import('./controlPlane.mjs').ControlPlaneStatus>}
 */
export async function controlPlaneStatus(dir) {
  const state = await readControlPlaneState(dir);
  if (!state) return { state: 'stopped' };
  const dead = state.processes.filter((recorded) => !isRunning(recorded)).map(({ name }) => name);
  if (!state.ready || dead.length > 0) return { state: 'broken', kubeconfigPath: state.kubeconfigPath, dead };
  const config = JSON.parse(await readFile(state.kubeconfigPath, 'utf8'));
  const ca = Buffer.from(config.clusters[0].cluster['certificate-authority-data'], 'base64').toString();
  const ready = await get(`${state.server}/readyz`, { token: config.users[0].user.token, ca });
  return ready?.status === 200
    ? { state: 'running', kubeconfigPath: state.kubeconfigPath, server: state.server }
    : { state: 'broken', kubeconfigPath: state.kubeconfigPath, dead };
}

/** The arguments of each program, from the chosen ports and files. */
function componentArgs({ files, ports, serviceClusterIpRange, bindAddress }) {
  return {
    etcd: [
      '--name=shardfleet',
      `--data-dir=${files.etcdData}`,
      `--listen-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--advertise-client-urls=http://127.0.0.1:${ports.etcdClient}`,
      `--listen-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-advertise-peer-urls=http://127.0.0.1:${ports.etcdPeer}`,
      `--initial-cluster=shardfleet=http://127.0.0.1:${ports.etcdPeer}`,
      '--logger=zap',
    ],
    'kube-apiserver': [
      `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
      `--bind-address=${bindAddress}`,
      // The address the `kubernetes` Service's endpoint names: pods reach the API server there.
      `--advertise-address=${bindAddress}`,
      `--secure-port=${ports.apiserver}`,
      // 1.20 still serves plain HTTP on 8080 by default: off, so control planes can run side by side.
      '--insecure-port=0',
      `--cert-dir=${files.pki}`,
      `--token-auth-file=${files.tokens}`,
      '--authorization-mode=Node,RBAC',
      '--service-account-issuer=https://kubernetes.default.svc',
      `--service-account-key-file=${files.serviceAccountPublicKey}`,
      `--service-account-signing-key-file=${files.serviceAccountPrivateKey}`,
      `--service-cluster-ip-range=${serviceClusterIpRange}`,
      // Never resolve node host names through the machine's resolver (a query leaving the machine).
      '--kubelet-preferred-address-types=InternalIP',
      '--allow-privileged=true',
      '--profiling=false',
    ],
    'kube-controller-manager': [
      `--kubeconfig=${files.controllerManagerKubeconfig}`,
      `--authentication-kubeconfig=${files.controllerManagerKubeconfig}`,
      `--authorization-kubeconfig=${files.controllerManagerKubeconfig}`,
      // Each controller acts as its own service account, as in a kubeadm cluster (least privilege).
      '--use-service-account-credentials=true',
      // The token controller signs service account tokens; without it StatefulSet pods are never created.
      `--service-account-private-key-file=${files.serviceAccountPrivateKey}`,
      `--root-ca-file=${files.apiserverCertificate}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.controllerManager}`,
      '--port=0',
      '--profiling=false',
    ],
    'kube-scheduler': [
      `--kubeconfig=${files.schedulerKubeconfig}`,
      `--authentication-kubeconfig=${files.schedulerKubeconfig}`,
      `--authorization-kubeconfig=${files.schedulerKubeconfig}`,
      '--leader-elect=false',
      '--bind-address=127.0.0.1',
      `--secure-port=${ports.scheduler}`,
      '--port=0',
      '--profiling=false',
    ],
  };
}

/** One attempt at starting everything on fresh ports; records each process in the state file. */
async function startOnce({ dir, binaries, options, log, state }) {
  const ports = {
    etcdClient: await freePort(),
    etcdPeer: await freePort(),
    apiserver: await freePort(),
    controllerManager: await freePort(),
    scheduler: await freePort(),
  };
  const files = {
    etcdData: join(dir, 'etcd'),
    pki: join(dir, 'pki'),
    logs: join(dir, 'logs'),
    tokens: join(dir, 'pki', 'tokens.csv'),
    serviceAccountPrivateKey: join(dir, 'pki', 'service-account.key'),
    serviceAccountPublicKey: join(dir, 'pki', 'service-account.pub'),
    apiserverCertificate: join(dir, 'pki', 'apiserver.crt'),
    controllerManagerKubeconfig: join(dir, 'controller-manager.kubeconfig'),
    schedulerKubeconfig: join(dir, 'scheduler.kubeconfig'),
    kubeconfig: join(dir, 'kubeconfig'),
  };
  const server = `https://${options.bindAddress}:${ports.apiserver}`;
  // A fresh cluster each time: etcd data of an earlier one would hold tokens signed by other keys.
  await rm(files.etcdData, { recursive: true, force: true });
  const args = componentArgs({
    files,
    ports,
    serviceClusterIpRange: options.serviceClusterIpRange,
    bindAddress: options.bindAddress,
  });
  const adminToken = randomBytes(32).toString('hex');
  // Each program and node user its own token (and kubeconfig), as kubeadm gives each its own certificate.
  const users = [
    { user: 'system:kube-controller-manager', kubeconfig: files.controllerManagerKubeconfig },
    ...(options.scheduler ? [{ user: 'system:kube-scheduler', kubeconfig: files.schedulerKubeconfig }] : []),
    ...options.users.map(({ user, groups = [], kubeconfig: name }) => ({
      user,
      groups,
      kubeconfig: join(dir, name),
    })),
  ].map((entry) => ({ ...entry, token: randomBytes(32).toString('hex') }));
  await mkdir(files.pki, { recursive: true, mode: 0o700 });
  await mkdir(files.logs, { recursive: true });
  await writeFile(
    files.tokens,
    `${adminToken},admin,admin,system:masters\n` +
      users
        .map(
          ({ token, user, groups = [] }) =>
            `${token},${user},${user}${groups.length ? `,"${groups.join(',')}"` : ''}\n`,
        )
        .join(''),
    { mode: 0o600 },
  );
  const { privateKey, publicKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
  });
  await writeFile(files.serviceAccountPrivateKey, privateKey, { mode: 0o600 });
  await writeFile(files.serviceAccountPublicKey, publicKey);

  const start = async (name, executable) => {
    const component = startProcess({
      name,
      executable,
      args: args[name],
      logPath: join(files.logs, `${name}.log`),
      detached: options.persistent,
    });
    if (!component.pid) {
      const { error } = await component.exited;
      throw new ControlPlaneStartError(
        `cannot start ${executable}: ${error?.message}`,
        name,
        component.logPath,
      );
    }
    state.processes.push({ name, pid: component.pid, executable, logPath: component.logPath });
    await writeControlPlaneState(dir, state);
    return component;
  };

  log(`starting etcd on 127.0.0.1:${ports.etcdClient}`);
  const etcd = await start('etcd', ETCD);
  await waitForComponent(
    etcd,
    async () => {
      const health = await get(`http://127.0.0.1:${ports.etcdClient}/health`);
      return health?.status === 200 && JSON.parse(health.body).health === 'true';
    },
    { timeoutMs: options.readyTimeoutMs, what: 'healthy' },
  );

  log(`starting kube-apiserver on ${server}`);
  const apiserver = await start('kube-apiserver', binaries['kube-apiserver']);
  const caPem = await waitForComponent(
    apiserver,
    async () => {
      // The API server writes its self-signed certificate (leaf and CA) before it serves.
      if (!existsSync(files.apiserverCertificate)) return undefined;
      const ca = await readFile(files.apiserverCertificate, 'utf8');
      const ready = await get(`${server}/readyz`, { token: adminToken, ca });
      return ready?.status === 200 ? ca : undefined;
    },
    { timeoutMs: options.readyTimeoutMs, what: 'ready (/readyz)' },
  );
  // /readyz can pass while the aggregator still installs API groups (a POST to apps/v1 then gets a
  // plain 404): wait until every advertised group version is served.
  await waitForComponent(apiserver, () => allGroupsServed(server, { token: adminToken, ca: caPem }), {
    timeoutMs: options.readyTimeoutMs,
    what: 'serving every API group',
  });
  await writeFile(files.kubeconfig, kubeconfig({ server, caPem, user: 'admin', token: adminToken }), {
    mode: 0o600,
  });
  for (const { user, token, kubeconfig: path } of users) {
    await writeFile(path, kubeconfig({ server, caPem, user, token }), { mode: 0o600 });
  }

  // Both serve /healthz on their own secure port with a self-signed certificate.
  const startHealthy = async (name, port) => {
    log(`starting ${name}`);
    const component = await start(name, binaries[name]);
    await waitForComponent(
      component,
      async () => (await get(`https://127.0.0.1:${port}/healthz`, { insecure: true }))?.status === 200,
      { timeoutMs: options.readyTimeoutMs, what: 'healthy (/healthz)' },
    );
    return component;
  };
  const controllerManager = await startHealthy('kube-controller-manager', ports.controllerManager);
  // The token controller has run once the default service account carries a token secret; only
  // then can the StatefulSet controller create pods.
  await waitForComponent(
    controllerManager,
    async () => {
      const account = await get(`${server}/api/v1/namespaces/default/serviceaccounts/default`, {
        token: adminToken,
        ca: caPem,
      });
      return account?.status === 200 && (JSON.parse(account.body).secrets ?? []).length > 0;
    },
    { timeoutMs: options.readyTimeoutMs, what: 'the token controller signed the default service account' },
  );
  if (options.scheduler) await startHealthy('kube-scheduler', ports.scheduler);
  return { server, ports, files, caPem, adminToken };
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free ports of 127.0.0.1, with state in
 * `dir` (a new temporary directory when omitted). Builds or reuses the cached binaries first.
 *
 * @param {import('./controlPlane.mjs').ControlPlaneOptions} [options]
 * @returns {Promise<import('./controlPlane.mjs').ControlPlane>}
 */
export async function startControlPlane(options = {}) {
  const settings = { ...DefaultControlPlaneOptions, ...options };
  const log = settings.log ?? (() => {});
  const previous = settings.dir ? await readControlPlaneState(settings.dir) : undefined;
  if (previous) {
    const status = await controlPlaneStatus(settings.dir);
    if (status.state === 'running') {
      throw new ControlPlaneAlreadyRunningError(settings.dir, previous.kubeconfigPath);
    }
    log(
      `cleaning up the earlier control plane in ${settings.dir} (${status.dead?.join(', ') || 'not ready'} stopped)`,
    );
    await stopControlPlane(settings.dir);
  }
  const slowStepLog = settings.log ?? stderrProgressLog;
  await ensureDebianPackages(RUNTIME_REQUIREMENTS, { log: slowStepLog });
  const { binaries } = await ensureKubernetesBinaries({ cacheDir: settings.cacheDir, log: slowStepLog });
  const dir = settings.dir ?? (await mkdtemp(join(tmpdir(), 'shardfleet-control-plane-')));
  await mkdir(dir, { recursive: true, mode: 0o700 });

  const state = {
    version: KUBERNETES_VERSION,
    removeDirOnStop: !settings.keepDirOnStop,
    ready: false,
    processes: [],
  };
  await writeControlPlaneState(dir, state);
  // A test worker that dies without stop() must not leave etcd and the API server behind.
  const watchdog = settings.persistent ? undefined : startWatchdog(dir);
  const killOnExit = () => killNow(state.processes);
  if (!settings.persistent) process.once('exit', killOnExit);

  const stopAll = async () => {
    await stopRecorded(state);
    process.removeListener('exit', killOnExit);
    if (watchdog) await stopProcess(watchdog, { graceMs: 2_000 });
  };

  let started;
  for (let attempt = 1; !started; attempt += 1) {
    try {
      started = await startOnce({ dir, binaries, options: settings, log, state });
    } catch (error) {
      await stopRecorded(state);
      state.processes = [];
      const portTaken = error instanceof ControlPlaneStartError && (await lostPortRace(error.logPath));
      if (!portTaken || attempt >= 3) {
        await stopAll();
        if (!settings.keepDirOnStop) await rm(dir, { recursive: true, force: true });
        throw error;
      }
      log(`${error.component} lost its port to another process; retrying on new ports`);
    }
  }
  Object.assign(state, {
    ready: true,
    server: started.server,
    kubeconfigPath: started.files.kubeconfig,
    ports: started.ports,
  });
  await writeControlPlaneState(dir, state);
  log(`control plane ready: ${started.server}`);

  let stopping;
  return {
    dir,
    kubeconfigPath: started.files.kubeconfig,
    server: started.server,
    token: started.adminToken,
    caCertificate: started.caPem,
    pids: Object.fromEntries(state.processes.map(({ name, pid }) => [name, pid])),
    stop() {
      stopping ??= (async () => {
        await stopAll();
        if (!settings.keepDirOnStop) await rm(dir, { recursive: true, force: true });
      })();
      return stopping;
    },
  };
}

const WATCHDOG_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'watchdog.mjs');

function startWatchdog(dir) {
  const child = spawn(process.execPath, [WATCHDOG_SCRIPT, String(process.pid), dir], {
    detached: true,
    stdio: 'ignore',
  });
  child.unref();
  return { name: 'watchdog', pid: child.pid, executable: process.execPath };
}
