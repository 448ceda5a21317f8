// The images `npm run images:build` makes: the four product images and the two test fixtures, each
// built from its Dockerfile with the repository root as the context.

/** The tag every image gets; pods name them exactly so (`imagePullPolicy: Never` or `IfNotPresent`). */
export const IMAGE_TAG = 'e2e';

/** `localhost/shardfleet/<name>`. */
export const imageRepository = (name) => `localhost/shardfleet/${name}`;
/** `localhost/shardfleet/<name>:e2e`. */
export const imageName = (name) => `${imageRepository(name)}:${IMAGE_TAG}`;

// Files every Node image's build reads: npm ci needs every workspace's package.json with the lockfile.
const NODE_BUILD_INPUTS = ['package.json', 'package-lock.json', 'tsconfig.base.json', '.dockerignore'];

/**
 * Each image: its Dockerfile, the base image it is built on (`node` or `redis`: `node:22-slim` and
 * `redis:7.0-bookworm` with Docker, the host-made base images with buildah), the directories whose
 * files it is built from (what decides whether a cached image is still current), and a smoke test:
 * `args` (else the image's CMD) run with the image's entrypoint as its user must print `expectOutput`
 * (its exit code does not matter: most programs stop at once and name the environment variables they
 * lack); a server that keeps running is stopped once it has printed it (`stopWhenPrinted`).
 */
export const IMAGE_DEFINITIONS = Object.freeze([
  {
    name: 'shard',
    dockerfile: 'shard-image/Dockerfile',
    base: 'node',
    inputs: [...NODE_BUILD_INPUTS, 'protocol', 'shard-image'],
    smoke: { args: [], expectOutput: /DISCORD_TOKEN: required/ },
  },
  {
    name: 'rest-proxy',
    dockerfile: 'rest-proxy/Dockerfile',
    base: 'node',
    inputs: [...NODE_BUILD_INPUTS, 'protocol', 'rest-proxy'],
    smoke: { args: [], expectOutput: /PROXY_AUTH_TOKEN: required/ },
  },
  {
    name: 'operator',
    dockerfile: 'operator/Dockerfile',
    base: 'node',
    inputs: [...NODE_BUILD_INPUTS, 'protocol', 'operator'],
    // Prints the CRD: loads the operator's schema code without needing a cluster.
    smoke: { args: ['crd'], expectOutput: /kind: CustomResourceDefinition/ },
  },
  {
    name: 'bot',
    dockerfile: 'bot-image/Dockerfile',
    base: 'node',
    inputs: [...NODE_BUILD_INPUTS, 'protocol', 'bot-image'],
    smoke: { args: [], expectOutput: /REST_PROXY_TOKEN: required/ },
  },
  {
    name: 'simulator',
    dockerfile: 'e2e/images/simulator.Dockerfile',
    base: 'node',
    inputs: [...NODE_BUILD_INPUTS, 'protocol', 'simulator'],
    smoke: { args: ['--help'], expectOutput: /Usage: shardfleet-sim/ },
  },
  {
    name: 'redis',
    dockerfile: 'e2e/images/redis.Dockerfile',
    base: 'redis',
    inputs: [],
    // Starts the server for real, on a socket file instead of a TCP port (it shares this machine's
    // network here).
    smoke: {
      args: ['--port', '0', '--unixsocket', '/tmp/redis.sock'],
      expectOutput: /ready to accept connections/i,
      stopWhenPrinted: true,
    },
  },
]);

/** The definitions named by `names` (all when empty); an unknown name is an error. */
export function selectDefinitions(names) {
  const unknown = names.filter((name) => !IMAGE_DEFINITIONS.some((definition) => definition.name === name));
  if (unknown.length > 0) {
    throw new Error(
      `unknown image ${unknown.join(', ')}; the images are ${IMAGE_DEFINITIONS.map(({ name }) => name).join(', ')}`,
    );
  }
  return names.length === 0
    ? IMAGE_DEFINITIONS
    : IMAGE_DEFINITIONS.filter((definition) => names.includes(definition.name));
}
