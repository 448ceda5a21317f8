/** A PodMonitor or ServiceMonitor (monitoring.coreos.com/v1), as the chart renders it. */
export interface Monitor {
  kind: 'PodMonitor' | 'ServiceMonitor';
  metadata: { name: string; namespace: string };
  spec: Record<string, unknown>;
}

/** A rule group of a PrometheusRule's `spec.groups`. */
export interface RuleGroup {
  name: string;
  rules: Record<string, unknown>[];
}

export interface PrometheusSample {
  metric: Record<string, string>;
  value: [number, string];
}

export interface PrometheusTarget {
  health: 'up' | 'down' | 'unknown';
  scrapeUrl: string;
  lastError: string;
  labels: Record<string, string>;
}

export interface PrometheusRuleState {
  name: string;
  type: 'alerting' | 'recording';
  health: string;
  lastError?: string;
  query: string;
  state?: string;
}

export interface RunningPrometheus {
  url: string;
  query(expr: string): Promise<PrometheusSample[]>;
  targets(): Promise<PrometheusTarget[]>;
  rules(): Promise<PrometheusRuleState[]>;
  stop(): Promise<void>;
}

/** Installs Debian's prometheus (and promtool) when missing (as root). */
export declare function ensurePrometheus(options?: { log?: (line: string) => void }): Promise<void>;

/** Scrape configs equivalent to the Prometheus Operator's for `monitors`, over file_sd targets in `targetsDir`. */
export declare function scrapeConfigsFor(
  monitors: readonly Monitor[],
  options: { targetsDir: string; scrapeInterval?: string },
): Record<string, unknown>[];

/** A Grafana dashboard as far as its panel queries go. */
export interface Dashboard {
  panels?: DashboardPanel[];
}

export interface DashboardPanel {
  id?: number;
  title?: string;
  targets?: { refId?: string; expr?: string }[];
  panels?: DashboardPanel[];
}

/** Every query of the dashboard's panels, rows' nested panels included. */
export declare function dashboardPanelQueries(
  dashboard: Dashboard,
): { panelId: number | undefined; title: string; refId: string | undefined; expr: string | undefined }[];

/** `promtool check rules` of the groups; resolves with its output, rejects with its complaint. */
export declare function checkRules(groups: readonly RuleGroup[], options: { dir: string }): Promise<string>;

/**
 * Debian's Prometheus on a free port of 127.0.0.1, scraping what `monitors` select in the cluster of
 * `kubeconfig` (this module discovers the targets: Debian's build has no Kubernetes discovery).
 */
export declare function startPrometheus(options: {
  dir: string;
  kubeconfig: string;
  monitors: readonly Monitor[];
  groups?: readonly RuleGroup[];
  evaluationInterval?: string;
}): Promise<RunningPrometheus>;
