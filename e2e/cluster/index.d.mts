export {
  ControlPlaneAlreadyRunningError,
  ControlPlaneStartError,
  DefaultControlPlaneOptions,
  controlPlaneStatus,
  startControlPlane,
  stopControlPlane,
} from './controlPlane.mjs';
export type {
  ControlPlane,
  ControlPlaneOptions,
  ControlPlaneStatus,
  OptionalControlPlaneOptions,
} from './controlPlane.mjs';
export { DefaultClusterDnsOptions, startClusterDns } from './clusterDns.mjs';
export type { ClusterDns, ClusterDnsOptions } from './clusterDns.mjs';
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
export type {
  BotManifestOptions,
  ChartManifestOptions,
  FixtureOptions,
  OperatorManifestOptions,
} from './fixtures.mjs';
export { MissingSystemPackagesError } from './debianPackages.mjs';
export {
  KUBERNETES_PROGRAMS,
  KubernetesBuildError,
  ensureKubernetesBinaries,
  stderrProgressLog,
} from './kubernetesBinaries.mjs';
export type {
  EnsureKubernetesBinariesOptions,
  KubernetesBinaries,
  KubernetesProgram,
  ProgressLog,
} from './kubernetesBinaries.mjs';
/** The kubelet's API port, which the local node's INPUT rule keeps pods away from. */
export declare const KUBELET_PORT: number;
export { KUBERNETES_VERSION, cacheRoot, defaultClusterDir } from './paths.mjs';
export {
  checkRules,
  dashboardPanelQueries,
  ensurePrometheus,
  scrapeConfigsFor,
  startPrometheus,
} from './prometheus.mjs';
export type {
  Dashboard,
  Monitor,
  PrometheusRuleState,
  PrometheusSample,
  PrometheusTarget,
  RuleGroup,
  RunningPrometheus,
} from './prometheus.mjs';
