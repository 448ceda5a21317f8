#!/usr/bin/env -S node --max-semi-space-size=32
// A larger young generation: under load the simulator allocates a frame per dispatch, and the default
// size makes scavenges frequent enough to show in the p99 delivery latency.
import { main } from '../dist/cli.js';

await main(process.argv.slice(2));
