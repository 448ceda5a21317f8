// Runs buildah against the images' private storage: the vfs driver (overlay cannot be mounted
// here) under the shardfleet cache, so the images outlive a run, other buildah users are not
// disturbed, and deleting one directory removes them all.
import { join } from 'node:path';
import { runCommand } from '../cluster/commands.mjs';
import { ensureDebianPackages } from '../cluster/debianPackages.mjs';
import { cacheRoot } from '../cluster/paths.mjs';

/** `<cacheDir>/images`: buildah's storage, its run root and the exported archives. */
export function imagesDir(cacheDir = cacheRoot()) {
  return join(cacheDir, 'images');
}

/** The global buildah options that select the private storage. */
export function storageOptions(cacheDir = cacheRoot()) {
  const dir = imagesDir(cacheDir);
  return ['--root', join(dir, 'storage'), '--runroot', join(dir, 'run'), '--storage-driver', 'vfs'];
}

/** Installs buildah from Debian when it is missing (as root; otherwise names the apt command). */
export async function ensureBuildah({ log }) {
  await ensureDebianPackages([{ program: 'buildah', debianPackage: 'buildah' }], { log });
}

/** Runs `buildah <args>` on the private storage; resolves with its stdout. */
export async function buildah(args, { cacheDir, cwd, onOutput } = {}) {
  const { stdout } = await runCommand('buildah', [...storageOptions(cacheDir), ...args], { cwd, onOutput });
  return stdout;
}

/** Whether the private storage holds the image `name`. */
export async function imageExists(name, { cacheDir } = {}) {
  try {
    await buildah(['inspect', '--type', 'image', name], { cacheDir });
    return true;
  } catch {
    return false;
  }
}
