import type { Redis } from 'ioredis';
import type { GuardedEntry, GuardVerdict, IReplayGuard } from './IReplayGuard.js';

/** No replay recognition: every entry runs, and completion is a plain `XACK`. */
export class AckOnlyGuard implements IReplayGuard {
  public constructor(
    private readonly redis: Redis,
    private readonly stream: string,
    private readonly group: string,
  ) {}

  public begin(entries: readonly GuardedEntry[]): Promise<GuardVerdict[]> {
    return Promise.resolve(entries.map(() => 'run'));
  }

  public async complete(entries: readonly GuardedEntry[]): Promise<void> {
    if (entries.length > 0)
      await this.redis.xack(this.stream, this.group, ...entries.map((entry) => entry.id));
  }
}
