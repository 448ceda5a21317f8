import { randomBytes } from 'node:crypto';
import { DISCORD_EPOCH } from '@shardfleet/protocol';
import {
  botUserObject,
  guildMemberObject,
  type MessageAuthor,
  type MessageFields,
  memberAuthor,
  messageObject,
  type SimMessage,
} from './payloads.js';
import type { SimulatedDiscord } from './SimulatedDiscord.js';

/** Interactions must be answered within 3 s, as on Discord. */
export const INTERACTION_RESPONSE_WINDOW_MS = 3_000;
/** An interaction token works for follow-ups and edits for 15 minutes. */
export const INTERACTION_TOKEN_TTL_MS = 900_000;
/** Callback types that show a message now (4) or later, through an edit of the original (5). */
const CHANNEL_MESSAGE_WITH_SOURCE = 4;
const DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE = 5;

/** The message fields an interaction response, follow-up or edit may carry. */
export interface ResponseMessageFields {
  content?: string;
  embeds?: unknown[];
  components?: unknown[];
  attachments?: unknown[];
}

export interface StoredMessage {
  message: SimMessage;
  guildId: string | null;
  /** Created through REST (by the bot), rather than typed by a simulated member. */
  viaRest: boolean;
}

export interface SimInteraction {
  id: string;
  token: string;
  guildId: string;
  channelId: string;
  commandName: string;
  createdAt: number;
  response: { type: number; data?: unknown; at: number } | null;
  /** The message of the response (`@original`), once there is one. */
  originalMessageId: string | null;
  followUpMessageIds: string[];
}

export interface ApplicationCommand {
  id: string;
  application_id: string;
  name: string;
  description: string;
  type: number;
  options?: unknown[];
  version: string;
  default_member_permissions: string | null;
  dm_permission?: boolean;
}

export class MessagingError extends Error {
  public constructor(
    public readonly status: number,
    public readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

/** Generates unique snowflakes for objects the simulator creates at run time. */
export class SnowflakeGenerator {
  private lastMs = 0;
  private increment = 0;

  public constructor(private readonly worker: bigint) {}

  public next(): string {
    const now = Date.now();
    if (now === this.lastMs) {
      this.increment = (this.increment + 1) & 0xfff;
    } else {
      this.lastMs = now;
      this.increment = 0;
    }
    return ((BigInt(now - DISCORD_EPOCH) << 22n) | (this.worker << 17n) | BigInt(this.increment)).toString();
  }
}

/**
 * Messages, interactions and application commands: what the REST routes create and the control API
 * inspects. Each creation is also dispatched on the gateway, on the shard that owns the guild.
 */
export class Messaging {
  private readonly messagesByChannel = new Map<string, StoredMessage[]>();
  private readonly interactions = new Map<string, SimInteraction>();
  private readonly interactionsByToken = new Map<string, SimInteraction>();
  private readonly messagesById = new Map<string, StoredMessage>();
  private readonly commandsByApplication = new Map<string, ApplicationCommand[]>();
  private readonly ids = new SnowflakeGenerator(4n);

  public constructor(private readonly discord: SimulatedDiscord) {}

  public nextId(): string {
    return this.ids.next();
  }

  private store(channelId: string, stored: StoredMessage): void {
    let list = this.messagesByChannel.get(channelId);
    if (!list) {
      list = [];
      this.messagesByChannel.set(channelId, list);
    }
    list.push(stored);
    this.messagesById.set(stored.message.id, stored);
  }

  private requireGuildOfChannel(channelId: string): number {
    const index = this.discord.population.guildIndexOfChannel(channelId);
    if (index === undefined) throw new MessagingError(404, 10_003, 'Unknown Channel');
    return index;
  }

  /** A message the bot sends through REST; dispatched as MESSAGE_CREATE like any other. */
  public createBotMessage(
    channelId: string,
    fields: Omit<MessageFields, 'id' | 'channelId' | 'guildId' | 'author'>,
  ): SimMessage {
    const index = this.requireGuildOfChannel(channelId);
    const guildId = this.discord.population.idAt(index);
    const author: MessageAuthor = { user: botUserObject(this.discord.bot) };
    const message = messageObject({ ...fields, id: this.ids.next(), channelId, guildId, author });
    this.store(channelId, { message, guildId, viaRest: true });
    this.discord.dispatch('MESSAGE_CREATE', { ...message, guild_id: guildId }, { guildId }, message.id);
    return message;
  }

  /** A message typed by member `memberIndex` of the channel's guild. */
  public createMemberMessage(
    channelId: string,
    content: string,
    memberIndex: number,
  ): { message: SimMessage; shard: number; seq: number | null } {
    const index = this.requireGuildOfChannel(channelId);
    const guildId = this.discord.population.idAt(index);
    const author = memberAuthor(this.discord.population, index, memberIndex);
    const mentions = content.includes(`<@${this.discord.bot.id}>`) ? [botUserObject(this.discord.bot)] : [];
    const message = messageObject(
      { id: this.ids.next(), channelId, guildId, author, content, mentions },
      true,
    );
    this.store(channelId, { message, guildId, viaRest: false });
    const { shard, seq } = this.discord.dispatch('MESSAGE_CREATE', message, { guildId }, message.id);
    return { message, shard, seq };
  }

  /** Messages of a channel, oldest first. */
  public messages(channelId: string, filter: { viaRest?: boolean } = {}): SimMessage[] {
    return (this.messagesByChannel.get(channelId) ?? [])
      .filter((stored) => filter.viaRest === undefined || stored.viaRest === filter.viaRest)
      .map((stored) => stored.message);
  }

  /** GET /channels/{id}/messages semantics: newest first, `limit` 1-100, `before`/`after` ids. */
  public history(channelId: string, query: { limit: number; before?: string; after?: string }): SimMessage[] {
    this.requireGuildOfChannel(channelId);
    let list = this.messages(channelId);
    if (query.before) list = list.filter((m) => BigInt(m.id) < BigInt(query.before as string));
    if (query.after) list = list.filter((m) => BigInt(m.id) > BigInt(query.after as string));
    const newestFirst = [...list].reverse();
    return query.after ? newestFirst.slice(-query.limit) : newestFirst.slice(0, query.limit);
  }

  public putCommands(
    applicationId: string,
    commands: readonly Omit<ApplicationCommand, 'id' | 'application_id' | 'version'>[],
  ): ApplicationCommand[] {
    if (applicationId !== this.discord.bot.id) throw new MessagingError(403, 50_001, 'Missing Access');
    const previous = this.commandsByApplication.get(applicationId) ?? [];
    const stored = commands.map((command) => ({
      id: previous.find((p) => p.name === command.name && p.type === command.type)?.id ?? this.ids.next(),
      application_id: applicationId,
      version: this.ids.next(),
      ...command,
      default_member_permissions: command.default_member_permissions ?? null,
    }));
    this.commandsByApplication.set(applicationId, stored);
    return stored;
  }

  public listCommands(applicationId: string): ApplicationCommand[] {
    if (applicationId !== this.discord.bot.id) throw new MessagingError(403, 50_001, 'Missing Access');
    return this.commandsByApplication.get(applicationId) ?? [];
  }

  /** A member runs a registered slash command: INTERACTION_CREATE on the guild's shard. */
  public createInteraction(input: {
    channelId: string;
    name: string;
    options?: unknown[];
    memberIndex: number;
  }) {
    const index = this.requireGuildOfChannel(input.channelId);
    const command = (this.commandsByApplication.get(this.discord.bot.id) ?? []).find(
      (c) => c.name === input.name,
    );
    if (!command) throw new MessagingError(400, 0, `command "${input.name}" is not registered`);
    const population = this.discord.population;
    const guildId = population.idAt(index);
    const member = guildMemberObject(population.member(index, input.memberIndex), guildId);
    const interaction: SimInteraction = {
      id: this.ids.next(),
      token: `aW50ZXJhY3Rpb24.${randomBytes(24).toString('base64url')}`,
      guildId,
      channelId: input.channelId,
      commandName: input.name,
      createdAt: Date.now(),
      response: null,
      originalMessageId: null,
      followUpMessageIds: [],
    };
    this.interactions.set(interaction.id, interaction);
    this.interactionsByToken.set(interaction.token, interaction);
    const channel = population.channel(input.channelId);
    const payload = {
      id: interaction.id,
      application_id: this.discord.bot.id,
      type: 2,
      data: { id: command.id, name: command.name, type: command.type, options: input.options ?? [] },
      guild_id: guildId,
      guild: { id: guildId, locale: 'en-US', features: [] },
      channel_id: input.channelId,
      channel: channel
        ? { id: channel.id, type: channel.type, name: channel.name, guild_id: guildId }
        : undefined,
      member: { ...member, permissions: '2248473465835073' },
      token: interaction.token,
      version: 1,
      app_permissions: '2248473465835073',
      locale: 'en-US',
      guild_locale: 'en-US',
      entitlements: [],
      authorizing_integration_owners: { '0': guildId },
      context: 0,
      attachment_size_limit: 10_485_760,
    };
    const { shard, seq } = this.discord.dispatch('INTERACTION_CREATE', payload, { guildId }, interaction.id);
    return { interaction, shard, seq };
  }

  public interaction(id: string): SimInteraction | undefined {
    return this.interactions.get(id);
  }

  /** POST /interactions/{id}/{token}/callback: once, within 3 s; type 4 posts the message in the channel. */
  public respondToInteraction(
    id: string,
    token: string,
    type: number,
    data: unknown,
  ): { message: SimMessage | null } {
    const interaction = this.interactions.get(id);
    if (!interaction || interaction.token !== token)
      throw new MessagingError(404, 10_062, 'Unknown interaction');
    if (interaction.response)
      throw new MessagingError(400, 40_060, 'Interaction has already been acknowledged.');
    if (Date.now() - interaction.createdAt > INTERACTION_RESPONSE_WINDOW_MS) {
      throw new MessagingError(404, 10_062, 'Unknown interaction');
    }
    interaction.response = { type, data, at: Date.now() };
    if (type !== CHANNEL_MESSAGE_WITH_SOURCE) return { message: null };
    const message = this.createResponseMessage(interaction, (data ?? {}) as ResponseMessageFields);
    interaction.originalMessageId = message.id;
    return { message };
  }

  private createResponseMessage(interaction: SimInteraction, fields: ResponseMessageFields): SimMessage {
    return this.createBotMessage(interaction.channelId, {
      content: fields.content ?? '',
      embeds: fields.embeds ?? [],
      components: fields.components ?? [],
      attachments: fields.attachments ?? [],
      type: 20,
      interactionMetadata: { id: interaction.id, type: 2, name: interaction.commandName },
    });
  }

  /** The interaction behind a webhook URL `/webhooks/{application_id}/{token}`, while its token is valid. */
  private interactionOfWebhook(applicationId: string, token: string): SimInteraction {
    const interaction = this.interactionsByToken.get(token);
    if (!interaction || applicationId !== this.discord.bot.id) {
      throw new MessagingError(404, 10_015, 'Unknown Webhook');
    }
    if (Date.now() - interaction.createdAt > INTERACTION_TOKEN_TTL_MS) {
      throw new MessagingError(401, 50_027, 'Invalid Webhook Token');
    }
    return interaction;
  }

  private originalMessage(interaction: SimInteraction): StoredMessage | undefined {
    return interaction.originalMessageId ? this.messagesById.get(interaction.originalMessageId) : undefined;
  }

  /** GET /webhooks/{application_id}/{token}/messages/@original. */
  public originalResponse(applicationId: string, token: string): SimMessage {
    const interaction = this.interactionOfWebhook(applicationId, token);
    const stored = this.originalMessage(interaction);
    if (!stored) throw new MessagingError(404, 10_008, 'Unknown Message');
    return stored.message;
  }

  /**
   * PATCH /webhooks/{application_id}/{token}/messages/@original: after a deferred response it posts the
   * message (MESSAGE_CREATE); after a message response it edits it (MESSAGE_UPDATE).
   */
  public editOriginalResponse(
    applicationId: string,
    token: string,
    fields: ResponseMessageFields,
  ): SimMessage {
    const interaction = this.interactionOfWebhook(applicationId, token);
    const stored = this.originalMessage(interaction);
    if (!stored) {
      if (interaction.response?.type !== DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE) {
        throw new MessagingError(404, 10_008, 'Unknown Message');
      }
      const message = this.createResponseMessage(interaction, fields);
      interaction.originalMessageId = message.id;
      return message;
    }
    const message = stored.message;
    if (fields.content !== undefined) message.content = fields.content;
    if (fields.embeds !== undefined) message.embeds = fields.embeds;
    if (fields.components !== undefined) message.components = fields.components;
    if (fields.attachments !== undefined) message.attachments = fields.attachments;
    message.edited_timestamp = new Date().toISOString();
    this.discord.dispatch(
      'MESSAGE_UPDATE',
      { ...message, guild_id: stored.guildId },
      { guildId: stored.guildId },
      message.id,
    );
    return message;
  }

  /** POST /webhooks/{application_id}/{token}: a follow-up message, allowed once the interaction was answered. */
  public followUp(applicationId: string, token: string, fields: ResponseMessageFields): SimMessage {
    const interaction = this.interactionOfWebhook(applicationId, token);
    if (!interaction.response) throw new MessagingError(404, 10_015, 'Unknown Webhook');
    const message = this.createResponseMessage(interaction, fields);
    interaction.followUpMessageIds.push(message.id);
    return message;
  }

  public reset(): void {
    this.messagesByChannel.clear();
    this.messagesById.clear();
    this.interactions.clear();
    this.interactionsByToken.clear();
    this.commandsByApplication.clear();
  }
}
