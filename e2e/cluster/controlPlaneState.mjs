// The control plane's state file: what runs (pids and executables), where, and how to reach it.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export const STATE_FILE = 'state.json';

/** Reads `<dir>/state.json`, or undefined when the directory holds no control plane. */
export async function readControlPlaneState(dir) {
  try {
    return JSON.parse(await readFile(join(dir, STATE_FILE), 'utf8'));
  } catch (error) {
    if (error.code === 'ENOENT') return undefined;
    throw new Error(`cannot read the control plane state ${join(dir, STATE_FILE)}: ${error.message}`, {
      cause: error,
    });
  }
}

/** Writes the state file atomically (readers never see half a file); only the owner can read it. */
export async function writeControlPlaneState(dir, state) {
  const path = join(dir, STATE_FILE);
  await writeFile(`${path}.tmp`, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
  await rename(`${path}.tmp`, path);
}
