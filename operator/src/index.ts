export { main } from './cli.js';
export {
  DEFAULT_REST_PROXY_IMAGE,
  DEFAULT_SHARD_IMAGE,
  type OperatorConfig,
  operatorEnvSchema,
} from './config.js';
export {
  CHART_CRD_FILE,
  CRD_FILE,
  discordBotCrd,
  generatedCrdFiles,
  renderDiscordBotCrdChartTemplate,
  renderDiscordBotCrdYaml,
} from './crd/discordBotCrd.js';
export {
  API_GROUP,
  API_VERSION,
  DISCORD_BOT_API_VERSION,
  DISCORD_BOT_KIND,
  DISCORD_BOT_PLURAL,
  type DiscordBotSpec,
  type DiscordBotSpecInput,
  discordBotSpecSchema,
  type SpecProblem,
  validateSpec,
} from './crd/discordBotSchema.js';
export {
  CONDITION_TYPES,
  type Condition,
  DISCORD_BOT_PHASES,
  type DiscordBotPhase,
  type DiscordBotStatus,
  discordBotStatusSchema,
} from './crd/discordBotStatusSchema.js';
export { StructuralSchemaError, toStructuralSchema } from './crd/structuralSchema.js';
export { WorkQueue, type ReconcileResult, type WorkQueueOptions } from './controller/WorkQueue.js';
export {
  FetchGatewayClient,
  GatewayChecker,
  type GatewayInfo,
  GatewayUnreachableError,
  type IGatewayClient,
  InvalidTokenError,
} from './gateway/GatewayChecker.js';
export {
  desiredChildren,
  type DesiredChildren,
  type DesiredChildrenInput,
} from './reconcile/desiredChildren.js';
export { countReadiness, desiredStatus, type Observation } from './reconcile/desiredStatus.js';
