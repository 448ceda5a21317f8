export interface ClusterDnsOptions {
  /** Path of a kubeconfig allowed to list and watch Services and Endpoints in every namespace. */
  kubeconfig: string;
  /** Listen address. @defaultValue `'127.0.0.1'` */
  host?: string;
  /** UDP and TCP port; 0 picks a free one. @defaultValue `53` */
  port?: number;
  /** @defaultValue `'cluster.local'` */
  domain?: string;
  /** TTL of the answers. @defaultValue `5` */
  ttlSeconds?: number;
  /** First restart delay of a failed watch, doubling up to 10 s. @defaultValue `500` */
  retryMs?: number;
}

export interface ClusterDns {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export declare const DefaultClusterDnsOptions: Readonly<Required<Omit<ClusterDnsOptions, 'kubeconfig'>>>;

export declare function startClusterDns(options: ClusterDnsOptions): Promise<ClusterDns>;
