// Checks a built image before anything deploys it: it runs as a non-root user, its program starts
// (the smoke test of its definition), a Node image runs the Node.js its Dockerfile names, and it
// holds no secrets, .env files or tests.
import { spawn } from 'node:child_process';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { buildah, storageOptions } from './buildah.mjs';
import { IMAGE_NODE } from './hostBaseImages.mjs';

const SMOKE_TIMEOUT_MS = 30_000;

// Files no image may hold anywhere: environment files and npm configurations (both may carry
// tokens), and version control.
const SECRET_FILE_NAME = /^(\.env(\..*)?|\.npmrc|\.git)$/;
// Not in shardfleet's own files either (third-party packages may ship their tests and test keys).
const OWN_FORBIDDEN_NAME = /^(__tests__|.*\.(test|spec)\.[cm]?[jt]s|.*\.(pem|key))$/;
// The shape of a Discord bot token (base64 user id, timestamp, HMAC).
const DISCORD_TOKEN = /\b[A-Za-z\d_-]{23,28}\.[A-Za-z\d_-]{6}\.[A-Za-z\d_-]{27,}\b/;
// Where the images keep shardfleet's own files.
const APP_DIR = 'app';
// Workspaces are linked here; each must be one the image ships (built, with its dist/).
const WORKSPACE_LINKS = `${APP_DIR}/node_modules/@shardfleet`;
// Environment variables an image must not set: tokens come from the environment at run time.
const SECRET_ENV = /TOKEN|SECRET|PASSWORD|KEY/i;

/** A problem found in an image, naming the image and every finding. */
export class ImageCheckError extends Error {
  constructor(name, findings) {
    super(`${name} failed its checks:\n- ${findings.join('\n- ')}`);
    this.name = 'ImageCheckError';
    this.findings = findings;
  }
}

/**
 * Runs `buildah run` and resolves with the exit code and all output, whatever the exit code. A
 * server is stopped (SIGTERM) once its output matches `stopOn`.
 */
function runInContainer(container, command, { stopOn, cacheDir }) {
  const args = [...storageOptions(cacheDir), 'run', '--isolation', 'chroot', container, '--', ...command];
  return new Promise((resolve, reject) => {
    const child = spawn('buildah', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    const collect = (chunk) => {
      output += chunk;
      if (stopOn?.test(output)) child.kill('SIGTERM');
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const timer = setTimeout(() => child.kill('SIGTERM'), SMOKE_TIMEOUT_MS);
    child.once('error', reject);
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, output });
    });
  });
}

/** Every entry under `dir` (not following links), its path relative to `root`. */
async function* walk(root, dir = root) {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    yield { path: relative(root, path), name: entry.name, isFile: entry.isFile() };
    if (entry.isDirectory()) yield* walk(root, path);
  }
}

/**
 * Names secret files anywhere; tests, keys and token-shaped strings in shardfleet's own files; and
 * workspaces installed without being built (dev-only ones).
 */
async function scanFiles(rootDir) {
  const findings = [];
  let sizeBytes = 0;
  for await (const { path, name, isFile } of walk(rootDir)) {
    if (isFile) sizeBytes += (await lstat(join(rootDir, path))).size;
    const own = path.startsWith(`${APP_DIR}/`) && !path.split('/').includes('node_modules');
    if (SECRET_FILE_NAME.test(name) || (own && OWN_FORBIDDEN_NAME.test(name))) {
      findings.push(`it contains /${path}`);
    }
    if (isFile && own && DISCORD_TOKEN.test(await readFile(join(rootDir, path), 'utf8'))) {
      findings.push(`/${path} contains something shaped like a Discord token`);
    }
  }
  for (const name of await readdir(join(rootDir, WORKSPACE_LINKS)).catch(() => [])) {
    const linked = join(rootDir, WORKSPACE_LINKS, name);
    if (!(await lstat(join(linked, 'dist')).catch(() => undefined))) {
      findings.push(`/${WORKSPACE_LINKS}/${name} is installed but not built: a dev-only workspace`);
    }
  }
  return { findings, sizeBytes };
}

/**
 * Checks the local image `name` built from `definition`. Resolves with its size on disk (the sum of
 * its files); rejects with an {@link ImageCheckError} naming every problem.
 */
export async function checkImage({ definition, name, cacheDir }) {
  const { config } = JSON.parse(await buildah(['inspect', '--type', 'image', name], { cacheDir })).OCIv1;
  const findings = [];
  const user = config.User ?? '';
  if (user === '' || /^(0|root)(:|$)/.test(user)) findings.push(`it runs as root (USER is "${user}")`);
  for (const variable of config.Env ?? []) {
    const [key] = variable.split('=');
    if (SECRET_ENV.test(key)) findings.push(`it sets the environment variable ${key}`);
  }
  const container = (await buildah(['from', '--pull=never', name], { cacheDir })).trim();
  try {
    const args = definition.smoke.args.length > 0 ? definition.smoke.args : (config.Cmd ?? []);
    const command = [...(config.Entrypoint ?? []), ...args];
    const { code, signal, output } = await runInContainer(container, command, {
      stopOn: definition.smoke.stopWhenPrinted ? definition.smoke.expectOutput : undefined,
      cacheDir,
    });
    if (!definition.smoke.expectOutput.test(output)) {
      findings.push(
        `\`${command.join(' ')}\` ended (${signal ?? `exit code ${code}`}) without printing ` +
          `${definition.smoke.expectOutput}:\n${output.trim().split('\n').slice(-15).join('\n')}`,
      );
    }
    if (definition.base === 'node') {
      const { output: nodeVersion } = await runInContainer(container, ['node', '--version'], { cacheDir });
      if (nodeVersion.trim() !== `v${IMAGE_NODE.version}`) {
        findings.push(`it runs node ${nodeVersion.trim()}, not the Dockerfiles' ${IMAGE_NODE.version}`);
      }
    }
    const rootDir = (await buildah(['mount', container], { cacheDir })).trim();
    try {
      const scan = await scanFiles(rootDir);
      findings.push(...scan.findings);
      if (findings.length > 0) throw new ImageCheckError(name, findings);
      return { sizeBytes: scan.sizeBytes };
    } finally {
      await buildah(['umount', container], { cacheDir });
    }
  } finally {
    await buildah(['rm', container], { cacheDir });
  }
}
