// Builds the images of IMAGE_DEFINITIONS. Provider `local`: buildah (chroot isolation, vfs storage,
// never pulling) on base images made from this machine's programs. Provider `kind`: `docker build`
// on the Dockerfiles' default bases, then `kind load docker-image` into the kind cluster.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { onPath, runCommand, tailLines } from '../cluster/commands.mjs';
import { cacheRoot } from '../cluster/paths.mjs';
import { buildah, ensureBuildah, imagesDir } from './buildah.mjs';
import { checkImage } from './checkImage.mjs';
import { ensureNodeBaseImage, ensureRedisBaseImage } from './hostBaseImages.mjs';
import { imageName, selectDefinitions } from './imageDefinitions.mjs';

export const PROVIDERS = Object.freeze(['local', 'kind']);

/** The repository root: every Dockerfile builds with it as the context. */
export const REPOSITORY_ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The image label holding the hash of what an image was built from. */
const INPUTS_LABEL = 'dev.shardfleet.e2e.inputs';

/** Whether a Docker engine answers (the `docker` program alone is not enough). */
function dockerEngineAnswers() {
  return onPath('docker') && spawnSync('docker', ['info'], { stdio: 'ignore', timeout: 15_000 }).status === 0;
}

/** `$SHARDFLEET_PROVIDER` when set, else `kind` when a Docker engine answers, else `local`. */
export function selectProvider(env = process.env) {
  const chosen = env.SHARDFLEET_PROVIDER || (dockerEngineAnswers() ? 'kind' : 'local');
  if (!PROVIDERS.includes(chosen)) {
    throw new Error(`SHARDFLEET_PROVIDER must be one of ${PROVIDERS.join(', ')}, not "${chosen}"`);
  }
  return chosen;
}

const seconds = (since) => `${((Date.now() - since) / 1000).toFixed(1)} s`;

/**
 * A hash of what `definition` is built from: its Dockerfile, the base image's id and the files of
 * its inputs that git does not ignore (node_modules, dist and build info never count), plus, for a
 * Node image, every workspace's package.json, which `npm ci` checks against the lockfile.
 */
async function inputsHash(definition, baseImageId) {
  const { workspaces = [] } = JSON.parse(await readFile(join(REPOSITORY_ROOT, 'package.json'), 'utf8'));
  const paths = [
    definition.dockerfile,
    ...definition.inputs,
    ...(definition.base === 'node' ? workspaces.map((ws) => `${ws}/package.json`) : []),
  ];
  const { stdout } = await runCommand(
    'git',
    ['ls-files', '--cached', '--others', '--exclude-standard', '--deduplicate', '-z', '--', ...paths],
    { cwd: REPOSITORY_ROOT },
  );
  const hash = createHash('sha256').update(`base ${baseImageId}\n`);
  for (const file of [...new Set(stdout.split('\0').filter(Boolean))].sort()) {
    // A tracked file deleted in the work tree is listed but gone: it no longer counts.
    const content = await readFile(join(REPOSITORY_ROOT, file)).catch(() => undefined);
    if (content) hash.update(`${file}\0${content.length}\0`).update(content);
  }
  return hash.digest('hex');
}

/** The local image `name`'s id and labels, or undefined when there is none. */
async function inspectImage(name, cacheDir) {
  try {
    const info = JSON.parse(await buildah(['inspect', '--type', 'image', name], { cacheDir }));
    return { id: info.FromImageID, labels: info.OCIv1?.config?.Labels ?? {} };
  } catch {
    return undefined;
  }
}

/** Removes every other tag of `name`'s repository; one an image still stands on stays. */
async function removeOtherTags(name, cacheDir) {
  const repository = name.slice(0, name.lastIndexOf(':'));
  const tagged = await buildah(['images', '--format', '{{.Name}}:{{.Tag}}'], { cacheDir });
  for (const other of tagged.split('\n')) {
    if (other.startsWith(`${repository}:`) && other !== name) {
      await buildah(['rmi', other], { cacheDir }).catch(() => {});
    }
  }
}

/** `buildah bud` of one image, its output in `<images dir>/logs/<name>.log`. */
async function buildahBuild({ definition, baseImage, inputs, cacheDir, logsDir }) {
  const logPath = join(logsDir, `${definition.name}.log`);
  const buildLog = createWriteStream(logPath);
  try {
    await buildah(
      [
        'bud',
        '--isolation',
        'chroot',
        '--pull=never',
        '--build-arg',
        `BASE_IMAGE=${baseImage}`,
        '--label',
        `${INPUTS_LABEL}=${inputs}`,
        '--tag',
        imageName(definition.name),
        '--file',
        definition.dockerfile,
        '.',
      ],
      { cacheDir, cwd: REPOSITORY_ROOT, onOutput: (chunk) => buildLog.write(chunk) },
    );
  } catch (error) {
    throw new Error(
      `building ${imageName(definition.name)} from ${definition.dockerfile} failed (full log: ${logPath})` +
        `:\n${error.outputTail ?? tailLines(error.message)}`,
      { cause: error },
    );
  } finally {
    await new Promise((resolve) => buildLog.end(resolve));
  }
}

/**
 * Local provider: makes the base images when missing, then builds (and checks) each image whose
 * inputs changed since it was last built. `force` rebuilds them all.
 */
async function buildLocal({ definitions, force, cacheDir, log }) {
  await ensureBuildah({ log });
  const logsDir = join(imagesDir(cacheDir), 'logs');
  await mkdir(logsDir, { recursive: true });
  const baseMakers = { node: ensureNodeBaseImage, redis: ensureRedisBaseImage };
  const bases = {};
  for (const base of new Set(definitions.map((definition) => definition.base))) {
    const { name } = await baseMakers[base]({ cacheDir, log });
    bases[base] = { name, id: (await inspectImage(name, cacheDir)).id };
  }
  const results = [];
  for (const definition of definitions) {
    const name = imageName(definition.name);
    const base = bases[definition.base];
    const inputs = await inputsHash(definition, base.id);
    const existing = await inspectImage(name, cacheDir);
    if (!force && existing?.labels[INPUTS_LABEL] === inputs) {
      log(`${name} is up to date`);
      results.push({ name, built: false });
      continue;
    }
    const started = Date.now();
    log(`building ${name} from ${definition.dockerfile}`);
    await buildahBuild({ definition, baseImage: base.name, inputs, cacheDir, logsDir });
    // An image that fails its checks is removed, so the next run builds it again.
    const { sizeBytes } = await checkImage({ definition, name, cacheDir }).catch(async (error) => {
      await buildah(['rmi', name], { cacheDir });
      throw error;
    });
    log(`built and checked ${name} in ${seconds(started)} (${(sizeBytes / 1e6).toFixed(0)} MB)`);
    results.push({ name, built: true, seconds: (Date.now() - started) / 1000, sizeBytes });
  }
  // A rebuilt image leaves its predecessor untagged: drop those so the cache does not grow. Then the
  // base images an older version made, now that nothing built here stands on them.
  await buildah(['rmi', '--prune'], { cacheDir });
  for (const { name } of Object.values(bases)) await removeOtherTags(name, cacheDir);
  return results;
}

/** Kind provider: `docker build` on the Dockerfiles' default bases, then `kind load docker-image`. */
async function buildKind({ definitions, log }) {
  for (const program of ['docker', 'kind']) {
    if (!onPath(program)) throw new Error(`the kind provider needs \`${program}\` on PATH`);
  }
  const results = [];
  for (const definition of definitions) {
    const name = imageName(definition.name);
    const started = Date.now();
    log(`docker build ${name} from ${definition.dockerfile}`);
    await runCommand('docker', ['build', '--tag', name, '--file', definition.dockerfile, '.'], {
      cwd: REPOSITORY_ROOT,
    });
    // kind reads the cluster's name from $KIND_CLUSTER_NAME (default `kind`).
    await runCommand('kind', ['load', 'docker-image', name]);
    log(`built ${name} and loaded it into kind in ${seconds(started)}`);
    results.push({ name, built: true, seconds: (Date.now() - started) / 1000 });
  }
  return results;
}

/**
 * Builds the images named in `names` (all when empty) with `provider`. Resolves with one
 * `{ name, built, seconds?, sizeBytes? }` per image.
 */
export async function buildImages({
  names = [],
  provider = selectProvider(),
  force = false,
  cacheDir = cacheRoot(),
  log,
}) {
  const definitions = selectDefinitions(names);
  return provider === 'kind'
    ? buildKind({ definitions, log })
    : buildLocal({ definitions, force, cacheDir, log });
}
