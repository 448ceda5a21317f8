// The local Kubernetes cluster scripts' public API, for tests (vitest globalSetup or beforeAll)
// and for e2e/bin/cluster.mjs.
export {
  ControlPlaneAlreadyRunningError,
  ControlPlaneStartError,
  DefaultControlPlaneOptions,
  controlPlaneStatus,
  startControlPlane,
  stopControlPlane,
} from './controlPlane.mjs';
export { DefaultClusterDnsOptions, startClusterDns } from './clusterDns.mjs';
export {
  DISCORD_BOT_API_VERSION,
  DefaultFixtureOptions,
  OPERATOR_NAMESPACE,
  SIMULATOR_PORT,
  SIMULATOR_TOKEN,
  botManifests,
  chartManifests,
  fixtureManifests,
  monitoringCrdManifests,
  operatorManifests,
  simulatorServiceUrl,
  waitForCrdEstablished,
} from './fixtures.mjs';
export { MissingSystemPackagesError } from './debianPackages.mjs';
export {
  KUBERNETES_PROGRAMS,
  KubernetesBuildError,
  ensureKubernetesBinaries,
  stderrProgressLog,
} from './kubernetesBinaries.mjs';
export { KUBELET_PORT } from './network.mjs';
export { KUBERNETES_VERSION, cacheRoot, defaultClusterDir } from './paths.mjs';
export {
  checkRules,
  dashboardPanelQueries,
  ensurePrometheus,
  scrapeConfigsFor,
  startPrometheus,
} from './prometheus.mjs';
