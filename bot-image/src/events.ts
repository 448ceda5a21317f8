import type { API } from '@discordjs/core/http-only';
import type { GatewayDispatchPayload } from 'discord-api-types/v10';
import type { Logger } from 'pino';
import type { GatewayCommands } from './gateway/GatewayCommands.js';

/** Every dispatch event name with its data type, from discord-api-types: `MESSAGE_CREATE` -> message. */
export type BotEvents = {
  [Payload in GatewayDispatchPayload as `${Payload['t']}`]: Payload['d'];
};

/** A dispatch event name, such as `'MESSAGE_CREATE'`. */
export type BotEventName = keyof BotEvents;

/** Where an event comes from. */
export interface EventMeta {
  /** The event name. */
  readonly t: string;
  /** The shard that received it. */
  readonly shard: number;
  /** Its sequence number in the gateway session. */
  readonly seq: number;
  /** The gateway session id. */
  readonly sessionId: string;
  /** The guild id, `null` for DMs and guild-less events. */
  readonly guildId: string | null;
  /** `s:sid:seq`: the same for every replay of the event, so usable to make an effect idempotent. */
  readonly idempotencyKey: string;
  /** When the shard received it (ms since the Unix epoch). */
  readonly receivedAt: number;
  /** The stream entry id. */
  readonly entryId: string;
  /** How many times the entry was delivered, this time included (more than 1 after a failure or a crash). */
  readonly deliveries: number;
}

/** What a handler gets beside the event data. */
export interface EventContext {
  /** Discord's REST API through the REST proxy (`@discordjs/core`). */
  readonly api: API;
  /** Gateway commands, routed to the shard of the guild. */
  readonly gateway: GatewayCommands;
  readonly event: EventMeta;
  /** A child of the bot's logger with the event's name, shard and entry id. */
  readonly logger: Logger;
}

/** A handler of one event; the entry is acknowledged once it resolves, retried if it throws. */
export type EventHandler<E extends BotEventName> = (data: BotEvents[E], context: EventContext) => unknown;
