import type { ProgressLog } from './kubernetesBinaries.mjs';

export interface OptionalControlPlaneOptions {
  /**
   * Directory for the state file, etcd's data, keys, kubeconfig and logs.
   * @defaultValue a new directory under the system's temporary directory
   */
  dir?: string;
  /**
   * Cache root of the Kubernetes binaries (see `ensureKubernetesBinaries`).
   * @defaultValue `$SHARDFLEET_CACHE_DIR`, else `~/.cache/shardfleet`
   */
  cacheDir?: string;
  /**
   * Progress lines.
   * @defaultValue installing and building report to stderr (`stderrProgressLog`); starting is silent
   */
  log?: ProgressLog;
  /**
   * Service ClusterIP range of the API server.
   * @defaultValue `'10.96.0.0/16'`
   */
  serviceClusterIpRange?: string;
  /**
   * The API server's bind and advertise address (the `kubernetes` Service's endpoint). The local
   * node passes its bridge address, so pods reach the API server.
   * @defaultValue `'127.0.0.1'`
   */
  bindAddress?: string;
  /**
   * Also run kube-scheduler (a node needs it; without one pods stay Pending).
   * @defaultValue `false`
   */
  scheduler?: boolean;
  /**
   * Further users, each with its own token and a kubeconfig written to `<dir>/<kubeconfig>` once
   * the API server is ready (the kubelet's `system:node:<name>` in `system:nodes`, kube-proxy's).
   * @defaultValue `[]`
   */
  users?: readonly ControlPlaneUser[];
  /**
   * How long each program may take to become ready.
   * @defaultValue `180_000`
   */
  readyTimeoutMs?: number;
  /**
   * Whether the programs outlive this Node process (`cluster:up`). When false, a watchdog process
   * stops them if this process dies without calling `stop()`.
   * @defaultValue `false`
   */
  persistent?: boolean;
  /**
   * Keep `dir` (with its logs) after `stop()` or a failed start.
   * @defaultValue `false`
   */
  keepDirOnStop?: boolean;
}

export interface ControlPlaneUser {
  user: string;
  groups?: readonly string[];
  /** File name in the control plane's directory. */
  kubeconfig: string;
}

export type ControlPlaneOptions = OptionalControlPlaneOptions;

export declare const DefaultControlPlaneOptions: Readonly<
  Required<
    Pick<
      OptionalControlPlaneOptions,
      | 'serviceClusterIpRange'
      | 'bindAddress'
      | 'scheduler'
      | 'users'
      | 'readyTimeoutMs'
      | 'persistent'
      | 'keepDirOnStop'
    >
  >
>;

export interface ControlPlane {
  dir: string;
  /** A kubeconfig for the `admin` user (group system:masters), with the API server's CA. */
  kubeconfigPath: string;
  /** `https://<bindAddress>:<port>` */
  server: string;
  /** The admin bearer token. Never log it. */
  token: string;
  /** PEM of the API server's self-signed certificate chain (its CA verifies the server). */
  caCertificate: string;
  pids: Record<'etcd' | 'kube-apiserver' | 'kube-controller-manager', number> & { 'kube-scheduler'?: number };
  /** Stops every process (newest first) and removes `dir` unless `keepDirOnStop`. Idempotent. */
  stop(): Promise<void>;
}

export type ControlPlaneStatus =
  | { state: 'stopped' }
  | { state: 'running'; kubeconfigPath: string; server: string }
  | { state: 'broken'; kubeconfigPath?: string; dead?: string[] };

/** A program exited or did not become ready in time; `logPath` holds its output. */
export declare class ControlPlaneStartError extends Error {
  readonly component: string;
  readonly logPath: string;
}

/** `dir` already holds a running control plane. */
export declare class ControlPlaneAlreadyRunningError extends Error {
  readonly dir: string;
  readonly kubeconfigPath: string;
}

/**
 * Starts etcd, kube-apiserver and kube-controller-manager on free ports of 127.0.0.1 and resolves
 * once the API server is ready and the token controller works (StatefulSet pods can be created).
 * Builds the binaries first when the cache lacks them.
 */
export declare function startControlPlane(options?: ControlPlaneOptions): Promise<ControlPlane>;

/** Stops the control plane recorded in `dir` by its saved pids and removes `dir`; returns what it stopped. */
export declare function stopControlPlane(dir: string): Promise<string[]>;

export declare function controlPlaneStatus(dir: string): Promise<ControlPlaneStatus>;
