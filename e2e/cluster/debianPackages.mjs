// Installs the Debian packages the cluster needs, and the `deb-src` entry that lets apt fetch
// Kubernetes' source package. Only root can do either; others get the exact command to run.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { onPath, runCommand } from './commands.mjs';

const SOURCES_DIR = '/etc/apt/sources.list.d';
/** The file this module writes when no `deb-src` entry for the release's main component exists. */
export const DEB_SRC_FILE = join(SOURCES_DIR, 'shardfleet-deb-src.sources');

const APT_ENV = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
// Several programs may install at once (preflight, a test, `cluster:up`): wait for dpkg's lock.
const APT_OPTIONS = ['-o', 'DPkg::Lock::Timeout=600'];

/** The environment cannot install what the cluster needs: names what is missing and how to get it. */
export class MissingSystemPackagesError extends Error {
  constructor(packages, reason) {
    super(
      `the local Kubernetes cluster needs the Debian packages ${packages.join(', ')}: ${reason}\n` +
        `Install with: sudo sh -c 'apt-get update && apt-get install -y --no-install-recommends ${packages.join(' ')}'`,
    );
    this.name = 'MissingSystemPackagesError';
    this.packages = packages;
  }
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

let updated = false;

/** `apt-get update`, once per process unless `force`; retried while another apt holds its lock. */
export async function aptGetUpdate({ log = () => {}, force = false } = {}) {
  if (updated && !force) return;
  log('apt-get update');
  for (let attempt = 1; ; attempt += 1) {
    try {
      await runCommand('apt-get', [...APT_OPTIONS, 'update'], { env: APT_ENV });
      updated = true;
      return;
    } catch (error) {
      if (attempt >= 20 || !/Could not get lock|Unable to lock/i.test(String(error.message))) throw error;
      await new Promise((resolve) => setTimeout(resolve, 5_000));
    }
  }
}

/**
 * Makes sure each `{ program, debianPackage }` is available, installing the missing packages with
 * apt when running as root. `program` is a name looked up on PATH or an absolute path.
 */
export async function ensureDebianPackages(requirements, { log = () => {} } = {}) {
  const present = ({ program }) => (program.startsWith('/') ? existsSync(program) : onPath(program));
  const missing = requirements.filter((requirement) => !present(requirement));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map(({ debianPackage }) => debianPackage))];
  if (!onPath('apt-get')) throw new MissingSystemPackagesError(packages, 'apt-get is not available');
  if (!isRoot()) throw new MissingSystemPackagesError(packages, 'installing them needs root');
  await aptGetUpdate({ log });
  log(`installing Debian packages: ${packages.join(' ')}`);
  await runCommand('apt-get', [...APT_OPTIONS, 'install', '-y', '--no-install-recommends', ...packages], {
    env: APT_ENV,
  });
  const stillMissing = missing.filter((requirement) => !present(requirement));
  if (stillMissing.length > 0) {
    throw new MissingSystemPackagesError(
      packages,
      `after installing, ${stillMissing.map(({ program }) => program).join(', ')} is still missing`,
    );
  }
}

/** `VERSION_CODENAME` of /etc/os-release, e.g. `bookworm`. */
export function debianCodename() {
  const osRelease = readFileSync('/etc/os-release', 'utf8');
  return /^VERSION_CODENAME=("?)([^"\n]*)\1$/m.exec(osRelease)?.[2] ?? '';
}

/** Whether apt knows the source package `name` (a `deb-src` entry carries it). */
async function sourcePackageKnown(name) {
  try {
    const { stdout } = await runCommand('apt-cache', ['showsrc', name]);
    return new RegExp(`^Package: ${name}$`, 'm').test(stdout);
  } catch {
    return false;
  }
}

/** Parses deb822 `.sources` stanzas (blank-line separated `Field: value` lines, `#` comments). */
function parseDeb822(text) {
  return text
    .split(/\n\s*\n/)
    .map((stanza) =>
      Object.fromEntries(
        stanza
          .split('\n')
          .filter((line) => /^[A-Za-z-]+:/.test(line))
          .map((line) => {
            const colon = line.indexOf(':');
            return [line.slice(0, colon).toLowerCase(), line.slice(colon + 1).trim()];
          }),
      ),
    )
    .filter((fields) => fields.types);
}

/** The mirror and keyring of the machine's binary `deb` entry for `codename` main. */
function findBinaryEntry(codename) {
  const files = existsSync(SOURCES_DIR)
    ? readdirSync(SOURCES_DIR).map((name) => join(SOURCES_DIR, name))
    : [];
  for (const file of files.filter((path) => path.endsWith('.sources'))) {
    for (const fields of parseDeb822(readFileSync(file, 'utf8'))) {
      if (
        fields.types.split(/\s+/).includes('deb') &&
        (fields.suites ?? '').split(/\s+/).includes(codename) &&
        (fields.components ?? '').split(/\s+/).includes('main') &&
        fields.enabled !== 'no'
      ) {
        return { uri: fields.uris.split(/\s+/)[0], signedBy: fields['signed-by'] };
      }
    }
  }
  const listFiles = ['/etc/apt/sources.list', ...files.filter((path) => path.endsWith('.list'))];
  for (const file of listFiles.filter((path) => existsSync(path))) {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      // `deb [options] uri suite components...`
      const match = /^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)\s+(.*)$/.exec(line.trim());
      if (match && match[3] === codename && match[4].split(/\s+/).includes('main')) {
        const signedBy = /signed-by=(\S+)/.exec(match[1] ?? '')?.[1];
        return { uri: match[2], signedBy };
      }
    }
  }
  return undefined;
}

/**
 * Makes apt able to fetch the source package `name`: when no `deb-src` entry provides it, writes
 * one (deb822, {@link DEB_SRC_FILE}) for the same mirror as the machine's `deb` entry of its release's
 * main component, then runs `apt-get update`.
 */
export async function ensureDebianSourceEntry(name, { log = () => {} } = {}) {
  if (await sourcePackageKnown(name)) return;
  if (!isRoot()) {
    throw new Error(
      `apt cannot fetch the source package ${name}: add a deb-src entry for Debian bookworm main ` +
        `(as root: a "Types: deb-src" file in ${SOURCES_DIR}) and run apt-get update`,
    );
  }
  const codename = debianCodename();
  const entry = findBinaryEntry(codename);
  const uri = entry?.uri ?? 'http://deb.debian.org/debian';
  const lines = ['Types: deb-src', `URIs: ${uri}`, `Suites: ${codename}`, 'Components: main'];
  if (entry?.signedBy) lines.push(`Signed-By: ${entry.signedBy}`);
  log(`adding ${DEB_SRC_FILE} (deb-src ${uri} ${codename} main)`);
  writeFileSync(
    DEB_SRC_FILE,
    `# Written by shardfleet's e2e/cluster scripts to fetch Kubernetes' source.\n${lines.join('\n')}\n`,
  );
  await aptGetUpdate({ log, force: true });
  if (!(await sourcePackageKnown(name))) {
    throw new Error(`apt still does not know the source package ${name} after adding ${DEB_SRC_FILE}`);
  }
}
