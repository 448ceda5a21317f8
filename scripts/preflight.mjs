// Checks what the npm scripts need from the system before they run, and installs what it can.
// Node.js itself cannot be installed from here, so its check only explains. System programs the
// tests start (redis-server) come from Debian's packages: installed when running as root, otherwise
// the exact command is printed.
import { execFileSync, spawnSync } from 'node:child_process';

const [major, minor] = process.versions.node.split('.').map(Number);
const REQUIRED = { major: 20, minor: 19 };

if (major < REQUIRED.major || (major === REQUIRED.major && minor < REQUIRED.minor)) {
  console.error(
    `shardfleet needs Node.js ${REQUIRED.major}.${REQUIRED.minor} or later (vitest 4 and vite 8 do); this is ${process.version}.\n` +
      'Install a current Node.js 20 or 22 (for example `nvm install 22`) and run the command again.',
  );
  process.exit(1);
}

/** Programs the tests and `npm run dev` start, and the Debian package that provides each. */
const SYSTEM_PROGRAMS = [
  { program: 'redis-server', debianPackage: 'redis-server' },
  // The operator's integration tests run a real control plane (e2e/cluster).
  { program: 'etcd', debianPackage: 'etcd-server' },
];

const onPath = (program) =>
  spawnSync('sh', ['-c', `command -v ${program}`], { stdio: 'ignore' }).status === 0;
// `npm run dev` starts only redis-server: a newcomer's first command should not install etcd.
const forDev = process.env.npm_lifecycle_event === 'dev';
const needed = forDev ? SYSTEM_PROGRAMS.filter(({ program }) => program === 'redis-server') : SYSTEM_PROGRAMS;
const missing = needed.filter(({ program }) => !onPath(program));

if (missing.length > 0) {
  const packages = missing.map(({ debianPackage }) => debianPackage);
  const installCommand = `apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}`;
  const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
  const hasApt = onPath('apt-get');
  if (!isRoot || !hasApt) {
    console.error(
      `${forDev ? '`npm run dev` needs' : "shardfleet's tests need"} ${missing.map(({ program }) => program).join(', ')} on PATH.\n` +
        (hasApt
          ? `Install with: sudo sh -c '${installCommand}'`
          : `Install the packages ${packages.join(', ')}.`),
    );
    process.exit(1);
  }
  console.log(`preflight: installing ${packages.join(', ')} from Debian's packages`);
  // The service is never started by the package scripts here: tests start their own servers.
  execFileSync('sh', ['-c', installCommand], {
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
  });
  const stillMissing = missing.filter(({ program }) => !onPath(program));
  if (stillMissing.length > 0) {
    console.error(`preflight: ${stillMissing.map(({ program }) => program).join(', ')} still not on PATH`);
    process.exit(1);
  }
}

/**
 * For `npm test`, or when `flag` is given: runs `prepare` with a log printing `preflight: ` lines,
 * prints what it resolves with, and exits 1 naming the failure.
 */
async function prepareForTests(flag, prepare) {
  if (process.env.npm_lifecycle_event !== 'test' && !process.argv.includes(flag)) return;
  try {
    const done = await prepare((line) => console.log(`preflight: ${line}`));
    if (done) console.log(`preflight: ${done}`);
  } catch (error) {
    console.error(`preflight: ${error.message}`);
    process.exit(1);
  }
}

// `npm test` runs the operator's integration tests against Kubernetes binaries built from Debian's
// source package (e2e/README.md). Build them here, once per machine, with progress lines, so no
// test hook waits minutes. Cached: later runs return at once.
await prepareForTests('--kubernetes', async (log) => {
  const { ensureKubernetesBinaries } = await import('../e2e/cluster/index.mjs');
  const { binDir } = await ensureKubernetesBinaries({ log });
  return `Kubernetes binaries in ${binDir}`;
});

// The chart tests render with helm's semantics; without helm on PATH that is the local renderer
// (e2e/helm), compiled once from Debian's Go packages (about 15 s) and cached. Built here so no test
// hook waits for it.
await prepareForTests('--helm-template', async (log) => {
  const { ensureHelmTemplate } = await import('../e2e/helm/index.mjs');
  return `local helm-template renderer at ${await ensureHelmTemplate({ log })}`;
});

// The chart tests check the alerting rules and dashboard queries with promtool (Debian's
// `prometheus` package; its service is not started).
await prepareForTests('--promtool', async (log) => {
  const { ensurePrometheus } = await import('../e2e/cluster/index.mjs');
  await ensurePrometheus({ log });
});
