// A real Prometheus (Debian's) for the end-to-end spec: it scrapes the fleet the way the chart's
// PodMonitor and ServiceMonitor would have the Prometheus Operator scrape it, loads the chart's
// alert rules, and answers the dashboards' queries. It runs on the host, which reaches pod IPs
// through the node's bridge. Debian builds Prometheus without Kubernetes service discovery, so this
// module does that part: it lists the pods and endpoints and writes file_sd targets carrying the
// same `__meta_kubernetes_*` labels, and the scrape configs keep the Prometheus Operator's relabel
// rules (the monitors' selectors and ports).
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as k8s from '@kubernetes/client-node';
import { runCommand } from './commands.mjs';
import { ensureDebianPackages } from './debianPackages.mjs';
import { freePort, startProcess, stopProcess, waitForProcess } from './processes.mjs';

const PROMETHEUS = '/usr/bin/prometheus';
const PROMTOOL = '/usr/bin/promtool';
const READY_TIMEOUT_MS = 60_000;

/** Installs Debian's prometheus (which brings promtool) when missing. */
export async function ensurePrometheus({ log } = {}) {
  await ensureDebianPackages(
    [
      { program: PROMETHEUS, debianPackage: 'prometheus' },
      { program: PROMTOOL, debianPackage: 'prometheus' },
    ],
    { log },
  );
}

/** A Kubernetes label name as Prometheus's service discovery spells it in meta labels. */
const metaName = (label) => label.replace(/[^a-zA-Z0-9_]/g, '_');

/**
 * Relabel rules keeping only targets whose `kind` (pod, service) labels match a label selector:
 * matchLabels and the In, NotIn, Exists and DoesNotExist expressions.
 */
function selectorRelabelings(kind, selector = {}) {
  const label = (name) => `__meta_kubernetes_${kind}_label_${metaName(name)}`;
  const present = (name) => `__meta_kubernetes_${kind}_labelpresent_${metaName(name)}`;
  const escape = (value) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const rules = Object.entries(selector.matchLabels ?? {}).map(([name, value]) => ({
    source_labels: [label(name), present(name)],
    regex: `${escape(value)};true`,
    action: 'keep',
  }));
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const any = `(${values.map(escape).join('|')})`;
    const rule = {
      In: { source_labels: [label(key), present(key)], regex: `${any};true`, action: 'keep' },
      NotIn: { source_labels: [label(key), present(key)], regex: `${any};true`, action: 'drop' },
      Exists: { source_labels: [present(key)], regex: 'true', action: 'keep' },
      DoesNotExist: { source_labels: [present(key)], regex: 'true', action: 'drop' },
    }[operator];
    if (!rule) throw new Error(`label selector operator ${operator} is not supported`);
    rules.push(rule);
  }
  return rules;
}

/** The endpoint's own relabelings after ours, as the Prometheus Operator appends them. */
const endpointRelabelings = (endpoint) =>
  (endpoint.relabelings ?? []).map(
    ({ sourceLabels, targetLabel, action, regex, replacement, separator }) => ({
      ...(sourceLabels ? { source_labels: sourceLabels } : {}),
      ...(targetLabel ? { target_label: targetLabel } : {}),
      ...(action ? { action: action.toLowerCase() } : {}),
      ...(regex ? { regex } : {}),
      ...(replacement !== undefined ? { replacement } : {}),
      ...(separator ? { separator } : {}),
    }),
  );

/** The job of each monitor endpoint, named as the Prometheus Operator names it. */
function monitorJobs(monitors) {
  return monitors.flatMap((monitor) => {
    const podMonitor = monitor.kind === 'PodMonitor';
    const endpoints = (podMonitor ? monitor.spec.podMetricsEndpoints : monitor.spec.endpoints) ?? [];
    return endpoints.map((endpoint, index) => ({
      name: `${podMonitor ? 'podMonitor' : 'serviceMonitor'}/${monitor.metadata.namespace}/${monitor.metadata.name}/${index}`,
      file: `${podMonitor ? 'pod' : 'service'}-${monitor.metadata.namespace}-${monitor.metadata.name}-${index}.json`,
      monitor,
      endpoint,
      podMonitor,
    }));
  });
}

/** `__meta_kubernetes_<kind>_label_*` and `..._labelpresent_*` of an object's labels. */
function labelMeta(kind, labels = {}) {
  return Object.fromEntries(
    Object.entries(labels).flatMap(([name, value]) => [
      [`__meta_kubernetes_${kind}_label_${metaName(name)}`, value],
      [`__meta_kubernetes_${kind}_labelpresent_${metaName(name)}`, 'true'],
    ]),
  );
}

/** The namespaces a monitor looks in, or undefined for all of them. */
const monitorNamespaces = ({ metadata, spec }) =>
  spec.namespaceSelector?.any ? undefined : (spec.namespaceSelector?.matchNames ?? [metadata.namespace]);

async function listIn(namespacesToList, all, inNamespace) {
  if (!namespacesToList) return (await all()).items;
  return (await Promise.all(namespacesToList.map((namespace) => inNamespace(namespace)))).flatMap(
    ({ items }) => items,
  );
}

/** The file_sd target groups Kubernetes' pod role would give: one per container port of a pod with an IP. */
async function podTargets(core, job) {
  const pods = await listIn(
    monitorNamespaces(job.monitor),
    () => core.listPodForAllNamespaces(),
    (namespace) => core.listNamespacedPod({ namespace }),
  );
  return pods.flatMap((pod) =>
    !pod.status?.podIP
      ? []
      : (pod.spec?.containers ?? []).flatMap((container) =>
          (container.ports ?? []).map((port) => ({
            targets: [`${pod.status.podIP}:${port.containerPort}`],
            labels: {
              __meta_kubernetes_namespace: pod.metadata.namespace,
              __meta_kubernetes_pod_name: pod.metadata.name,
              __meta_kubernetes_pod_phase: pod.status.phase ?? '',
              __meta_kubernetes_pod_container_name: container.name,
              __meta_kubernetes_pod_container_port_name: port.name ?? '',
              ...labelMeta('pod', pod.metadata.labels),
            },
          })),
        ),
  );
}

/** The file_sd target groups Kubernetes' endpoints role would give: one per ready address and port. */
async function endpointTargets(core, job) {
  const namespacesToList = monitorNamespaces(job.monitor);
  const services = await listIn(
    namespacesToList,
    () => core.listServiceForAllNamespaces(),
    (namespace) => core.listNamespacedService({ namespace }),
  );
  const endpoints = await listIn(
    namespacesToList,
    () => core.listEndpointsForAllNamespaces(),
    (namespace) => core.listNamespacedEndpoints({ namespace }),
  );
  return endpoints.flatMap((endpoint) => {
    const service = services.find(
      ({ metadata }) =>
        metadata.name === endpoint.metadata.name && metadata.namespace === endpoint.metadata.namespace,
    );
    if (!service) return [];
    return (endpoint.subsets ?? []).flatMap((subset) =>
      (subset.addresses ?? []).flatMap((address) =>
        (subset.ports ?? []).map((port) => ({
          targets: [`${address.ip}:${port.port}`],
          labels: {
            __meta_kubernetes_namespace: endpoint.metadata.namespace,
            __meta_kubernetes_service_name: service.metadata.name,
            __meta_kubernetes_endpoint_port_name: port.name ?? '',
            __meta_kubernetes_pod_name: address.targetRef?.kind === 'Pod' ? address.targetRef.name : '',
            ...labelMeta('service', service.metadata.labels),
          },
        })),
      ),
    );
  });
}

/**
 * Prometheus scrape configs equivalent to what the Prometheus Operator generates for `monitors`
 * (PodMonitor and ServiceMonitor objects): one job per endpoint, the selector and port as keep
 * rules, namespace/pod/service/container target labels, then the endpoint's relabelings. Targets
 * come from the file `<targetsDir>/<job file>` that {@link startPrometheus} keeps current.
 */
export function scrapeConfigsFor(monitors, { targetsDir, scrapeInterval = '5s' }) {
  return monitorJobs(monitors).map(({ name, file, monitor, endpoint, podMonitor }) => ({
    job_name: name,
    scrape_interval: scrapeInterval,
    metrics_path: endpoint.path ?? '/metrics',
    file_sd_configs: [{ files: [join(targetsDir, file)], refresh_interval: '5s' }],
    relabel_configs: [
      ...selectorRelabelings(podMonitor ? 'pod' : 'service', monitor.spec.selector),
      podMonitor
        ? {
            source_labels: ['__meta_kubernetes_pod_container_port_name'],
            regex: endpoint.port,
            action: 'keep',
          }
        : { source_labels: ['__meta_kubernetes_endpoint_port_name'], regex: endpoint.port, action: 'keep' },
      { source_labels: ['__meta_kubernetes_pod_phase'], regex: '(Failed|Succeeded)', action: 'drop' },
      { source_labels: ['__meta_kubernetes_namespace'], target_label: 'namespace' },
      { source_labels: ['__meta_kubernetes_pod_name'], target_label: 'pod' },
      { source_labels: ['__meta_kubernetes_pod_container_name'], target_label: 'container' },
      ...(podMonitor ? [] : [{ source_labels: ['__meta_kubernetes_service_name'], target_label: 'service' }]),
      ...endpointRelabelings(endpoint),
    ],
  }));
}

/**
 * Every query of a Grafana dashboard's panels, rows' nested panels included, as
 * `{ panelId, title, refId, expr }` (title `(untitled)` for a panel without one).
 */
export function dashboardPanelQueries(dashboard) {
  const queries = [];
  const visit = (panels = []) => {
    for (const panel of panels) {
      for (const { refId, expr } of panel.targets ?? []) {
        queries.push({ panelId: panel.id, title: panel.title ?? '(untitled)', refId, expr });
      }
      visit(panel.panels);
    }
  };
  visit(dashboard.panels);
  return queries;
}

/** Writes rule groups as the rule file `<dir>/rules.json`; resolves with its path. */
async function writeRuleFile(groups, dir) {
  await mkdir(dir, { recursive: true });
  const file = join(dir, 'rules.json');
  await writeFile(file, JSON.stringify({ groups }));
  return file;
}

/** `promtool check rules` of rule groups (a PrometheusRule's `spec.groups`); resolves with its output. */
export async function checkRules(groups, { dir }) {
  return (await runCommand(PROMTOOL, ['check', 'rules', await writeRuleFile(groups, dir)])).stdout;
}

/**
 * Starts Prometheus on a free port of 127.0.0.1 scraping what `monitors` select in the cluster of
 * `kubeconfig` (targets rediscovered every 2 s), with the rule `groups`, its data in `dir`. Resolves
 * once it is ready, with `{ url, query(expr), targets(), rules(), stop() }`.
 */
export async function startPrometheus({ dir, kubeconfig, monitors, groups = [], evaluationInterval = '5s' }) {
  await ensurePrometheus();
  await rm(dir, { recursive: true, force: true });
  await mkdir(join(dir, 'data'), { recursive: true });
  const targetsDir = join(dir, 'targets');
  await mkdir(targetsDir);
  const kubeConfig = new k8s.KubeConfig();
  kubeConfig.loadFromFile(kubeconfig);
  const core = kubeConfig.makeApiClient(k8s.CoreV1Api);
  const jobs = monitorJobs(monitors);
  const discover = async () => {
    for (const job of jobs) {
      const groupsOfJob = await (job.podMonitor ? podTargets(core, job) : endpointTargets(core, job));
      await writeFile(join(targetsDir, `${job.file}.tmp`), JSON.stringify(groupsOfJob));
      // Renamed into place: Prometheus never reads half a file.
      await rename(join(targetsDir, `${job.file}.tmp`), join(targetsDir, job.file));
    }
  };
  await discover();
  let discovering = true;
  const discovery = (async () => {
    while (discovering) {
      await sleep(2_000);
      if (discovering) await discover().catch(() => {});
    }
  })();
  const scrapeConfigs = scrapeConfigsFor(monitors, { targetsDir });
  const rulesFile = await writeRuleFile(groups, dir);
  await writeFile(
    join(dir, 'prometheus.json'),
    JSON.stringify({
      global: { scrape_interval: '5s', evaluation_interval: evaluationInterval },
      rule_files: [rulesFile],
      scrape_configs: scrapeConfigs,
    }),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const recorded = startProcess({
    name: 'prometheus',
    executable: PROMETHEUS,
    args: [
      `--config.file=${join(dir, 'prometheus.json')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--web.enable-lifecycle',
    ],
    logPath: join(dir, 'prometheus.log'),
  });
  const stop = async () => {
    discovering = false;
    await discovery;
    await stopProcess(recorded, { graceMs: 5_000 });
  };
  const api = async (path) => {
    const response = await fetch(`${url}/api/v1/${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = await response.json();
    if (body.status !== 'success') throw new Error(`Prometheus ${path}: ${body.errorType}: ${body.error}`);
    return body.data;
  };
  const ready = () => fetch(`${url}/-/ready`).then((response) => response.ok);
  await waitForProcess(recorded, ready, { what: 'ready', timeoutMs: READY_TIMEOUT_MS, logLines: 20 }).catch(
    async (error) => {
      await stop();
      throw error;
    },
  );
  return {
    url,
    /** An instant query; resolves with its result vector (or scalar/matrix data). */
    query: (expr) => api(`query?query=${encodeURIComponent(expr)}`).then(({ result }) => result),
    /** The active targets with their health and last error. */
    targets: () => api('targets?state=active').then(({ activeTargets }) => activeTargets),
    /** The loaded alerting and recording rules with their health. */
    rules: () => api('rules').then(({ groups: loaded }) => loaded.flatMap(({ rules }) => rules)),
    stop,
  };
}
