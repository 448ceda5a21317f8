export { freePort, metricValue } from '@shardfleet/protocol';
export { ProgramProcess, type ProgramExit, type ProgramOptions } from './ProgramProcess.js';
export { RedisServer } from './RedisServer.js';
export { waitUntil, type WaitOptions } from './waitUntil.js';
