// `helm template` and `helm lint` for tests: helm itself where it is on PATH, otherwise a local
// renderer (./renderer, Go text/template + sprig) built from Debian's Go packages and cached
// outside the repository. See "Helm charts without helm" in e2e/README.md.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadAllYaml } from '@kubernetes/client-node';
import { CommandFailedError, onPath, runCommand } from '../cluster/commands.mjs';
import { ensureDebianPackages } from '../cluster/debianPackages.mjs';
import { KUBERNETES_VERSION, cacheRoot } from '../cluster/paths.mjs';

const RENDERER_SOURCE = join(dirname(fileURLToPath(import.meta.url)), 'renderer');
const GOPATH = '/usr/share/gocode';
/** Bumped when the build itself changes (flags, Go environment), so older caches are rebuilt. */
const BUILD_REVISION = 1;

/** What building the renderer needs, all from Debian (GOPATH mode against /usr/share/gocode). */
const BUILD_REQUIREMENTS = [
  { program: 'go', debianPackage: 'golang-go' },
  {
    program: `${GOPATH}/src/github.com/Masterminds/sprig/functions.go`,
    debianPackage: 'golang-github-masterminds-sprig-dev',
  },
  { program: `${GOPATH}/src/github.com/ghodss/yaml/yaml.go`, debianPackage: 'golang-github-ghodss-yaml-dev' },
  { program: `${GOPATH}/src/gopkg.in/yaml.v2/yaml.go`, debianPackage: 'golang-gopkg-yaml.v2-dev' },
  {
    program: `${GOPATH}/src/github.com/xeipuuv/gojsonschema/validation.go`,
    debianPackage: 'golang-github-xeipuuv-gojsonschema-dev',
  },
];

/** Rendering or linting a chart failed; `message` is the renderer's own (helm's wording). */
export class ChartRenderError extends Error {
  constructor(message, { renderer, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = 'ChartRenderError';
    this.renderer = renderer;
  }
}

/** The renderer's message without the `Error: ` prefix both helm and ours print. */
function rendererMessage(error) {
  if (!(error instanceof CommandFailedError)) return error.message;
  return (error.outputTail ?? error.message).replace(/^Error: /, '').trim();
}

/** Hash of the renderer's Go sources and the build revision: the cache key. */
async function sourceHash() {
  const hash = createHash('sha256').update(`revision ${BUILD_REVISION}\n`);
  for (const name of (await readdir(RENDERER_SOURCE)).filter((file) => file.endsWith('.go')).sort()) {
    hash.update(`${name}\n`).update(await readFile(join(RENDERER_SOURCE, name)));
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * Returns the path of the local renderer, building it first when the cache lacks this version of
 * its sources (as root, installing the Debian packages the build needs). The executable appears
 * by an atomic rename, so processes building at once each get a complete one.
 *
 * @param {import('./index.mjs').EnsureHelmTemplateOptions} [options]
 */
export async function ensureHelmTemplate({ cacheDir = cacheRoot(), log = () => {} } = {}) {
  const dir = join(cacheDir, 'helm-template', await sourceHash());
  const executable = join(dir, 'helm-template');
  if (existsSync(executable)) return executable;
  await ensureDebianPackages(BUILD_REQUIREMENTS, { log });
  await mkdir(dir, { recursive: true });
  const staging = `${executable}.tmp-${process.pid}`;
  const started = Date.now();
  log(`building the local helm-template renderer into ${dir}`);
  try {
    await runCommand('go', ['build', '-trimpath', '-o', staging, '.'], {
      cwd: RENDERER_SOURCE,
      env: {
        ...process.env,
        GO111MODULE: 'off',
        GOPATH,
        GOPROXY: 'off',
        GOFLAGS: '',
        CGO_ENABLED: '0',
        GOTOOLCHAIN: 'local',
        GOCACHE: join(cacheDir, 'helm-template', 'go-build'),
      },
    });
    await chmod(staging, 0o755);
    await rename(staging, executable);
  } catch (error) {
    await rm(staging, { force: true });
    throw new ChartRenderError(`building the local helm-template renderer failed: ${error.message}`, {
      renderer: 'local',
      cause: error,
    });
  }
  log(`built the local helm-template renderer in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return executable;
}

function chooseRenderer(renderer) {
  if (renderer === 'helm' || renderer === 'local') return renderer;
  return onPath('helm') ? 'helm' : 'local';
}

/** Parses a multi-document YAML string, dropping empty documents. */
function parseDocuments(manifests) {
  return loadAllYaml(manifests).filter((document) => document !== null && document !== undefined);
}

/**
 * Renders a chart like `helm template` (see index.d.mts).
 *
 * @param {import('./index.mjs').RenderChartOptions} options
 * @returns {Promise<import('./index.mjs').RenderedChart>}
 */
export async function renderChart({
  chartDir,
  releaseName = 'shardfleet',
  namespace = 'shardfleet-system',
  valuesFiles = [],
  values = {},
  set = [],
  kubeVersion = `v${KUBERNETES_VERSION}`,
  apiVersions = [],
  includeCrds = false,
  renderer = 'auto',
  lint = false,
  cacheDir,
  log = () => {},
}) {
  const chosen = chooseRenderer(renderer);
  const workDir = await mkdtemp(join(tmpdir(), 'shardfleet-helm-'));
  try {
    // `values` is one more values file after the others (JSON is YAML).
    const valuesPath = join(workDir, 'values.json');
    await writeFile(valuesPath, JSON.stringify(values));
    const common = [
      '--namespace',
      namespace,
      ...[...valuesFiles, valuesPath].flatMap((file) => ['-f', file]),
      ...set.flatMap((assignment) => ['--set', assignment]),
      '--kube-version',
      kubeVersion,
      ...apiVersions.flatMap((version) => ['--api-versions', version]),
      ...(includeCrds ? ['--include-crds'] : []),
    ];
    let manifests;
    let notes = '';
    try {
      if (chosen === 'helm') {
        ({ stdout: manifests } = await runCommand('helm', ['template', releaseName, chartDir, ...common]));
        // `helm template` never prints NOTES.txt; a client-only dry-run install renders it (helm 3.13+).
        notes = await runCommand('helm', [
          'install',
          releaseName,
          chartDir,
          ...common.filter((arg) => arg !== '--include-crds'),
          '--dry-run=client',
          '--output',
          'json',
        ]).then(
          ({ stdout }) => JSON.parse(stdout).info?.notes ?? '',
          () => '',
        );
      } else {
        const executable = await ensureHelmTemplate({ cacheDir, log });
        const { stdout } = await runCommand(executable, [
          '--chart',
          chartDir,
          '--release-name',
          releaseName,
          ...(lint ? ['--lint'] : []),
          ...common,
        ]);
        ({ manifests, notes } = JSON.parse(stdout));
      }
    } catch (error) {
      throw new ChartRenderError(rendererMessage(error), { renderer: chosen, cause: error });
    }
    let objects;
    try {
      objects = parseDocuments(manifests);
    } catch (error) {
      throw new ChartRenderError(`the rendered manifests are not valid YAML: ${error.message}`, {
        renderer: chosen,
        cause: error,
      });
    }
    return { manifests, notes, objects, renderer: chosen };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** The problems `helm lint` reports that matter here, for one rendering. */
function objectProblems(objects) {
  const problems = [];
  for (const [index, object] of objects.entries()) {
    const where = `document ${index + 1}${object?.kind ? ` (${object.kind})` : ''}`;
    if (typeof object !== 'object' || Array.isArray(object)) {
      problems.push(`${where}: not a YAML mapping`);
      continue;
    }
    if (!object.apiVersion) problems.push(`${where}: apiVersion not set`);
    if (!object.kind) problems.push(`${where}: kind not set`);
    const name = object.metadata?.name;
    if (!name) problems.push(`${where}: metadata.name not set`);
    else if (name.length > 253 || !DNS_SUBDOMAIN.test(name))
      problems.push(`${where}: metadata.name "${name}" is not a valid DNS subdomain`);
  }
  return problems;
}

/**
 * Lints a chart over its default values and every `ci/*-values.yaml` (see index.d.mts).
 *
 * @param {import('./index.mjs').LintChartOptions} options
 * @returns {Promise<import('./index.mjs').LintResult>}
 */
export async function lintChart({ chartDir, renderer = 'auto', cacheDir, log = () => {} }) {
  const chosen = chooseRenderer(renderer);
  const ciDir = join(chartDir, 'ci');
  const ciFiles = existsSync(ciDir)
    ? (await readdir(ciDir))
        .filter((name) => name.endsWith('-values.yaml'))
        .sort()
        .map((name) => join(ciDir, name))
    : [];
  const valueSets = [undefined, ...ciFiles];
  const failures = [];
  for (const valuesFile of valueSets) {
    const label = valuesFile ? basename(valuesFile) : 'default values';
    try {
      if (chosen === 'helm') {
        await runCommand('helm', ['lint', '--strict', chartDir, ...(valuesFile ? ['-f', valuesFile] : [])]);
      } else {
        const { objects } = await renderChart({
          chartDir,
          valuesFiles: valuesFile ? [valuesFile] : [],
          renderer: 'local',
          lint: true,
          cacheDir,
          log,
        });
        failures.push(...objectProblems(objects).map((problem) => `${label}: ${problem}`));
      }
    } catch (error) {
      failures.push(
        `${label}: ${error instanceof ChartRenderError ? error.message : rendererMessage(error)}`,
      );
    }
  }
  if (failures.length > 0) {
    throw new ChartRenderError(`chart ${chartDir} failed linting:\n${failures.join('\n')}`, {
      renderer: chosen,
    });
  }
  return { renderer: chosen, valueSets: valueSets.map((file) => file ?? 'default values') };
}
