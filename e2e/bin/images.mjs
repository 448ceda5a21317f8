#!/usr/bin/env node
// `npm run images:build`: the container images of shardfleet and of the e2e test fixtures, built
// without Docker on this kind of machine (provider `local`: buildah) or with it (provider `kind`).
// `npm run images:load`: the built images into a containerd (the local node's).
// Progress goes to stderr; stdout gets one line per image.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildImages, selectProvider } from '../images/buildImages.mjs';
import { startContainerd } from '../images/containerd.mjs';
import { IMAGE_DEFINITIONS, selectDefinitions } from '../images/imageDefinitions.mjs';
import { loadImages } from '../images/loadImages.mjs';
import { readControlPlaneState } from '../cluster/controlPlaneState.mjs';
import { defaultClusterDir } from '../cluster/paths.mjs';
import { commandLine } from './commandLine.mjs';

const USAGE = `Usage:
  images.mjs build [--force] [IMAGE...]
      Build the images (default all: ${IMAGE_DEFINITIONS.map(({ name }) => name).join(', ')}) as
      localhost/shardfleet/<image>:e2e. Only images whose inputs changed are rebuilt; --force
      rebuilds them all (the local base images are kept).
  images.mjs load [--address SOCKET] [IMAGE...]
      Import the built images (default all) into the containerd listening on SOCKET, namespace
      k8s.io. Without --address: into the node of the cluster \`cluster:up\` started, else into a
      private containerd started for this and removed again (to check that they import).

The provider is $SHARDFLEET_PROVIDER: local (buildah, no Docker; the default when no Docker engine
answers) or kind (docker build + kind load docker-image). Local images live in
$SHARDFLEET_CACHE_DIR/images (default ~/.cache/shardfleet/images).`;

const { values, positionals, log, fail } = commandLine({
  name: 'images',
  usage: USAGE,
  options: {
    force: { type: 'boolean', default: false },
    address: { type: 'string' },
  },
});
const [command, ...names] = positionals;

async function build() {
  const started = Date.now();
  const provider = selectProvider();
  log(`provider ${provider}`);
  const results = await buildImages({ names, provider, force: values.force, log });
  for (const { name, built } of results) console.log(`${name} ${built ? 'built' : 'cached'}`);
  log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
}

async function load() {
  selectDefinitions(names); // an unknown image name fails before containerd starts
  const address =
    values.address ?? (await readControlPlaneState(defaultClusterDir()))?.node?.containerdAddress;
  if (address) {
    log(`importing into the containerd at ${address}`);
    for (const name of await loadImages({ address, names, log })) console.log(name);
    return;
  }
  const containerd = await startContainerd({
    dir: await mkdtemp(join(tmpdir(), 'shardfleet-containerd-')),
    log,
  });
  log(`started a private containerd (${containerd.address}) to import into`);
  try {
    for (const name of await loadImages({ address: containerd.address, names, log })) console.log(name);
  } finally {
    await containerd.stop();
    log('stopped the private containerd and removed its directory');
  }
}

const commands = { build, load };
if (!Object.hasOwn(commands, command)) fail(`unknown command "${command}"\n\n${USAGE}`, 2);
try {
  await commands[command]();
} catch (error) {
  fail(error.message);
}
