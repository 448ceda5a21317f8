export interface FixtureOptions {
  /** The end-to-end test's namespace. */
  namespace: string;
  /** Guilds of the simulated bot. @defaultValue `3000` */
  guilds?: number;
  /** The simulator's identify buckets. @defaultValue `2` */
  maxConcurrency?: number;
}

export declare const DefaultFixtureOptions: Readonly<Required<Omit<FixtureOptions, 'namespace'>>>;

/** Deployments and Services of Redis and the simulator, as Kubernetes objects. */
export declare function fixtureManifests(options: FixtureOptions): Record<string, unknown>[];
