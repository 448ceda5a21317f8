/** Rendering or linting a chart failed; `message` is the renderer's own (helm's wording). */
export declare class ChartRenderError extends Error {
  readonly renderer: 'helm' | 'local' | undefined;
  constructor(message: string, options?: { renderer?: 'helm' | 'local'; cause?: unknown });
}

export interface EnsureHelmTemplateOptions {
  /** @defaultValue `cacheRoot()` from e2e/cluster/paths.mjs (`~/.cache/shardfleet`) */
  cacheDir?: string;
  /** Progress of the rare build. @defaultValue silent */
  log?: (line: string) => void;
}

/** Path of the local renderer, built (about 10-60 s) when its sources changed. */
export declare function ensureHelmTemplate(options?: EnsureHelmTemplateOptions): Promise<string>;

export interface RenderChartOptions extends EnsureHelmTemplateOptions {
  chartDir: string;
  /** @defaultValue `'shardfleet'` */
  releaseName?: string;
  /** @defaultValue `'shardfleet-system'` */
  namespace?: string;
  /** `-f` files, in order (later ones win). @defaultValue `[]` */
  valuesFiles?: readonly string[];
  /** Applied after `valuesFiles`, like one more `-f` file. @defaultValue `{}` */
  values?: Record<string, unknown>;
  /** `--set` arguments, e.g. `'a.b=c'`, `'list[0]=x'`. @defaultValue `[]` */
  set?: readonly string[];
  /** `--kube-version`. @defaultValue `'v1.20.2'` */
  kubeVersion?: string;
  /** `--api-versions`, e.g. `'monitoring.coreos.com/v1/ServiceMonitor'`. @defaultValue `[]` */
  apiVersions?: readonly string[];
  /** `--include-crds`: the chart's `crds/` first. @defaultValue `false` */
  includeCrds?: boolean;
  /** `'auto'`: helm when on PATH, else the local renderer. @defaultValue `'auto'` */
  renderer?: 'auto' | 'helm' | 'local';
  /** Local renderer only: render as `helm lint` does, `required` and `fail` only warn. @defaultValue `false` */
  lint?: boolean;
}

export interface RenderedChart {
  /** What `helm template` prints. */
  manifests: string;
  /** The rendered `templates/NOTES.txt` (`''` without one). */
  notes: string;
  /** The parsed documents of `manifests`, empty ones dropped. */
  objects: Record<string, unknown>[];
  renderer: 'helm' | 'local';
}

/** `helm template` with helm when present, else the local renderer. Fails with {@link ChartRenderError}. */
export declare function renderChart(options: RenderChartOptions): Promise<RenderedChart>;

export interface LintChartOptions extends EnsureHelmTemplateOptions {
  chartDir: string;
  /** @defaultValue `'auto'` */
  renderer?: 'auto' | 'helm' | 'local';
}

export interface LintResult {
  renderer: 'helm' | 'local';
  /** `'default values'` and the path of each `ci/*-values.yaml` checked. */
  valueSets: string[];
}

/**
 * `helm lint --strict` over the default values and every `ci/*-values.yaml`; without helm, a local
 * rendering of each in helm's lint mode whose documents must parse and have apiVersion, kind and a
 * DNS-subdomain metadata.name.
 * Fails with {@link ChartRenderError} listing every problem.
 */
export declare function lintChart(options: LintChartOptions): Promise<LintResult>;
