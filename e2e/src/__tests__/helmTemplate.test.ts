import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChartRenderError, ensureHelmTemplate, lintChart, renderChart } from '../../helm/index.mjs';

const chartDir = fileURLToPath(new URL('./fixtures/helm-chart', import.meta.url));
type Doc = Record<string, any>;

async function render(options: Partial<Parameters<typeof renderChart>[0]> = {}) {
  const result = await renderChart({
    chartDir,
    releaseName: 'rel',
    namespace: 'ns',
    renderer: 'local',
    ...options,
  });
  return { ...result, objects: result.objects as Doc[] };
}

function byKindName(objects: Doc[], kind: string, name: string): Doc {
  const found = objects.find((object) => object.kind === kind && object.metadata?.name === name);
  if (!found) throw new Error(`no ${kind}/${name} among ${objects.map((object) => object.kind).join(', ')}`);
  return found;
}

async function renderError(options: Partial<Parameters<typeof renderChart>[0]>): Promise<ChartRenderError> {
  const error = await render(options).then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(ChartRenderError);
  return error as ChartRenderError;
}

describe('the local helm template renderer', () => {
  // The first build compiles sprig and its dependencies from Debian's Go packages.
  beforeAll(async () => {
    await ensureHelmTemplate();
  }, 300_000);

  it('renders the defaults with Release, Chart, Capabilities and Template fields', async () => {
    const { objects, renderer } = await render();
    expect(renderer).toBe('local');
    const deployment = byKindName(objects, 'Deployment', 'rel-fixture');
    expect(deployment.metadata.namespace).toBe('ns');
    expect(deployment.spec.replicas).toBe(2);
    expect(deployment.spec.template.spec.containers[0].image).toBe('localhost/fixture:e2e');
    expect(deployment.metadata.annotations).toEqual({
      'fixture/app-version': '1.2.3',
      'fixture/description': 'A chart that exercises the helm template renderer.',
      'fixture/kube': 'v1.20.2',
      'fixture/kube-minor': '20',
      'fixture/revision': '1',
      'fixture/install': 'true',
      'fixture/template': 'fixture/templates/deployment.yaml',
      // tpl renders the value as a template
      'fixture/greeting': 'hello from rel',
      // a missing key renders empty, not "<no value>"
      'fixture/missing': '',
    });
  });

  it('renders include + nindent + toYaml from _helpers.tpl, which is not output itself', async () => {
    const { objects, manifests } = await render();
    expect(byKindName(objects, 'Deployment', 'rel-fixture').metadata.labels).toEqual({
      'app.kubernetes.io/name': 'fixture',
      'app.kubernetes.io/instance': 'rel',
      'app.kubernetes.io/managed-by': 'Helm',
      'helm.sh/chart': 'fixture-0.3.1',
      team: 'bots',
      tier: 'backend',
    });
    expect(manifests).not.toContain('_helpers.tpl');
    expect(manifests).not.toContain('ShouldNeverBeOutput');
  });

  it('applies -f files, then values, then --set, with typed --set values and list indexes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'helm-template-test-'));
    try {
      const first = join(dir, 'first.yaml');
      const second = join(dir, 'second.yaml');
      await writeFile(first, 'replicas: 5\nimage:\n  tag: from-first\nextraLabels:\n  team: first\n');
      await writeFile(second, 'image:\n  tag: from-second\n');
      const { objects } = await render({
        valuesFiles: [first, second],
        values: { extraLabels: { tier: 'from-values' } },
        set: ['replicas=7', 'image.repository=registry/x', 'extraLabels.zone=eu\\,1'],
      });
      const deployment = byKindName(objects, 'Deployment', 'rel-fixture');
      expect(deployment.spec.replicas).toBe(7);
      expect(deployment.spec.template.spec.containers[0].image).toBe('registry/x:from-second');
      expect(deployment.metadata.labels).toMatchObject({ team: 'first', tier: 'from-values', zone: 'eu,1' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('deletes a default key given null (here making `required` fail with its message)', async () => {
    const viaSet = await renderError({ set: ['image.tag=null'] });
    expect(viaSet.message).toBe(
      'execution error at (fixture/templates/required.yaml:3:4): image.tag is required',
    );
    const viaValues = await renderError({ values: { image: { tag: null } } });
    expect(viaValues.message).toContain('image.tag is required');
  });

  it('fails with the message of `fail`', async () => {
    const error = await renderError({ set: ['explode=true'] });
    expect(error.message).toMatch(
      /^execution error at \(fixture\/templates\/deployment\.yaml:2:\d+\): explode is set: refusing to render$/,
    );
  });

  it('validates values against values.schema.json before rendering, naming the key', async () => {
    const unknown = await renderError({ values: { replicaz: 3 } });
    expect(unknown.message).toBe(
      "values don't meet the specifications of the schema(s) in the following chart(s):\n" +
        'fixture:\n- (root): Additional property replicaz is not allowed',
    );
    // `explode` would fail rendering: the schema error comes first.
    const wrongType = await renderError({ set: ['replicas=three', 'explode=true'] });
    expect(wrongType.message).toContain('- replicas: Invalid type. Expected: integer, given: string');
    const nested = await renderError({ set: ['image.pullPolicy=Always'] });
    expect(nested.message).toContain('- image: Additional property pullPolicy is not allowed');
  });

  it('puts a .Files.Glob into ConfigMap data with AsConfig', async () => {
    const { objects } = await render();
    expect(byKindName(objects, 'ConfigMap', 'rel-fixture-files').data).toEqual({
      'a.conf': 'alpha=1\n',
      'b.conf': 'beta=2\n',
    });
  });

  it("converts with toJson, mustToJson, toYaml, mustToYaml and the from* functions as helm's do", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'helm-template-conversions-'));
    try {
      await mkdir(join(dir, 'templates'));
      await writeFile(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: conversions\nversion: 1.0.0\n');
      await writeFile(join(dir, 'values.yaml'), 'labels:\n  team: bots\n');
      await writeFile(
        join(dir, 'templates', 'conversions.yaml'),
        [
          'apiVersion: v1',
          'kind: ConfigMap',
          'metadata:',
          '  name: conversions',
          'data:',
          '  toJson: {{ .Values.labels | toJson | quote }}',
          '  mustToJson: {{ .Values.labels | mustToJson | quote }}',
          '  toYaml: {{ .Values.labels | toYaml | quote }}',
          '  mustToYaml: {{ .Values.labels | mustToYaml | quote }}',
          '  fromJson: {{ (fromJson `{"a": 1}`).a | quote }}',
          '  fromJsonError: {{ hasKey (fromJson "{") "Error" | quote }}',
          '  fromYaml: {{ (fromYaml "b: two").b | quote }}',
          '  fromYamlError: {{ hasKey (fromYaml "- a list") "Error" | quote }}',
          '  fromJsonArray: {{ fromJsonArray "[1, 2]" | len | quote }}',
          '  fromJsonArrayError: {{ fromJsonArray "{" | len | quote }}',
          '  fromYamlArray: {{ fromYamlArray "- one\\n- two" | join "," | quote }}',
          '  fromYamlArrayError: {{ fromYamlArray "a: b" | len | quote }}',
          '',
        ].join('\n'),
      );
      const { objects } = await render({ chartDir: dir });
      expect(byKindName(objects, 'ConfigMap', 'conversions').data).toEqual({
        toJson: '{"team":"bots"}',
        mustToJson: '{"team":"bots"}',
        toYaml: 'team: bots',
        mustToYaml: 'team: bots',
        fromJson: '1',
        // A document that does not parse: a map holding the error, or a list of it.
        fromJsonError: 'true',
        fromYaml: 'two',
        fromYamlError: 'true',
        fromJsonArray: '2',
        fromJsonArrayError: '1',
        fromYamlArray: 'one,two',
        fromYamlArrayError: '1',
      });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('answers .Capabilities.APIVersions.Has from the builtin list and --api-versions', async () => {
    const plain = await render();
    expect(byKindName(plain.objects, 'ConfigMap', 'rel-fixture-apis').data).toEqual({
      'apps-v1': 'true',
      'made-up': 'false',
    });
    expect(plain.objects.some((object) => object.kind === 'ServiceMonitor')).toBe(false);
    const withMonitor = await render({ apiVersions: ['monitoring.coreos.com/v1/ServiceMonitor'] });
    expect(byKindName(withMonitor.objects, 'ServiceMonitor', 'rel-fixture')).toBeDefined();
  });

  it('renders NOTES.txt apart from the manifests', async () => {
    const { notes, manifests } = await render();
    expect(notes).toBe('Installed rel (fixture 0.3.1) in ns.\n');
    expect(manifests).not.toContain('NOTES.txt');
  });

  it('drops templates that render empty and prints the rest in install order', async () => {
    const { manifests, objects } = await render();
    expect(manifests).not.toContain('templates/optional.yaml');
    expect(manifests).not.toContain('templates/required.yaml');
    expect(manifests).not.toContain('templates/secret.yaml');
    expect(
      manifests.startsWith('---\n# Source: fixture/templates/sub/serviceaccount.yaml\napiVersion: v1\n'),
    ).toBe(true);
    // ServiceAccount < ConfigMap (by file name: configmap.yaml, monitor.yaml) < Service < Deployment;
    // the Service shares a file with the ServiceAccount but sorts by its kind.
    expect(objects.map((object) => `${object.kind}/${object.metadata.name}`)).toEqual([
      'ServiceAccount/rel-fixture',
      'ConfigMap/rel-fixture-files',
      'ConfigMap/rel-fixture-apis',
      'Service/rel-fixture',
      'Deployment/rel-fixture',
    ]);
    const withSecret = await render({ set: ['token=abc', 'optional.enabled=true'] });
    expect(withSecret.objects.map((object) => object.kind)).toEqual([
      'ServiceAccount',
      'Secret',
      'ConfigMap',
      'ConfigMap',
      'ConfigMap',
      'Service',
      'Deployment',
    ]);
  });

  it('skips crds/ unless includeCrds, then prints them first', async () => {
    const without = await render();
    expect(without.objects.some((object) => object.kind === 'CustomResourceDefinition')).toBe(false);
    const withCrds = await render({ includeCrds: true });
    expect(withCrds.manifests.startsWith('---\n# Source: fixture/crds/widgets.yaml\n')).toBe(true);
    expect(withCrds.objects[0]!.metadata.name).toBe('widgets.example.com');
  });

  it('takes the Kubernetes version from kubeVersion', async () => {
    const { objects } = await render({ kubeVersion: 'v1.27.3' });
    expect(byKindName(objects, 'Deployment', 'rel-fixture').metadata.annotations['fixture/kube']).toBe(
      'v1.27.3',
    );
    const tooOld = await renderError({ kubeVersion: 'v1.18.0' });
    expect(tooOld.message).toBe(
      'chart requires kubeVersion: >=1.19.0-0 which is incompatible with Kubernetes v1.18.0',
    );
  });

  describe('lintChart without helm', () => {
    let dir: string;
    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('renders the defaults and every ci/*-values.yaml as helm lint does: `fail` only warns', async () => {
      // ci/explode-values.yaml makes the chart `fail`, which helm lint's LintMode does not count.
      await expect(render({ valuesFiles: [join(chartDir, 'ci', 'explode-values.yaml')] })).rejects.toThrow(
        'explode is set',
      );
      await expect(lintChart({ chartDir, renderer: 'local' })).resolves.toEqual({
        renderer: 'local',
        valueSets: [
          'default values',
          join(chartDir, 'ci', 'explode-values.yaml'),
          join(chartDir, 'ci', 'token-values.yaml'),
        ],
      });
    });

    it('passes a clean chart and refuses a document without metadata.name', async () => {
      dir = await mkdtemp(join(tmpdir(), 'helm-lint-test-'));
      await mkdir(join(dir, 'templates'));
      await mkdir(join(dir, 'ci'));
      await writeFile(join(dir, 'Chart.yaml'), 'apiVersion: v2\nname: clean\nversion: 1.0.0\n');
      await writeFile(join(dir, 'values.yaml'), 'name: fine\n');
      await writeFile(join(dir, 'ci', 'other-values.yaml'), 'name: Not_Valid\n');
      await writeFile(
        join(dir, 'templates', 'cm.yaml'),
        'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Values.name }}\n',
      );
      const error = await lintChart({ chartDir: dir, renderer: 'local' }).then(
        () => undefined,
        (caught: unknown) => caught as Error,
      );
      expect(error!.message).toContain(
        'other-values.yaml: document 1 (ConfigMap): metadata.name "Not_Valid" is not a valid DNS subdomain',
      );
      expect(error!.message).not.toContain('default values');
      await rm(join(dir, 'ci'), { recursive: true });
      await expect(lintChart({ chartDir: dir, renderer: 'local' })).resolves.toEqual({
        renderer: 'local',
        valueSets: ['default values'],
      });
    });
  });
});
