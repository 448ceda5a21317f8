import { defineConfig } from 'vitest/config';

// The end-to-end spec (e2e/spec): the whole product on a real Kubernetes node. Run by
// e2e/bin/e2e.mjs, which builds and loads the images, brings the cluster up and sets KUBECONFIG;
// the unit and integration tests are vitest.config.ts's (`*/src/**/__tests__`), which never
// include e2e/spec.
export default defineConfig({
  test: {
    include: ['e2e/spec/**/*.e2e.test.ts'],
    pool: 'forks',
    // One cluster: the spec files run one after the other, and a file's steps in order.
    fileParallelism: false,
    maxWorkers: 1,
    // Each step sets its own timeout; these bound anything that does not.
    testTimeout: 10 * 60_000,
    hookTimeout: 10 * 60_000,
    teardownTimeout: 5 * 60_000,
    // A step that fails once is a finding: no retries.
    retry: 0,
    reporters: ['verbose'],
  },
});
