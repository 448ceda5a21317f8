// Builds the Kubernetes binaries from Debian's `kubernetes` source package (nothing is downloaded
// from outside Debian) and caches them per version outside the repository. Idempotent and safe to
// call from several processes at once: one builds, the others wait for its result.
import { createWriteStream, existsSync } from 'node:fs';
import {
  access,
  chmod,
  copyFile,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { constants } from 'node:fs';
import { join } from 'node:path';
import { runCommand, tailLines } from './commands.mjs';
import { ensureDebianPackages, ensureDebianSourceEntry } from './debianPackages.mjs';
import { KUBERNETES_VERSION, cacheRoot } from './paths.mjs';

/** The programs built, as `make WHAT=cmd/<name>` names them. */
export const KUBERNETES_PROGRAMS = Object.freeze([
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
]);

const MANIFEST = 'manifest.json';
/**
 * Bumped whenever the build changes what it produces, so caches of an older build are rebuilt.
 * 2: vendored reflect2 replaced by 1.0.2 (see {@link REFLECT2_SOURCE}).
 */
const BUILD_REVISION = 2;
/**
 * Kubernetes 1.20 vendors github.com/modern-go/reflect2 1.0.1, whose map iteration breaks on Go 1.18
 * and later: built with Debian's Go 1.19, kube-apiserver panics in reflect.mapiterinit on every
 * custom resource write. reflect2 1.0.2 (the fix Kubernetes itself took) comes from Debian's
 * golang-github-modern-go-reflect2-dev and replaces the vendored copy before building.
 */
const REFLECT2_SOURCE = '/usr/share/gocode/src/github.com/modern-go/reflect2';
const HEARTBEAT_MS = 30_000;

/** What building needs; `make` and `tar` come with most systems but are listed for minimal ones. */
const BUILD_REQUIREMENTS = [
  { program: 'go', debianPackage: 'golang-go' },
  // Without rsync the code generators come out as empty files and the build fails late.
  { program: 'rsync', debianPackage: 'rsync' },
  { program: 'make', debianPackage: 'make' },
  { program: 'tar', debianPackage: 'tar' },
  { program: 'xz', debianPackage: 'xz-utils' },
  {
    program: join(REFLECT2_SOURCE, 'go_above_118.go'),
    debianPackage: 'golang-github-modern-go-reflect2-dev',
  },
];

/** The build of the Kubernetes binaries failed; `logPath` holds its full output. */
export class KubernetesBuildError extends Error {
  constructor(message, logPath, options) {
    super(`${message}\nfull build log: ${logPath}`, options);
    this.name = 'KubernetesBuildError';
    this.logPath = logPath;
  }
}

/**
 * Progress of the slow, rare steps (installing packages, building) goes to stderr unless the caller
 * routes it: a CI log must not stay silent for ten minutes. Nothing is printed when cached.
 */
export const stderrProgressLog = (line) => process.stderr.write(`shardfleet cluster: ${line}\n`);

const formatDuration = (ms) =>
  `${Math.floor(ms / 60_000)}m${String(Math.floor(ms / 1000) % 60).padStart(2, '0')}s`;

function binariesOf(binDir) {
  return Object.fromEntries(KUBERNETES_PROGRAMS.map((name) => [name, join(binDir, name)]));
}

/** Whether `binDir` holds a finished build of `version` (its manifest is written last). */
async function isComplete(binDir, version) {
  try {
    const manifest = JSON.parse(await readFile(join(binDir, MANIFEST), 'utf8'));
    if (manifest.version !== version || manifest.buildRevision !== BUILD_REVISION) return false;
    await Promise.all(KUBERNETES_PROGRAMS.map((name) => access(join(binDir, name), constants.X_OK)));
    return true;
  } catch {
    return false;
  }
}

function processAlive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return error.code === 'EPERM';
  }
}

/**
 * Runs `task` while holding the directory lock `lockDir` (across processes). A lock whose owner
 * died is taken over.
 */
async function withLock(lockDir, log, task) {
  const started = Date.now();
  let lastNotice = 0;
  for (;;) {
    try {
      await mkdir(lockDir);
      await writeFile(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if (error.code !== 'EEXIST') throw error;
    }
    const owner = Number(await readFile(join(lockDir, 'pid'), 'utf8').catch(() => ''));
    const lockAgeMs = await stat(lockDir).then(
      (info) => Date.now() - info.mtimeMs,
      () => 0,
    );
    // A lock without a pid file is younger than a few seconds, unless its owner died right away.
    if ((owner && !processAlive(owner)) || (!owner && lockAgeMs > 10_000)) {
      log(`removing the stale build lock ${lockDir} (process ${owner || 'unknown'} is gone)`);
      await rm(lockDir, { recursive: true, force: true });
      continue;
    }
    if (Date.now() - lastNotice >= HEARTBEAT_MS) {
      lastNotice = Date.now();
      log(
        `waiting for process ${owner || '?'} to finish building Kubernetes ` +
          `(${formatDuration(Date.now() - started)} so far)`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 2_000));
  }
  try {
    return await task();
  } finally {
    await rm(lockDir, { recursive: true, force: true });
  }
}

/** Fetches the `kubernetes` source package into `downloadDir`; returns the orig tarball's path. */
async function downloadSource(downloadDir, version, log) {
  await ensureDebianSourceEntry('kubernetes', { log });
  const { stdout } = await runCommand('apt-cache', ['showsrc', 'kubernetes']);
  const debianVersions = [...stdout.matchAll(/^Version: (\S+)$/gm)].map((match) => match[1]);
  // Debian's version may carry an epoch or a "+really" suffix; the orig tarball names the upstream one.
  const debianVersion = debianVersions.find((candidate) => candidate.replace(/^\d+:/, '').includes(version));
  if (!debianVersion) {
    throw new Error(
      `Debian's kubernetes source package has versions ${debianVersions.join(', ') || '(none)'}, ` +
        `not ${version}; the cluster scripts need Debian bookworm's package`,
    );
  }
  log(`downloading Debian's source package kubernetes=${debianVersion}`);
  await mkdir(downloadDir, { recursive: true });
  await runCommand('apt-get', ['source', '--download-only', `kubernetes=${debianVersion}`], {
    cwd: downloadDir,
  });
  const orig = (await readdir(downloadDir)).find((name) =>
    /^kubernetes_.*\.orig\.tar\.[a-z0-9]+$/.test(name),
  );
  if (!orig) throw new Error(`apt-get source left no orig tarball in ${downloadDir}`);
  return join(downloadDir, orig);
}

/** Swaps the vendored reflect2 1.0.1 for Debian's 1.0.2 (Go sources and assembly only). */
async function replaceVendoredReflect2(treeDir, log) {
  const vendored = join(treeDir, 'vendor/github.com/modern-go/reflect2');
  if (!existsSync(vendored))
    throw new Error(`${vendored} is missing: not the expected Kubernetes source tree`);
  log(`replacing the vendored reflect2 1.0.1 with ${REFLECT2_SOURCE} (1.0.2, works with Go 1.18+)`);
  await rm(vendored, { recursive: true, force: true });
  await mkdir(vendored);
  for (const name of await readdir(REFLECT2_SOURCE)) {
    if (/\.(go|s)$/.test(name) && !name.endsWith('_test.go'))
      await copyFile(join(REFLECT2_SOURCE, name), join(vendored, name));
  }
}

/**
 * Builds the binaries into `binDir`: unpack the orig tarball, `make WHAT=...` the way Debian's
 * rules do (a GOPATH inside the tree, no cgo, no module downloads), copy, write the manifest.
 */
async function build({ version, versionDir, binDir, log }) {
  const workDir = join(versionDir, `build-${process.pid}`);
  const logPath = join(versionDir, 'build.log');
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  const buildLog = createWriteStream(logPath);
  const started = Date.now();
  try {
    await ensureDebianPackages(BUILD_REQUIREMENTS, { log });
    const tarball = await downloadSource(join(workDir, 'download'), version, log);
    log(`unpacking ${tarball}`);
    await runCommand('tar', ['-xf', tarball, '-C', workDir]);
    const sourceDir = (await readdir(workDir)).find((name) => name.startsWith('kubernetes-'));
    if (!sourceDir) throw new Error(`${tarball} did not unpack to a kubernetes-<version> directory`);
    const treeDir = join(workDir, sourceDir);
    await replaceVendoredReflect2(treeDir, log);
    await mkdir(join(treeDir, '.go/src/k8s.io'), { recursive: true });
    await runCommand('ln', ['-sfn', '../../..', join(treeDir, '.go/src/k8s.io/kubernetes')]);
    const env = {
      ...process.env,
      GOPATH: join(treeDir, '.go'),
      GOCACHE: join(workDir, 'go-build-cache'),
      CGO_ENABLED: '0',
      // Everything is vendored: never reach a module proxy.
      GOPROXY: 'off',
      GOTOOLCHAIN: 'local',
    };
    const what = KUBERNETES_PROGRAMS.map((name) => `cmd/${name}`).join(' ');
    log(
      `building Kubernetes ${version} (${KUBERNETES_PROGRAMS.join(', ')}); this takes 5-12 minutes on 2 cores, ` +
        `log: ${logPath}`,
    );
    const heartbeat = setInterval(
      () => log(`still building Kubernetes ${version}: ${formatDuration(Date.now() - started)} elapsed`),
      HEARTBEAT_MS,
    );
    try {
      await runCommand('make', [`WHAT=${what}`], {
        cwd: treeDir,
        env,
        onOutput: (chunk) => buildLog.write(chunk),
      });
    } finally {
      clearInterval(heartbeat);
    }
    const stagingDir = `${binDir}.tmp-${process.pid}`;
    await rm(stagingDir, { recursive: true, force: true });
    await mkdir(stagingDir, { recursive: true });
    for (const name of KUBERNETES_PROGRAMS) {
      await copyFile(join(treeDir, '_output/bin', name), join(stagingDir, name));
      await chmod(join(stagingDir, name), 0o755);
    }
    // The orig tarball is a `git archive` of the v1.20.2 tag: hack/lib/version.sh reads the version from it.
    const { stdout } = await runCommand(join(stagingDir, 'kube-apiserver'), ['--version']);
    if (!stdout.includes(`v${version}`)) {
      throw new Error(`the built kube-apiserver reports "${stdout.trim()}", expected v${version}`);
    }
    await writeFile(
      join(stagingDir, MANIFEST),
      `${JSON.stringify({ version, buildRevision: BUILD_REVISION, programs: KUBERNETES_PROGRAMS, builtAt: new Date().toISOString(), buildSeconds: Math.round((Date.now() - started) / 1000) }, null, 2)}\n`,
    );
    await rm(binDir, { recursive: true, force: true });
    await rename(stagingDir, binDir);
    log(`built Kubernetes ${version} in ${formatDuration(Date.now() - started)}: ${binDir}`);
  } catch (error) {
    const detail = error.outputTail
      ? ''
      : `\n${tailLines(await readFile(logPath, 'utf8').catch(() => ''), 20)}`;
    throw new KubernetesBuildError(
      `building Kubernetes ${version} failed: ${error.message}${detail}`,
      logPath,
      {
        cause: error,
      },
    );
  } finally {
    await new Promise((resolve) => buildLog.end(resolve));
    await rm(workDir, { recursive: true, force: true });
  }
}

/**
 * Returns the Kubernetes binaries of {@link KUBERNETES_VERSION}, building them first when the cache
 * lacks them (installing the Debian packages the build needs, as root). Fast when cached.
 *
 * @param {import('./kubernetesBinaries.mjs').EnsureKubernetesBinariesOptions} [options]
 * @returns {Promise<import('./kubernetesBinaries.mjs').KubernetesBinaries>}
 */
export async function ensureKubernetesBinaries({ cacheDir = cacheRoot(), log = stderrProgressLog } = {}) {
  const version = KUBERNETES_VERSION;
  const versionDir = join(cacheDir, `kubernetes-${version}`);
  const binDir = join(versionDir, 'bin');
  const result = () => ({ version, binDir, binaries: binariesOf(binDir) });
  if (await isComplete(binDir, version)) return result();
  await mkdir(versionDir, { recursive: true });
  await withLock(`${versionDir}.lock`, log, async () => {
    if (await isComplete(binDir, version)) return;
    await build({ version, versionDir, binDir, log });
  });
  if (!existsSync(binDir) || !(await isComplete(binDir, version))) {
    throw new KubernetesBuildError(
      `no complete Kubernetes ${version} build in ${binDir}`,
      join(versionDir, 'build.log'),
    );
  }
  return result();
}

/**
 * The pause program every pod's sandbox runs (the CRI `sandbox_image`): `build/pause/linux/pause.c`
 * of the same source package, compiled statically with gcc, so the image needs nothing else. Cached
 * beside the binaries as `<cache>/kubernetes-<version>/pause/pause`; only the one file is unpacked.
 *
 * @param {import('./kubernetesBinaries.mjs').EnsureKubernetesBinariesOptions} [options]
 * @returns {Promise<string>} the path of the pause executable
 */
export async function ensurePauseBinary({ cacheDir = cacheRoot(), log = stderrProgressLog } = {}) {
  const version = KUBERNETES_VERSION;
  const versionDir = join(cacheDir, `kubernetes-${version}`);
  const pauseDir = join(versionDir, 'pause');
  const executable = join(pauseDir, 'pause');
  if (existsSync(executable)) return executable;
  await mkdir(versionDir, { recursive: true });
  await withLock(`${pauseDir}.lock`, log, async () => {
    if (existsSync(executable)) return;
    await ensureDebianPackages(
      [
        { program: 'gcc', debianPackage: 'gcc' },
        { program: '/usr/lib/x86_64-linux-gnu/libc.a', debianPackage: 'libc6-dev' },
        { program: 'xz', debianPackage: 'xz-utils' },
      ],
      { log },
    );
    const workDir = join(versionDir, `pause-build-${process.pid}`);
    await rm(workDir, { recursive: true, force: true });
    try {
      const tarball = await downloadSource(join(workDir, 'download'), version, log);
      await runCommand('tar', ['-xf', tarball, '-C', workDir, '--wildcards', '*/build/pause/linux/pause.c']);
      const sourceDir = (await readdir(workDir)).find((name) => name.startsWith('kubernetes-'));
      if (!sourceDir) throw new Error(`${tarball} holds no build/pause/linux/pause.c`);
      const staged = join(workDir, 'pause');
      await runCommand('gcc', [
        '-Os',
        '-Wall',
        '-Werror',
        '-static',
        `-DVERSION=v${version}-shardfleet`,
        '-o',
        staged,
        join(workDir, sourceDir, 'build/pause/linux/pause.c'),
      ]);
      await runCommand('strip', [staged]);
      await mkdir(pauseDir, { recursive: true });
      await rename(staged, executable);
      log(`built the pause program: ${executable}`);
    } finally {
      await rm(workDir, { recursive: true, force: true });
    }
  });
  return executable;
}
