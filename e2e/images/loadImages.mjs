// Moves the locally built images into a containerd (the local node's), with no registry: each is
// written as an OCI archive (`buildah push ... oci-archive:`), then `ctr images import`ed into the
// `k8s.io` namespace the kubelet uses, unpacked with the native snapshotter.
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { runCommand } from '../cluster/commands.mjs';
import { cacheRoot } from '../cluster/paths.mjs';
import { buildah, imagesDir } from './buildah.mjs';
import { imageName, selectDefinitions } from './imageDefinitions.mjs';

/** The containerd namespace the kubelet's CRI plugin uses. */
export const KUBERNETES_NAMESPACE = 'k8s.io';

/**
 * `<images dir>/archives/<file>.tar` of the local image `name`, written again only when the image
 * changed (its id is kept beside the archive).
 */
async function ociArchive(name, file, cacheDir) {
  const archivesDir = join(imagesDir(cacheDir), 'archives');
  const archive = join(archivesDir, `${file}.tar`);
  const idFile = `${archive}.id`;
  const { FromImageID: id } = JSON.parse(await buildah(['inspect', '--type', 'image', name], { cacheDir }));
  if ((await readFile(idFile, 'utf8').catch(() => '')) === id) return archive;
  await mkdir(archivesDir, { recursive: true });
  const partial = `${archive}.partial`;
  await rm(partial, { force: true });
  await buildah(['push', name, `oci-archive:${partial}:${name}`], { cacheDir });
  await rename(partial, archive);
  await writeFile(idFile, id);
  return archive;
}

/**
 * Imports the images named in `names` (all when empty; they must have been built) and the local
 * images `extraImages` (full names, such as the pause image) into the containerd at `address`.
 * Resolves with the image names containerd then holds.
 */
export async function loadImages({ address, names = [], extraImages = [], cacheDir = cacheRoot(), log }) {
  const images = [
    ...extraImages.map((name) => ({ name, file: name.replace(/^.*\//, '').replace(/:.*$/, '') })),
    ...selectDefinitions(names).map((definition) => ({
      name: imageName(definition.name),
      file: definition.name,
    })),
  ];
  const ctr = ['--address', address, '--namespace', KUBERNETES_NAMESPACE];
  for (const { name, file } of images) {
    const started = Date.now();
    const archive = await ociArchive(name, file, cacheDir).catch((error) => {
      throw new Error(
        `cannot export ${name} (build it first with \`npm run images:build\`): ${error.message}`,
        { cause: error },
      );
    });
    await runCommand('ctr', [...ctr, 'images', 'import', '--snapshotter', 'native', archive]);
    log(`loaded ${name} into containerd in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  }
  const { stdout } = await runCommand('ctr', [...ctr, 'images', 'list', '--quiet']);
  // The CRI plugin adds a `sha256:<id>` reference per image; only the names matter to pods.
  return stdout.split('\n').filter((line) => line !== '' && !line.startsWith('sha256:'));
}
