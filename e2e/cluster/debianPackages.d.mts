/** The Debian packages the cluster needs are missing and cannot be installed here (not root, no apt). */
export declare class MissingSystemPackagesError extends Error {
  readonly packages: readonly string[];
  constructor(packages: readonly string[], reason: string);
}
