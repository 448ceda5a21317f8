// Base images made from this machine's own programs, because no image can be pulled here: `buildah
// from scratch` plus the host's executables and the shared libraries `ldd` lists. Each is tagged
// with the versions it was made from, so it is made once and reused until the host's Node, npm or
// Redis changes (or HOST_BASE_REVISION is bumped).
import { execFileSync } from 'node:child_process';
import { chmod, cp, lstat, mkdir, readlink, realpath, rm, symlink, writeFile } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { onPath, runCommand } from '../cluster/commands.mjs';
import { ensureDebianPackages } from '../cluster/debianPackages.mjs';
import { buildah, imageExists, imagesDir } from './buildah.mjs';

/** Bumped whenever a base image's contents change, so older ones are made again. */
const HOST_BASE_REVISION = 1;

const CA_BUNDLE = '/etc/ssl/certs/ca-certificates.crt';
const NPM_DIR = '/usr/lib/node_modules/npm';
// What the Dockerfiles' RUN steps call besides node and npm (`sh -c`, find, cp --parents, ...).
const SHELL_TOOLS = ['sh', 'env', 'ls', 'cat', 'cp', 'mv', 'rm', 'mkdir', 'chmod', 'ln', 'find'];
// Debian's merged /usr: programs name their libraries and loader through these links.
const MERGED_USR_LINKS = ['/bin', '/sbin', '/lib', '/lib64'];
// Root, and the uid 1000 the images run as (npm and os.userInfo() want a passwd entry).
const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnode:x:1000:1000:node:/home/node:/bin/sh\n';
const GROUP = 'root:x:0:\nnode:x:1000:\n';

/** The absolute path of `program` (a name on PATH or a path). */
function whichProgram(program) {
  if (program.startsWith('/')) return program;
  if (!onPath(program))
    throw new Error(`${program} is not on PATH; the local base images copy it from this machine`);
  return execFileSync('sh', ['-c', 'command -v "$1"', 'sh', program], { encoding: 'utf8' }).trim();
}

/** The shared libraries and loader of an ELF executable, as `ldd` prints them. */
async function sharedLibraries(executable) {
  const { stdout } = await runCommand('ldd', [executable]);
  return [...stdout.matchAll(/(?:=>\s+)?(\/\S+)\s+\(0x/g)].map((match) => match[1]);
}

/**
 * `path` with its directory resolved (so `/lib/x/libc.so.6` becomes `/usr/lib/x/libc.so.6`), followed
 * by every link target down to the file: copying all of them keeps the links intact in the image.
 */
async function withLinkTargets(path) {
  const canonical = join(await realpath(dirname(path)), basename(path));
  const info = await lstat(canonical);
  if (!info.isSymbolicLink()) return [canonical];
  return [canonical, ...(await withLinkTargets(resolve(dirname(canonical), await readlink(canonical))))];
}

/** Copies `path` (file, link or directory tree) into `rootDir` at the same place. */
async function copyIntoRoot(rootDir, path) {
  const target = join(rootDir, path);
  await mkdir(dirname(target), { recursive: true });
  const info = await lstat(path);
  if (info.isSymbolicLink()) {
    await rm(target, { force: true });
    await symlink(await readlink(path), target);
  } else {
    await cp(path, target, { recursive: true, verbatimSymlinks: true, force: true });
  }
}

/**
 * Fills `rootDir` with `programs` (names on PATH or paths), their libraries and loader, the
 * directory trees `trees`, the merged-/usr links, /etc/passwd and /etc/group, /tmp and /root.
 */
async function stageRootFileSystem(rootDir, { programs, trees = [] }) {
  const paths = new Set();
  for (const program of programs) {
    const executable = whichProgram(program);
    for (const path of await withLinkTargets(executable)) paths.add(path);
    for (const library of await sharedLibraries(await realpath(executable))) {
      for (const path of await withLinkTargets(library)) paths.add(path);
    }
  }
  for (const link of MERGED_USR_LINKS) {
    if ((await lstat(link).catch(() => undefined))?.isSymbolicLink()) paths.add(link);
  }
  for (const path of [...paths, ...trees]) await copyIntoRoot(rootDir, path);
  await mkdir(join(rootDir, 'etc'), { recursive: true });
  await writeFile(join(rootDir, 'etc/passwd'), PASSWD);
  await writeFile(join(rootDir, 'etc/group'), GROUP);
  await mkdir(join(rootDir, 'tmp'));
  await chmod(join(rootDir, 'tmp'), 0o1777);
  await mkdir(join(rootDir, 'root'), { mode: 0o700 });
}

/**
 * Commits a `from scratch` image named `name` holding the staged `rootDir` and the `config` options
 * (`buildah config` arguments).
 */
async function commitScratchImage({ name, rootDir, config, cacheDir }) {
  const container = (await buildah(['from', '--pull=never', 'scratch'], { cacheDir })).trim();
  try {
    await buildah(['copy', container, `${rootDir}/`, '/'], { cacheDir });
    await buildah(['config', ...config, container], { cacheDir });
    await buildah(['commit', '--rm', container, name], { cacheDir });
  } catch (error) {
    await buildah(['rm', container], { cacheDir }).catch(() => {});
    throw error;
  }
}

/** Makes the image `name` with `stage(rootDir)` and `config` unless it exists already. */
async function ensureHostBaseImage({ name, description, stage, config, cacheDir, log }) {
  if (await imageExists(name, { cacheDir })) return { name, made: false };
  const started = Date.now();
  log(`making the base image ${name} (${description})`);
  const rootDir = join(imagesDir(cacheDir), `rootfs-${process.pid}`);
  await rm(rootDir, { recursive: true, force: true });
  try {
    await stage(rootDir);
    await commitScratchImage({ name, rootDir, config, cacheDir });
  } finally {
    await rm(rootDir, { recursive: true, force: true });
  }
  log(`made ${name} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return { name, made: true };
}

const PATH_ENV = 'PATH=/usr/local/bin:/usr/bin:/bin';

/**
 * A Node base image from the host's node and npm (with a shell and the few tools RUN steps use), in
 * place of `node:22-slim`. It trusts this machine's CA bundle, without which npm inside a RUN step
 * fails with SELF_SIGNED_CERT_IN_CHAIN.
 */
export async function ensureNodeBaseImage({ cacheDir, log }) {
  const nodeVersion = process.version.slice(1);
  const { stdout: npmVersion } = await runCommand('npm', ['--version']);
  const name = `localhost/shardfleet/node-base:${nodeVersion}-npm${npmVersion.trim()}-r${HOST_BASE_REVISION}`;
  return ensureHostBaseImage({
    name,
    description: `the host's node ${nodeVersion} and npm ${npmVersion.trim()}`,
    cacheDir,
    log,
    stage: async (rootDir) => {
      await stageRootFileSystem(rootDir, {
        programs: [process.execPath, ...SHELL_TOOLS],
        trees: [NPM_DIR, CA_BUNDLE],
      });
      await symlink('../lib/node_modules/npm/bin/npm-cli.js', join(rootDir, 'usr/bin/npm'));
      await symlink('../lib/node_modules/npm/bin/npx-cli.js', join(rootDir, 'usr/bin/npx'));
      // npm's global configuration; the host's is not copied (it may name private settings).
      await mkdir(join(rootDir, 'usr/etc'), { recursive: true });
      await writeFile(join(rootDir, 'usr/etc/npmrc'), 'update-notifier=false\nfund=false\naudit=false\n');
    },
    config: ['--env', PATH_ENV, '--env', `NODE_EXTRA_CA_CERTS=${CA_BUNDLE}`, '--cmd', 'node'],
  });
}

/** The pod sandbox image the local node's containerd names as its CRI `sandbox_image`. */
export const PAUSE_IMAGE = 'localhost/shardfleet/pause:e2e';

/**
 * The pod sandbox image: the statically linked pause program alone (from `ensurePauseBinary`),
 * run as nobody, in place of registry.k8s.io/pause.
 */
export async function ensurePauseImage({ pauseBinary, cacheDir, log }) {
  return ensureHostBaseImage({
    name: PAUSE_IMAGE,
    description: 'the pause program built from the Kubernetes source',
    cacheDir,
    log,
    stage: async (rootDir) => {
      await mkdir(rootDir, { recursive: true });
      await cp(pauseBinary, join(rootDir, 'pause'));
    },
    config: ['--entrypoint', '["/pause"]', '--cmd', '', '--user', '65535:65535'],
  });
}

/** A base image holding Debian's redis-server from this machine, in place of `redis:7-bookworm`. */
export async function ensureRedisBaseImage({ cacheDir, log }) {
  await ensureDebianPackages([{ program: 'redis-server', debianPackage: 'redis-server' }], { log });
  const { stdout } = await runCommand('redis-server', ['--version']);
  const redisVersion = /\bv=(\S+)/.exec(stdout)?.[1];
  if (!redisVersion)
    throw new Error(`cannot read the version from \`redis-server --version\`: ${stdout.trim()}`);
  return ensureHostBaseImage({
    name: `localhost/shardfleet/redis-base:${redisVersion}-r${HOST_BASE_REVISION}`,
    description: `the host's redis-server ${redisVersion}`,
    cacheDir,
    log,
    stage: (rootDir) => stageRootFileSystem(rootDir, { programs: ['redis-server'] }),
    config: ['--env', PATH_ENV, '--cmd', 'redis-server'],
  });
}
