/** The Kubernetes release the scripts build from Debian's `kubernetes` source package (bookworm). */
export declare const KUBERNETES_VERSION: '1.20.2';
/** `$SHARDFLEET_CACHE_DIR`, else `$XDG_CACHE_HOME/shardfleet`, else `~/.cache/shardfleet`. */
export declare function cacheRoot(env?: NodeJS.ProcessEnv): string;
/** `$SHARDFLEET_CLUSTER_DIR`, else `<cacheRoot()>/cluster`: the state of `npm run cluster:up`. */
export declare function defaultClusterDir(env?: NodeJS.ProcessEnv): string;
