import type { ProgressLog } from '../cluster/kubernetesBinaries.mjs';

/** `local`: buildah on base images made from this machine's programs; `kind`: docker build + kind load. */
export type Provider = 'local' | 'kind';
export declare const PROVIDERS: readonly Provider[];
/** The repository root, every Dockerfile's build context. */
export declare const REPOSITORY_ROOT: string;
/** `$SHARDFLEET_PROVIDER` when set, else `kind` when a Docker engine answers, else `local`. */
export declare function selectProvider(env?: NodeJS.ProcessEnv): Provider;

export type ImageName = 'shard' | 'rest-proxy' | 'operator' | 'bot' | 'simulator' | 'redis';

export interface ImageDefinition {
  name: ImageName;
  /** Relative to the repository root. */
  dockerfile: string;
  /** `node` (`node:22-slim` with Docker) or `redis` (`redis:7.0-bookworm` with Docker). */
  base: 'node' | 'redis';
  /** Files and directories (repository-relative) whose contents decide whether a built image is current. */
  inputs: readonly string[];
  smoke: { args: readonly string[]; expectOutput: RegExp; stopWhenPrinted?: boolean };
}
export declare const IMAGE_DEFINITIONS: readonly ImageDefinition[];
export declare const IMAGE_TAG: 'e2e';
/** `localhost/shardfleet/<name>:e2e`, the exact name pods use (`imagePullPolicy: Never`). */
export declare function imageName(name: ImageName): string;

export interface BuildImagesOptions {
  /** Images to build; all when empty. */
  names?: readonly ImageName[];
  /** @defaultValue {@link selectProvider}() */
  provider?: Provider;
  /** Rebuild even the images whose inputs did not change (local provider). */
  force?: boolean;
  /** @defaultValue `$SHARDFLEET_CACHE_DIR`, else `~/.cache/shardfleet`; images in `<cacheDir>/images` */
  cacheDir?: string;
  log: ProgressLog;
}
export interface BuiltImage {
  name: string;
  /** False when the cached image was still current. */
  built: boolean;
  seconds?: number;
  /** Sum of the image's file sizes (local provider). */
  sizeBytes?: number;
}
/** Builds (and, locally, checks) the images; rejects naming the image and its build log on failure. */
export declare function buildImages(options: BuildImagesOptions): Promise<BuiltImage[]>;

/** A built image runs as root, does not start, or holds secrets or tests; `findings` names each. */
export declare class ImageCheckError extends Error {
  readonly findings: readonly string[];
}

export interface Containerd {
  /** The socket, `<dir>/containerd.sock`. */
  address: string;
  pid: number;
  /** As started (`containerd`), for stopping it by pid later. */
  executable: string;
  logPath: string;
  /** Stops containerd and, unless `keepDir`, removes its directory. */
  stop(options?: { keepDir?: boolean }): Promise<void>;
}
/** Starts a private containerd (root, state, socket in `dir`; native snapshotter; runc wrapper). */
export declare function startContainerd(options: {
  dir: string;
  /** @defaultValue `localhost/shardfleet/pause:e2e` */
  sandboxImage?: string;
  /** Where the CRI plugin reads its CNI network configuration. @defaultValue `<dir>/cni` */
  cniConfDir?: string;
  /** Outlive this Node process (the local node of `cluster:up`). @defaultValue `false` */
  detached?: boolean;
  log: ProgressLog;
}): Promise<Containerd>;

/** The containerd namespace the kubelet uses. */
export declare const KUBERNETES_NAMESPACE: 'k8s.io';
/** Imports built images into the containerd at `address`; resolves with the image names it then holds. */
export declare function loadImages(options: {
  address: string;
  names?: readonly ImageName[];
  /** Further local images by full name, such as {@link PAUSE_IMAGE}. */
  extraImages?: readonly string[];
  cacheDir?: string;
  log: ProgressLog;
}): Promise<string[]>;

/** The pod sandbox image of the local node. */
export declare const PAUSE_IMAGE: 'localhost/shardfleet/pause:e2e';
/** Makes the pause image from `pauseBinary` (see `ensurePauseBinary`) unless it exists. */
export declare function ensurePauseImage(options: {
  pauseBinary: string;
  cacheDir?: string;
  log: ProgressLog;
}): Promise<{ name: string; made: boolean }>;
