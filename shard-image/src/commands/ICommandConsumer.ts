import type { GatewayCommandOp } from '@shardfleet/protocol';

/** A gateway command on its way to a shard. */
export interface GatewayCommand {
  op: GatewayCommandOp;
  d: Record<string, unknown>;
}

/** Sends a command on a shard's connection; resolves once it is written (after any rate-limit wait). */
export type CommandSender = (shardId: number, command: GatewayCommand) => Promise<void>;

/** Reads the commands bots write for this worker's shards and sends them. */
export interface ICommandConsumer {
  /** Starts reading for these shards. */
  start(shardIds: readonly number[]): void;
  /** Stops reading for a shard that is down for good. */
  remove(shardId: number): void;
  /** Stops taking commands; resolves when the commands in hand are sent or `timeoutMs` is over. */
  stop(timeoutMs: number): Promise<void>;
}
