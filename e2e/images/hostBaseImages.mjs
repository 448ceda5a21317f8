// Base images made without a registry, because no image can be pulled here: `buildah from scratch`
// plus executables (this machine's, or Node.js from the npm registry) and the shared libraries `ldd`
// lists. Each is tagged with the versions it was made from, so it is made once and reused until a
// version changes (or HOST_BASE_REVISION is bumped).
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import {
  chmod,
  cp,
  lstat,
  mkdir,
  readlink,
  realpath,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { onPath, runCommand } from '../cluster/commands.mjs';
import { ensureDebianPackages } from '../cluster/debianPackages.mjs';
import { buildah, imageExists, imagesDir } from './buildah.mjs';

/** Bumped whenever a base image's contents change, so older ones are made again. */
const HOST_BASE_REVISION = 2;

/**
 * The Node.js of the images, the `node:22` the Dockerfiles name: the official build, which the npm
 * registry carries as `node-linux-<arch>`. Pinned with its integrity, so a changed package is refused.
 */
export const IMAGE_NODE = Object.freeze({
  version: '22.23.5',
  integrity: {
    x64: 'sha512-3jhC+wcoWxKZxcRqF2sUSl0c9HEXFnur/nuIPx6O6CWKV0jOUWQm7Htw5SuXqqlMCEhi0cJqybFPEb5hhcBiMw==',
    arm64: 'sha512-e1LOUGKVruPGuLVutn8+Cgm5pI1APm4Kvh+zbb/qe/ZpD9s+TQby5iUgZOWmPpbSKpj0Td8DP1N0NEnXasHizg==',
  },
});

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
 * `placed` executables (`{ source, target }`: copied to `target`, with their libraries), the
 * directory trees `trees`, the merged-/usr links, /etc/passwd and /etc/group, /tmp and /root.
 */
async function stageRootFileSystem(rootDir, { programs, placed = [], trees = [] }) {
  const paths = new Set();
  const addLibraries = async (executable) => {
    for (const library of await sharedLibraries(await realpath(executable))) {
      for (const path of await withLinkTargets(library)) paths.add(path);
    }
  };
  for (const program of programs) {
    const executable = whichProgram(program);
    for (const path of await withLinkTargets(executable)) paths.add(path);
    await addLibraries(executable);
  }
  for (const { source, target } of placed) {
    await addLibraries(source);
    await mkdir(dirname(join(rootDir, target)), { recursive: true });
    await cp(source, join(rootDir, target));
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
 * The `node` executable of IMAGE_NODE for this machine's architecture, fetched once with `npm pack`
 * (the npm registry is reachable where Docker Hub is not), checked against the pinned integrity, and
 * kept in `<cache>/node-<version>-linux-<arch>/node`.
 */
export async function ensureImageNodeBinary({ cacheDir, log }) {
  const arch = process.arch;
  const expected = IMAGE_NODE.integrity[arch];
  if (!expected) {
    throw new Error(
      `the local base image has Node.js for ${Object.keys(IMAGE_NODE.integrity).join(' and ')} only, not ${arch}`,
    );
  }
  const spec = `node-linux-${arch}@${IMAGE_NODE.version}`;
  const dir = join(cacheDir, `node-${IMAGE_NODE.version}-linux-${arch}`);
  const binary = join(dir, 'node');
  if (existsSync(binary)) return binary;
  const started = Date.now();
  log(`fetching Node.js ${IMAGE_NODE.version} for the images (${spec} from the npm registry)`);
  const workDir = `${dir}.download-${process.pid}`;
  await rm(workDir, { recursive: true, force: true });
  await mkdir(workDir, { recursive: true });
  try {
    const { stdout } = await runCommand('npm', ['pack', spec, '--json', '--pack-destination', workDir], {
      cwd: workDir,
    });
    // npm reports the integrity of the tarball it wrote (and checked it against the registry's).
    const [{ filename, integrity }] = JSON.parse(stdout);
    const tarball = join(workDir, filename);
    if (integrity !== expected) {
      throw new Error(`${spec} from the npm registry has integrity ${integrity}, not the pinned ${expected}`);
    }
    await runCommand('tar', ['-xzf', tarball, '-C', workDir, 'package/bin/node']);
    const { stdout: version } = await runCommand(join(workDir, 'package/bin/node'), ['--version']);
    if (version.trim() !== `v${IMAGE_NODE.version}`) {
      throw new Error(`${spec} holds node ${version.trim()}, not v${IMAGE_NODE.version}`);
    }
    await mkdir(dir, { recursive: true });
    // Renamed into place last, so an interrupted fetch never leaves a binary that looks complete.
    await rename(join(workDir, 'package/bin/node'), binary);
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
  log(`fetched Node.js ${IMAGE_NODE.version} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return binary;
}

/**
 * A Node base image in place of `node:22-slim`: IMAGE_NODE's node in /usr/bin (where npm finds its
 * global prefix), the host's npm (npm 11 supports Node 22), a shell and the few tools RUN steps use.
 * It trusts this machine's CA bundle, without which npm inside a RUN step fails with
 * SELF_SIGNED_CERT_IN_CHAIN.
 */
export async function ensureNodeBaseImage({ cacheDir, log }) {
  const nodeBinary = await ensureImageNodeBinary({ cacheDir, log });
  const { stdout: npmVersion } = await runCommand('npm', ['--version']);
  const name = `localhost/shardfleet/node-base:${IMAGE_NODE.version}-npm${npmVersion.trim()}-r${HOST_BASE_REVISION}`;
  return ensureHostBaseImage({
    name,
    description: `node ${IMAGE_NODE.version} and the host's npm ${npmVersion.trim()}`,
    cacheDir,
    log,
    stage: async (rootDir) => {
      await stageRootFileSystem(rootDir, {
        programs: SHELL_TOOLS,
        placed: [{ source: nodeBinary, target: '/usr/bin/node' }],
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
