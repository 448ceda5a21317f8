export { main } from './cli.js';
export { type DevOptions, parseDevOptions, UsageError } from './options.js';
export { runDev } from './runDev.js';
