import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as k8s from '@kubernetes/client-node';
import { planFleet } from '@shardfleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMap, isScalar, parse, parseAllDocuments, parseDocument, type YAMLMap } from 'yaml';
import { operatorEnvSchema } from '../../../operator/src/config.js';
import { CHART_CRD_FILE, CRD_FILE, generatedCrdFiles } from '../../../operator/src/crd/discordBotCrd.js';
import { validateSpec } from '../../../operator/src/crd/discordBotSchema.js';
import { desiredChildren } from '../../../operator/src/reconcile/desiredChildren.js';
import { checkRules, dashboardPanelQueries } from '../../cluster/index.mjs';
import { ChartRenderError, lintChart, renderChart } from '../../helm/index.mjs';
import { type ApiServer, startApiServer } from './apiServer.js';

const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
const chartDir = join(repoRoot, 'charts/shardfleet');
const NAMESPACE = 'shardfleet-system';
const KUBE_VERSION = '1.20.2';
const MONITORING_API = 'monitoring.coreos.com/v1';

type Obj = k8s.KubernetesObject & Record<string, any>;

interface RenderOptions {
  releaseName?: string;
  valuesFiles?: string[];
  values?: Record<string, unknown>;
  set?: string[];
}

async function render({ releaseName = 'shardfleet', valuesFiles = [], values, set }: RenderOptions = {}) {
  const result = await renderChart({
    chartDir,
    releaseName,
    namespace: NAMESPACE,
    valuesFiles: valuesFiles.map((file) => join(chartDir, file)),
    values,
    set,
    kubeVersion: KUBE_VERSION,
    apiVersions: [MONITORING_API],
  });
  return { ...result, objects: result.objects as Obj[] };
}

const ids = (objects: Obj[]) =>
  objects.map(({ kind, metadata }) => `${kind}/${metadata?.namespace ?? ''}/${metadata?.name}`);
const find = (objects: Obj[], kind: string, name?: string) =>
  objects.filter((object) => object.kind === kind && (name === undefined || object.metadata?.name === name));
const one = (objects: Obj[], kind: string, name?: string) => {
  const found = find(objects, kind, name);
  expect(found, `${kind}/${name ?? '*'}`).toHaveLength(1);
  return found[0]!;
};
const operatorEnv = (objects: Obj[]): Record<string, string | undefined> =>
  Object.fromEntries(
    (one(objects, 'Deployment').spec.template.spec.containers[0].env as k8s.V1EnvVar[]).map(
      ({ name, value }) => [name, value],
    ),
  );

/** The chart's dashboards as files hold them. */
const dashboardFiles = readdirSync(join(chartDir, 'dashboards')).map((file) => ({
  file,
  dashboard: JSON.parse(readFileSync(join(chartDir, 'dashboards', file), 'utf8')),
}));

const ciValuesFiles = readdirSync(join(chartDir, 'ci'))
  .filter((file) => file.endsWith('-values.yaml'))
  .map((file) => `ci/${file}`);

describe('values.yaml and values.schema.json', () => {
  const values = parse(readFileSync(join(chartDir, 'values.yaml'), 'utf8')) as Record<string, unknown>;
  const schema = JSON.parse(readFileSync(join(chartDir, 'values.schema.json'), 'utf8'));

  it('hold the same keys at every level', async () => {
    const problems: string[] = [];
    const walk = (value: unknown, node: any, path: string) => {
      if (node.properties === undefined) return; // a map with free keys (labels, annotations) or a list
      const valueKeys = Object.keys((value ?? {}) as object);
      // `global` is Helm's, for parent charts; it has no default here.
      const schemaKeys = Object.keys(node.properties).filter((key) => !(path === '' && key === 'global'));
      for (const key of valueKeys)
        if (!(key in node.properties)) problems.push(`${path}${key}: not in the schema`);
      // An empty map by default (affinity: {}) leaves its optional keys to the schema alone.
      if (valueKeys.length > 0) {
        for (const key of schemaKeys) {
          if (!valueKeys.includes(key)) problems.push(`${path}${key}: not in values.yaml`);
        }
      }
      for (const key of valueKeys) {
        const child = (value as Record<string, unknown>)[key];
        if (node.properties[key] && child !== null && typeof child === 'object' && !Array.isArray(child)) {
          walk(child, node.properties[key], `${path}${key}.`);
        }
      }
    };
    walk(values, schema, '');
    expect(problems).toEqual([]);
  });

  it('the schema is strict: every object declares additionalProperties (false, or a schema of map values)', async () => {
    const loose: string[] = [];
    const walk = (node: any, path: string) => {
      if (node === null || typeof node !== 'object') return;
      if (node.type === 'object') {
        const kubernetesType =
          typeof node.$comment === 'string' && node.$comment.startsWith('A Kubernetes type');
        const strict =
          node.additionalProperties === false ||
          (typeof node.additionalProperties === 'object' && node.properties === undefined);
        if (!strict && !kubernetesType && !(path === 'global')) loose.push(path || '(root)');
      }
      for (const [key, child] of Object.entries(node.properties ?? {}))
        walk(child, path ? `${path}.${key}` : key);
      if (node.items) walk(node.items, `${path}[]`);
    };
    walk(schema, '');
    expect(loose).toEqual([]);
  });

  it('every value has a comment on the line above', async () => {
    const lines = readFileSync(join(chartDir, 'values.yaml'), 'utf8').split('\n');
    const uncommented: string[] = [];
    lines.forEach((line, index) => {
      const key = /^(\s*)([A-Za-z][\w-]*):/.exec(line);
      if (!key) return;
      const previous = lines[index - 1] ?? '';
      if (!new RegExp(`^${key[1]}#`).test(previous)) uncommented.push(`line ${index + 1}: ${key[2]}`);
    });
    expect(uncommented).toEqual([]);
    // The line check sees every key only if values.yaml holds no flow maps or multi-line strings.
    const document = parseDocument(readFileSync(join(chartDir, 'values.yaml'), 'utf8'));
    const keys: string[] = [];
    const collect = (node: unknown) => {
      if (!isMap(node)) return;
      for (const pair of (node as YAMLMap).items) {
        if (isScalar(pair.key)) keys.push(String(pair.key.value));
        collect(pair.value);
      }
    };
    collect(document.contents);
    const lineKeys = lines.filter((line) => /^\s*[A-Za-z][\w-]*:/.test(line));
    expect(lineKeys).toHaveLength(keys.length);
  });

  it.each([
    ['an unknown key', { replicaCont: 2 }, /replicaCont/],
    ['an unknown nested key', { monitoring: { podMonitor: { enabeld: true } } }, /enabeld/],
    ['a wrong type', { replicaCount: 'two' }, /replicaCount/],
    ['a wrong nested type', { crds: { keep: 'yes' } }, /keep/],
    ['a value outside its enum', { logLevel: 'verbose' }, /logLevel/],
    ['a bad namespace name', { watchNamespaces: ['Bots_A'] }, /watchNamespaces/],
  ])('refuse %s, naming the key', async (_what, values, key) => {
    const refused = render({ values });
    await expect(refused).rejects.toThrow(ChartRenderError);
    await expect(refused).rejects.toThrow(key);
  });
});

describe('helm lint --strict', () => {
  it('passes on the default values and every ci/*-values.yaml', async () => {
    const { valueSets } = await lintChart({ chartDir });
    expect(valueSets).toHaveLength(1 + ciValuesFiles.length);
  });
});

describe('the chart’s CRD', () => {
  it('is what `npm run crds:generate` writes (the template is current)', async () => {
    const generated = generatedCrdFiles().find(({ file }) => file === CHART_CRD_FILE)!;
    // On failure: run `npm run crds:generate` and commit the result.
    expect(readFileSync(join(repoRoot, CHART_CRD_FILE), 'utf8')).toBe(generated.content);
  });

  it('renders the same CRD as crds/, kept on uninstall by default, switched by crds.enabled and crds.keep', async () => {
    const crd = one((await render()).objects, 'CustomResourceDefinition');
    // Both as client-node models, as the renderer parses them.
    const source = k8s.loadYaml<k8s.V1CustomResourceDefinition>(
      readFileSync(join(repoRoot, CRD_FILE), 'utf8'),
    );
    expect(crd.spec).toEqual(source.spec);
    expect(crd.metadata?.name).toBe(source.metadata!.name);
    expect(crd.metadata?.annotations).toEqual({ 'helm.sh/resource-policy': 'keep' });
    expect(crd.metadata?.labels).toMatchObject({
      'app.kubernetes.io/name': 'shardfleet',
      'app.kubernetes.io/component': 'crd',
      'app.kubernetes.io/managed-by': 'Helm',
    });
    expect(
      one((await render({ values: { crds: { keep: false } } })).objects, 'CustomResourceDefinition').metadata
        ?.annotations,
    ).toBeUndefined();
    expect(
      find((await render({ values: { crds: { enabled: false } } })).objects, 'CustomResourceDefinition'),
    ).toEqual([]);
  });
});

describe('rendering', () => {
  it('the default values: the operator, least-privilege RBAC, its metrics Service and the dashboards; no Prometheus Operator objects', async () => {
    const { objects, notes } = await render();
    expect(ids(objects).sort()).toEqual(
      [
        'CustomResourceDefinition//discordbots.shardfleet.dev',
        `ServiceAccount/${NAMESPACE}/shardfleet-operator`,
        'ClusterRole//shardfleet-operator',
        'ClusterRoleBinding//shardfleet-operator',
        `Service/${NAMESPACE}/shardfleet-operator-metrics`,
        `Deployment/${NAMESPACE}/shardfleet-operator`,
        `ConfigMap/${NAMESPACE}/shardfleet-dashboard-bots`,
        `ConfigMap/${NAMESPACE}/shardfleet-dashboard-fleet`,
        `ConfigMap/${NAMESPACE}/shardfleet-dashboard-operator`,
        `ConfigMap/${NAMESPACE}/shardfleet-dashboard-rest-proxy`,
      ].sort(),
    );
    expect(notes).toMatch(/kubectl create secret generic/);
    expect(notes).toMatch(/kind: DiscordBot/);
    expect(notes).toMatch(/dashboards/i);
    // The DiscordBot the notes suggest is one the operator accepts.
    const example = /<<'YAML'.*\n([\s\S]*?)\n\s*YAML\n/.exec(notes)![1]!;
    const bot = parse(example.replace(/^ {5}/gm, ''));
    expect(bot.kind).toBe('DiscordBot');
    expect(validateSpec(bot.spec).ok).toBe(true);
  });

  it('matches the hand-written reference in operator/deploy (rules, probes, security, volumes)', async () => {
    const reference = parseAllDocuments(
      readFileSync(join(repoRoot, 'operator/deploy/rbac.yaml'), 'utf8'),
    ).map((document) => document.toJS() as Obj);
    const referenceDeployment = parse(
      readFileSync(join(repoRoot, 'operator/deploy/deployment.yaml'), 'utf8'),
    );
    const { objects } = await render({ values: { replicaCount: 2 } });
    expect(one(objects, 'ClusterRole').rules).toEqual(one(reference, 'ClusterRole').rules);
    expect(one(objects, 'Role').rules).toEqual(one(reference, 'Role').rules);
    const [container] = one(objects, 'Deployment').spec.template.spec.containers;
    const [referenceContainer] = referenceDeployment.spec.template.spec.containers;
    for (const field of [
      'ports',
      'readinessProbe',
      'livenessProbe',
      'securityContext',
      'volumeMounts',
      'resources',
    ]) {
      expect(container[field], field).toEqual(referenceContainer[field]);
    }
    const spec = one(objects, 'Deployment').spec.template.spec;
    expect(spec.securityContext).toEqual(referenceDeployment.spec.template.spec.securityContext);
    expect(spec.volumes).toEqual(referenceDeployment.spec.template.spec.volumes);
  });

  it("gives the operator an environment its own config parser accepts, with the chart's default images", async () => {
    const env = operatorEnv((await render()).objects);
    const parsed = operatorEnvSchema.safeParse({ ...env, POD_NAMESPACE: NAMESPACE, POD_NAME: 'pod-0' });
    expect(parsed.success, JSON.stringify(parsed.error)).toBe(true);
    const appVersion = parse(readFileSync(join(chartDir, 'Chart.yaml'), 'utf8')).appVersion;
    expect(appVersion).toBe(
      JSON.parse(readFileSync(join(repoRoot, 'operator/package.json'), 'utf8')).version,
    );
    expect(parsed.data).toMatchObject({
      namespaces: [],
      shardImage: `ghcr.io/shardfleet/shard:${appVersion}`,
      restProxyImage: `ghcr.io/shardfleet/rest-proxy:${appVersion}`,
      leaderElection: false,
      leaseName: 'shardfleet-operator',
      port: 8080,
      logLevel: 'info',
    });
    const [container] = one((await render()).objects, 'Deployment').spec.template.spec.containers;
    expect(container.image).toBe(`ghcr.io/shardfleet/operator:${appVersion}`);
  });

  it('runs the operator as a restricted pod', async () => {
    const spec = one((await render()).objects, 'Deployment').spec.template.spec;
    expect(spec.securityContext).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: 'RuntimeDefault' },
    });
    expect(spec.containers[0].securityContext).toEqual({
      runAsNonRoot: true,
      readOnlyRootFilesystem: true,
      allowPrivilegeEscalation: false,
      privileged: false,
      capabilities: { drop: ['ALL'] },
    });
  });

  it.each(ciValuesFiles)('%s', async (file) => {
    const { objects } = await render({ valuesFiles: [file] });
    expect(objects.length).toBeGreaterThan(5);
    for (const object of objects) {
      expect(object.apiVersion, ids([object])[0]).toBeTruthy();
      expect(object.metadata?.labels?.['app.kubernetes.io/managed-by'], ids([object])[0]).toBe('Helm');
    }
  });

  it('custom images, resources and scheduling reach the Deployment', async () => {
    const { objects } = await render({ valuesFiles: ['ci/custom-images-values.yaml'] });
    const pod = one(objects, 'Deployment').spec.template;
    expect(pod.spec.containers[0].image).toMatch(/^registry\.example\.com\/shardfleet\/operator@sha256:/);
    expect(pod.spec.containers[0].imagePullPolicy).toBe('Always');
    expect(pod.spec.containers[0].resources.limits).toEqual({ cpu: '1', memory: '512Mi' });
    expect(pod.spec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(pod.spec.tolerations).toHaveLength(1);
    expect(pod.spec.nodeSelector).toEqual({ 'kubernetes.io/os': 'linux' });
    expect(pod.metadata.labels['example.com/team']).toBe('bots');
    expect(pod.metadata.annotations).toEqual({ 'example.com/scrape': 'false' });
    const env = operatorEnv(objects);
    expect(env.SHARD_IMAGE).toBe('registry.example.com/shardfleet/shard:0.1.0-patched');
    expect(env.REST_PROXY_IMAGE).toBe('registry.example.com/shardfleet/rest-proxy:0.1.0-patched');
    expect(env.RESYNC_INTERVAL_MS).toBe('60000');
    expect(env.LOG_LEVEL).toBe('debug');
  });

  it.each([
    [0, false],
    [1, false],
    [2, true],
    [3, true],
  ])('with %i replicas, leader election is %s (with its Role only then)', async (replicaCount, on) => {
    const { objects } = await render({ values: { replicaCount } });
    expect(one(objects, 'Deployment').spec.replicas).toBe(replicaCount);
    expect(operatorEnv(objects).LEADER_ELECT).toBe(String(on));
    expect(find(objects, 'Role', 'shardfleet-leader-election')).toHaveLength(on ? 1 : 0);
    if (on) {
      const role = one(objects, 'Role', 'shardfleet-leader-election');
      expect(role.rules[1].resourceNames).toEqual([operatorEnv(objects).LEASE_NAME]);
      expect(one(objects, 'RoleBinding', 'shardfleet-leader-election').metadata?.namespace).toBe(NAMESPACE);
    }
  });

  it('watching given namespaces: a Role and RoleBinding in each, WATCH_NAMESPACES set, nothing cluster-wide', async () => {
    const { objects } = await render({ valuesFiles: ['ci/watch-namespaces-values.yaml'] });
    expect(find(objects, 'ClusterRole')).toEqual([]);
    expect(find(objects, 'ClusterRoleBinding')).toEqual([]);
    expect(find(objects, 'Role').map(({ metadata }) => metadata?.namespace)).toEqual(['bots-a', 'bots-b']);
    expect(find(objects, 'RoleBinding').map(({ metadata }) => metadata?.namespace)).toEqual([
      'bots-a',
      'bots-b',
    ]);
    for (const binding of find(objects, 'RoleBinding')) {
      expect(binding.roleRef).toEqual({
        apiGroup: 'rbac.authorization.k8s.io',
        kind: 'Role',
        name: 'shardfleet-operator',
      });
      expect(binding.subjects).toEqual([
        { kind: 'ServiceAccount', name: 'shardfleet-operator', namespace: NAMESPACE },
      ]);
    }
    expect(operatorEnv(objects).WATCH_NAMESPACES).toBe('bots-a,bots-b');
    expect(one(objects, 'PodMonitor').spec.namespaceSelector).toEqual({ matchNames: ['bots-a', 'bots-b'] });
  });

  it('keeps every name and label within 63 characters with the longest release name (53)', async () => {
    const releaseName = `r${'x'.repeat(51)}z`;
    const { objects } = await render({
      releaseName,
      valuesFiles: ['ci/monitoring-values.yaml'],
      values: { replicaCount: 2 },
    });
    const names = new Set<string>();
    for (const object of objects) {
      const id = ids([object])[0]!;
      expect(object.metadata?.name?.length, id).toBeLessThanOrEqual(63);
      expect(object.metadata?.name, id).toMatch(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/);
      for (const value of Object.values(object.metadata?.labels ?? {}))
        expect(String(value).length, id).toBeLessThanOrEqual(63);
      expect(names.has(id), `${id} twice`).toBe(false);
      names.add(id);
    }
    expect(operatorEnv(objects).LEASE_NAME!.length).toBeLessThanOrEqual(63);
  });
});

describe('monitoring', () => {
  const monitored = async () => (await render({ valuesFiles: ['ci/monitoring-values.yaml'] })).objects;

  it('is off by default where it needs the Prometheus Operator CRDs', async () => {
    const kinds = (await render()).objects.map(({ kind }) => kind);
    expect(kinds).not.toContain('ServiceMonitor');
    expect(kinds).not.toContain('PodMonitor');
    expect(kinds).not.toContain('PrometheusRule');
  });

  it('the ServiceMonitor selects the operator’s metrics Service and its port', async () => {
    const objects = await monitored();
    const monitor = one(objects, 'ServiceMonitor');
    expect(monitor.metadata?.labels?.release).toBe('kube-prometheus-stack');
    const service = one(objects, 'Service');
    expect(service.metadata?.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(service.spec.ports.map(({ name }: { name: string }) => name)).toContain(
      monitor.spec.endpoints[0].port,
    );
    expect(monitor.spec.endpoints[0].path).toBe('/metrics');
  });

  it("the PodMonitor selects every shard, REST proxy and bot pod the operator creates, on their metrics port, and not the operator's", async () => {
    const objects = await monitored();
    const monitor = one(objects, 'PodMonitor');
    const matches = (labels: Record<string, string>) =>
      Object.entries(monitor.spec.selector.matchLabels as Record<string, string>).every(
        ([key, value]) => labels[key] === value,
      ) &&
      (monitor.spec.selector.matchExpressions as { key: string; operator: string; values: string[] }[]).every(
        ({ key, operator, values }) => operator === 'In' && values.includes(labels[key]!),
      );
    const result = validateSpec({
      tokenSecretRef: { name: 'mybot-token' },
      redis: { url: 'redis://redis:6379' },
      bot: { image: 'example/bot:1' },
    });
    if (!result.ok) throw new Error(JSON.stringify(result.problems));
    const children = desiredChildren({
      bot: { name: 'mybot', namespace: 'bots', uid: 'uid-1' },
      spec: result.value.spec,
      intents: result.value.intents,
      plan: planFleet(result.value.spec.sharding, { recommendedShards: 2, maxConcurrency: 1 }),
      shardImage: 'shard:1',
      restProxyImage: 'rest-proxy:1',
      pdbApiVersion: 'policy/v1beta1',
      proxyAuthToken: 'x',
    });
    const workloads = [
      children.shardStatefulSet,
      children.restProxyDeployment,
      children.botDeployment!,
    ] as Obj[];
    expect(
      workloads.map((workload) => workload.spec.template.metadata.labels['app.kubernetes.io/component']),
    ).toEqual(['shard', 'rest-proxy', 'bot']);
    for (const workload of workloads) {
      expect(matches(workload.spec.template.metadata.labels), workload.metadata?.name).toBe(true);
      const ports = workload.spec.template.spec.containers[0].ports as k8s.V1ContainerPort[];
      expect(
        ports.map(({ name }) => name),
        workload.metadata?.name,
      ).toContain(monitor.spec.podMetricsEndpoints[0].port);
    }
    expect(matches(one(objects, 'Deployment').spec.template.metadata.labels)).toBe(false);
    expect(monitor.spec.namespaceSelector).toEqual({ any: true });
    // bot: <namespace>.<name>, the same value as the operator's shardfleet_bot_shards{bot}.
    expect(monitor.spec.podMetricsEndpoints[0].relabelings[0]).toEqual({
      sourceLabels: ['__meta_kubernetes_namespace', '__meta_kubernetes_pod_label_app_kubernetes_io_instance'],
      separator: '.',
      targetLabel: 'bot',
      action: 'replace',
    });
  });

  it('the dashboards are ConfigMaps with the sidecar label, the folder annotation and valid dashboard JSON with a bot variable', async () => {
    const configMaps = find(await monitored(), 'ConfigMap');
    expect(configMaps).toHaveLength(4);
    for (const configMap of configMaps) {
      expect(configMap.metadata?.labels?.grafana_dashboard).toBe('1');
      expect(configMap.metadata?.annotations).toEqual({ grafana_folder: 'shardfleet' });
      const [json] = Object.values(configMap.data as Record<string, string>);
      const dashboard = JSON.parse(json!);
      expect(dashboard.templating.list.map(({ name }: { name: string }) => name)).toContain('bot');
      expect(dashboard.panels.length).toBeGreaterThan(3);
    }
    const custom = await render({
      values: { monitoring: { dashboards: { label: 'dashboards', labelValue: 'yes' } } },
    });
    expect(find(custom.objects, 'ConfigMap')[0]!.metadata?.labels?.dashboards).toBe('yes');
    expect(
      find(
        (await render({ values: { monitoring: { dashboards: { enabled: false } } } })).objects,
        'ConfigMap',
      ),
    ).toEqual([]);
  });

  it('promtool accepts the alerting rules', async () => {
    const rule = one(await monitored(), 'PrometheusRule');
    const dir = mkdtempSync(join(tmpdir(), 'shardfleet-rules-'));
    try {
      expect(await checkRules(rule.spec.groups, { dir })).toMatch(/SUCCESS: \d+ rules found/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promtool: each alert fires on the series the programs export, and not on healthy ones', async () => {
    // Annotations are checked above; the unit tests compare labels only.
    const groups = one(await monitored(), 'PrometheusRule').spec.groups.map((group: any) => ({
      ...group,
      rules: group.rules.map(({ annotations: _annotations, ...rule }: any) => rule),
    }));
    const shard = 'namespace="bots",pod="mybot-shards-0",bot="bots.mybot",component="shard"';
    const bot = 'namespace="bots",pod="mybot-bot-0",bot="bots.mybot",component="bot"';
    const proxy = 'namespace="bots",pod="mybot-rest-proxy-0",bot="bots.mybot",component="rest-proxy"';
    const operator = `namespace="${NAMESPACE}",pod="shardfleet-operator-0"`;
    const fired = (alertname: string, evalTime: string, labels: Record<string, string>[]) => ({
      eval_time: evalTime,
      alertname,
      exp_alerts: labels.map((exp_labels) => ({ exp_labels: { team: 'bots', ...exp_labels } })),
    });
    const owner = { namespace: 'bots', bot: 'bots.mybot' };
    const tests = {
      rule_files: ['rules.json'],
      evaluation_interval: '1m',
      tests: [
        {
          interval: '1m',
          input_series: [
            { series: `shardfleet_shard_status{${shard},shard="0"}`, values: '2x30' },
            { series: `shardfleet_shard_status{${shard},shard="1"}`, values: '4x30' },
            { series: `shardfleet_bot_shards{${operator},bot="bots.mybot"}`, values: '2x30' },
            { series: `shardfleet_bot_ready_shards{${operator},bot="bots.mybot"}`, values: '1x30' },
            { series: `shardfleet_identify_budget_remaining{${shard}}`, values: '50x30' },
            { series: `shardfleet_identifies_total{${shard},result="refused_budget"}`, values: '0+1x30' },
            { series: `shardfleet_identifies_total{${shard},result="sent"}`, values: '0+1x30' },
            { series: `shardfleet_events_dropped_total{${shard},reason="shutdown"}`, values: '0+10x30' },
            { series: `shardfleet_stream_lag{${bot}}`, values: '1000+100x30' },
            { series: `shardfleet_stream_pending{${bot}}`, values: '1000+100x30' },
            { series: `shardfleet_dead_letters_total{${bot}}`, values: '0+1x30' },
            { series: `shardfleet_rest_invalid_requests{${proxy}}`, values: '7600x30' },
            { series: `shardfleet_reconcile_total{${operator},result="error"}`, values: '0+1x30' },
            { series: `shardfleet_reconcile_total{${operator},result="success"}`, values: '0+5x30' },
          ],
          alert_rule_test: [
            fired('ShardfleetShardNotReady', '4m', []),
            fired('ShardfleetShardNotReady', '6m', [
              {
                severity: 'warning',
                namespace: 'bots',
                pod: 'mybot-shards-0',
                bot: 'bots.mybot',
                component: 'shard',
                shard: '0',
              },
            ]),
            fired('ShardfleetBotShardsNotReady', '16m', [
              { severity: 'warning', namespace: NAMESPACE, pod: 'shardfleet-operator-0', bot: 'bots.mybot' },
            ]),
            fired('ShardfleetIdentifyBudgetLow', '2m', [{ severity: 'warning', ...owner }]),
            fired('ShardfleetIdentifiesRefused', '5m', [{ severity: 'critical', ...owner }]),
            fired('ShardfleetEventsDropped', '5m', [{ severity: 'warning', ...owner, reason: 'shutdown' }]),
            fired('ShardfleetStreamLagGrowing', '25m', [{ severity: 'warning', ...owner }]),
            fired('ShardfleetStreamPendingGrowing', '25m', [{ severity: 'warning', ...owner }]),
            fired('ShardfleetDeadLetters', '5m', [{ severity: 'warning', ...owner }]),
            fired('ShardfleetRestInvalidRequestsHigh', '2m', [{ severity: 'warning', ...owner }]),
            fired('ShardfleetRestInvalidRequestsCritical', '1m', [{ severity: 'critical', ...owner }]),
            fired('ShardfleetReconcileErrors', '25m', [{ severity: 'warning', namespace: NAMESPACE }]),
          ],
        },
        {
          interval: '1m',
          input_series: [
            { series: `shardfleet_shard_status{${shard},shard="0"}`, values: '4x30' },
            { series: `shardfleet_bot_shards{${operator},bot="bots.mybot"}`, values: '2x30' },
            { series: `shardfleet_bot_ready_shards{${operator},bot="bots.mybot"}`, values: '2x30' },
            { series: `shardfleet_identify_budget_remaining{${shard}}`, values: '1000x30' },
            { series: `shardfleet_identifies_total{${shard},result="sent"}`, values: '0+1x30' },
            { series: `shardfleet_events_dropped_total{${shard},reason="shutdown"}`, values: '0x30' },
            { series: `shardfleet_stream_lag{${bot}}`, values: '5000-100x30' },
            { series: `shardfleet_stream_pending{${bot}}`, values: '10x30' },
            { series: `shardfleet_dead_letters_total{${bot}}`, values: '3x30' },
            { series: `shardfleet_rest_invalid_requests{${proxy}}`, values: '100x30' },
            { series: `shardfleet_reconcile_total{${operator},result="success"}`, values: '0+5x30' },
          ],
          alert_rule_test: groups
            .flatMap((group: any) => group.rules.map((rule: any) => rule.alert as string))
            .map((alertname: string) => fired(alertname, '29m', [])),
        },
      ],
    };
    const dir = mkdtempSync(join(tmpdir(), 'shardfleet-rules-'));
    try {
      writeFileSync(join(dir, 'rules.json'), JSON.stringify({ groups }));
      writeFileSync(join(dir, 'tests.json'), JSON.stringify(tests));
      const run = spawnSync('promtool', ['test', 'rules', 'tests.json'], { cwd: dir, encoding: 'utf8' });
      expect(run.status, run.stdout + run.stderr).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('promtool parses every dashboard query', async () => {
    const rules = dashboardFiles.flatMap(({ file, dashboard }) =>
      dashboardPanelQueries(dashboard).map(({ panelId, refId, expr }) => ({
        record: `shardfleet:dashboard:${file.replace('.json', '').replace('-', '_')}_${panelId}_${refId}`,
        // Grafana's variables, as Grafana substitutes them.
        expr: expr!.replaceAll('$__rate_interval', '2m').replaceAll('$bot', '.+'),
      })),
    );
    const dir = mkdtempSync(join(tmpdir(), 'shardfleet-dashboards-'));
    try {
      expect(await checkRules([{ name: 'dashboards', rules }], { dir })).toContain(
        `SUCCESS: ${rules.length} rules found`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('every metric the dashboards and alerts use is registered in the sources', () => {
  /** Metric name → label names, from the prom-client registrations of the four programs. */
  const registered = new Map<string, string[]>();
  const sourceFiles = (dir: string): string[] =>
    readdirSync(join(repoRoot, dir), { recursive: true, encoding: 'utf8' })
      .filter((file) => file.endsWith('.ts') && !file.includes('__tests__'))
      .map((file) => join(repoRoot, dir, file));
  for (const dir of ['shard-image/src', 'bot-image/src', 'rest-proxy/src', 'operator/src']) {
    for (const file of sourceFiles(dir)) {
      const source = readFileSync(file, 'utf8');
      // Each registration: `new Counter({ name: '...', help, labelNames: [...], registers })`.
      for (const block of source.split(/new (?:Counter|Gauge|Histogram|Summary)\(\{/).slice(1)) {
        const name = /^\s*name: '([a-z_]+)'/.exec(block)?.[1];
        if (name === undefined) continue;
        const labelNames = /labelNames: \[([^\]]*)\]/.exec(block.split(/\bregisters\b/)[0]!)?.[1] ?? '';
        registered.set(
          name,
          [...labelNames.matchAll(/'([a-z_]+)'/g)].map(([, label]) => label!),
        );
      }
    }
  }
  // Labels Prometheus and the PodMonitor/ServiceMonitor add to every series, and histograms' le.
  const targetLabels = [
    'bot',
    'component',
    'namespace',
    'pod',
    'container',
    'job',
    'instance',
    'service',
    'endpoint',
    'le',
  ];

  const dashboardExpressions = dashboardFiles.flatMap(({ file, dashboard }) => {
    const panelExprs = dashboardPanelQueries(dashboard).map(({ title, expr }) => ({
      where: `${file}: ${title}`,
      expr: expr as string,
    }));
    const variableExprs = dashboard.templating.list
      .filter((variable: any) => variable.type === 'query')
      .map((variable: any) => ({ where: `${file}: $${variable.name}`, expr: variable.definition as string }));
    return [...panelExprs, ...variableExprs];
  });
  const ruleExpressions = async () =>
    one(
      (await render({ valuesFiles: ['ci/monitoring-values.yaml'] })).objects,
      'PrometheusRule',
    ).spec.groups.flatMap((group: any) =>
      group.rules.map((rule: any) => ({ where: `rule ${rule.alert}`, expr: String(rule.expr) })),
    );

  it('the registrations were found', async () => {
    expect(registered.get('shardfleet_shard_status')).toEqual(['shard']);
    expect(registered.get('shardfleet_rest_requests_total')).toEqual(['method', 'route', 'status']);
    expect(registered.get('shardfleet_dead_letters_total')).toEqual([]);
    expect(registered.size).toBeGreaterThan(25);
  });

  const check = (expressions: { where: string; expr: string }[]) => {
    const problems: string[] = [];
    const allLabels = new Set([...targetLabels, ...[...registered.values()].flat()]);
    for (const { where, expr } of expressions) {
      const names = expr.match(/\bshardfleet_[a-z_]+\b/g) ?? [];
      expect(names.length, `${where}: ${expr}`).toBeGreaterThan(0);
      for (const name of names) {
        const base = registered.has(name) ? name : name.replace(/_(bucket|sum|count)$/, '');
        const labels = registered.get(base);
        if (labels === undefined) {
          problems.push(`${where}: ${name} is not registered`);
          continue;
        }
        // The labels of this selector: metric{label="..."}.
        const selector = new RegExp(`\\b${name}\\{([^}]*)\\}`).exec(expr)?.[1] ?? '';
        for (const [, label] of selector.matchAll(/([a-z_]+)\s*(?:=~|!~|!=|=)/g)) {
          if (!labels.includes(label!) && !targetLabels.includes(label!))
            problems.push(`${where}: ${name} has no label ${label}`);
        }
      }
      for (const [, list] of expr.matchAll(/\bby \(([^)]*)\)/g)) {
        for (const label of list!.split(',').map((item) => item.trim())) {
          if (!allLabels.has(label)) problems.push(`${where}: no metric has the label ${label}`);
        }
      }
    }
    return problems;
  };

  it('in the dashboards', async () => {
    expect(dashboardExpressions.length).toBeGreaterThan(25);
    expect(check(dashboardExpressions)).toEqual([]);
  });

  it('in the alerts', async () => {
    expect(check(await ruleExpressions())).toEqual([]);
  });
});

describe('the rendered chart on a real API server (server-side dry run)', { timeout: 120_000 }, () => {
  let server: ApiServer;
  const apply = (object: k8s.KubernetesObject, dryRun?: 'All') => server.apply(object, dryRun);

  beforeAll(async () => {
    server = await startApiServer('shardfleet-chart-test');
    for (const name of [NAMESPACE, 'bots-a', 'bots-b'])
      await server.core.createNamespace({ body: { metadata: { name } } });
    // The Prometheus Operator's CRDs (minimal stand-ins) and the chart's own, for real: the rest needs them.
    const crds = [
      ...parseAllDocuments(
        readFileSync(fileURLToPath(new URL('../../cluster/monitoring-crds.yaml', import.meta.url)), 'utf8'),
      ).map((document) => document.toJS() as Obj),
      one((await render()).objects, 'CustomResourceDefinition'),
    ];
    for (const crd of crds) await apply(crd);
    for (const crd of crds) await server.crdEstablished(crd.metadata!.name!);
  }, 30 * 60_000);

  afterAll(async () => {
    await server?.controlPlane.stop();
  }, 60_000);

  it.each(['values.yaml', ...ciValuesFiles])('accepts every object rendered from %s', async (file) => {
    const rendered = (await render({ valuesFiles: file === 'values.yaml' ? [] : [file] })).objects;
    for (const object of rendered) {
      const accepted = await apply(object, 'All').catch((error: unknown) => {
        throw new Error(`${ids([object])[0]}: ${error instanceof Error ? error.message : String(error)}`);
      });
      expect(accepted.metadata?.name).toBe(object.metadata?.name);
    }
  });

  it('refuses a rendered object the API server would not take (the dry run checks)', async () => {
    const deployment = structuredClone(one((await render()).objects, 'Deployment'));
    deployment.spec.template.spec.containers[0].ports[0].containerPort = 70_000;
    await expect(apply(deployment, 'All')).rejects.toThrow(/containerPort/);
    // The monitoring stand-ins declare the fields the chart uses: a misspelled one is refused.
    const podMonitor = structuredClone(
      one((await render({ valuesFiles: ['ci/monitoring-values.yaml'] })).objects, 'PodMonitor'),
    );
    podMonitor.spec.podMetricsEndpoints[0].relabellings = [];
    await expect(apply(podMonitor, 'All')).rejects.toThrow(/relabellings/);
  });
});
