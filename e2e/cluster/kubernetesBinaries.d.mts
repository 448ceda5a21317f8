/** Receives one human-readable progress line at a time (e.g. `console.error` or a pino logger's info). */
export type ProgressLog = (line: string) => void;

export declare const KUBERNETES_PROGRAMS: readonly [
  'kube-apiserver',
  'kube-controller-manager',
  'kube-scheduler',
  'kubelet',
  'kube-proxy',
];
/** Writes `shardfleet cluster: <line>` to stderr. */
export declare const stderrProgressLog: ProgressLog;

export type KubernetesProgram = (typeof KUBERNETES_PROGRAMS)[number];

export interface EnsureKubernetesBinariesOptions {
  /**
   * Cache root; the binaries live in `<cacheDir>/kubernetes-<version>/bin`.
   * @defaultValue `$SHARDFLEET_CACHE_DIR`, else `$XDG_CACHE_HOME/shardfleet`, else `~/.cache/shardfleet`
   */
  cacheDir?: string;
  /**
   * Progress lines (apt, download, a heartbeat every 30 s while building); nothing when cached.
   * @defaultValue {@link stderrProgressLog}
   */
  log?: ProgressLog;
}

export interface KubernetesBinaries {
  version: string;
  binDir: string;
  /** Absolute path of each program. */
  binaries: Record<KubernetesProgram, string>;
}

/** Building failed; `logPath` holds the full `make` output. */
export declare class KubernetesBuildError extends Error {
  readonly logPath: string;
}

/**
 * Returns the cached Kubernetes binaries, building them first when missing (as root: installs
 * golang-go, rsync etc. from apt, fetches Debian's `kubernetes` source package, runs `make`; about
 * 5-12 minutes on 2 cores). Idempotent; concurrent callers wait for one build.
 */
export declare function ensureKubernetesBinaries(
  options?: EnsureKubernetesBinariesOptions,
): Promise<KubernetesBinaries>;

/**
 * The statically linked pause program of the pod sandboxes, compiled with gcc from the same source
 * package's `build/pause/linux/pause.c` and cached; resolves with its path.
 */
export declare function ensurePauseBinary(options?: EnsureKubernetesBinariesOptions): Promise<string>;
