// Where the cluster scripts keep what outlives one run. Everything lives outside the repository so
// `git status` stays clean and a fresh clone reuses the binaries another checkout built.
import { homedir } from 'node:os';
import { join } from 'node:path';

/** The Kubernetes release the scripts build from Debian's `kubernetes` source package (bookworm). */
export const KUBERNETES_VERSION = '1.20.2';

/**
 * The cache root: `$SHARDFLEET_CACHE_DIR`, else `$XDG_CACHE_HOME/shardfleet`, else
 * `~/.cache/shardfleet`.
 */
export function cacheRoot(env = process.env) {
  if (env.SHARDFLEET_CACHE_DIR) return env.SHARDFLEET_CACHE_DIR;
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'shardfleet');
}

/** The state directory of the cluster `npm run cluster:up` starts: `$SHARDFLEET_CLUSTER_DIR` or `<cache>/cluster`. */
export function defaultClusterDir(env = process.env) {
  return env.SHARDFLEET_CLUSTER_DIR || join(cacheRoot(env), 'cluster');
}
