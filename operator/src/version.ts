import { createRequire } from 'node:module';

/** The operator's package version; the default shard and proxy images carry the same tag. */
export const version: string = (createRequire(import.meta.url)('../package.json') as { version: string })
  .version;
