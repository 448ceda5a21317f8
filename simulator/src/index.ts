export { CloseReason } from './gateway/closeCodes.js';
export { DefaultSimulatorOptions, type SimulatorOptions } from './options.js';
export { type RunningSimulator, startSimulator } from './server.js';
export type { LedgerEntry, LedgerQuery } from './world/Ledger.js';
export {
  type DispatchPlacement,
  SimulatorControl,
  SimulatorControlError,
  type SimulatorStats,
} from './control/SimulatorControl.js';
