// The kind provider, for machines with a Docker engine: a kind cluster named $KIND_CLUSTER_NAME
// (default `shardfleet`), its kubeconfig written into the cluster state directory. kind brings its
// own node image, CoreDNS and kube-proxy; images get in with `kind load docker-image`
// (`images:build` does that for this provider).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { onPath, runCommand } from './commands.mjs';

export const kindClusterName = (env = process.env) => env.KIND_CLUSTER_NAME || 'shardfleet';

function requireKind() {
  for (const program of ['docker', 'kind']) {
    if (!onPath(program)) throw new Error(`the kind provider needs \`${program}\` on PATH`);
  }
}

/** Creates the kind cluster unless it exists; resolves with the path of its kubeconfig and whether it was created. */
export async function kindClusterUp({ dir, log }) {
  requireKind();
  const name = kindClusterName();
  const kubeconfig = join(dir, 'kubeconfig');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const { stdout } = await runCommand('kind', ['get', 'clusters']);
  if (stdout.split('\n').includes(name)) {
    log(`the kind cluster ${name} exists`);
    await runCommand('kind', ['export', 'kubeconfig', '--name', name, '--kubeconfig', kubeconfig]);
    return { kubeconfigPath: kubeconfig, created: false };
  }
  log(`creating the kind cluster ${name}`);
  await runCommand('kind', [
    'create',
    'cluster',
    '--name',
    name,
    '--kubeconfig',
    kubeconfig,
    '--wait',
    '120s',
  ]);
  return { kubeconfigPath: kubeconfig, created: true };
}

/** Deletes the kind cluster (nothing happens when there is none). */
export async function kindClusterDown({ log }) {
  requireKind();
  const name = kindClusterName();
  await runCommand('kind', ['delete', 'cluster', '--name', name]);
  log(`deleted the kind cluster ${name}`);
}
