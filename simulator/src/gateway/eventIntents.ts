import { GatewayIntentBits } from 'discord-api-types/v10';

const GUILD_EVENT_INTENTS: Record<string, number> = {
  GUILD_CREATE: GatewayIntentBits.Guilds,
  GUILD_UPDATE: GatewayIntentBits.Guilds,
  GUILD_DELETE: GatewayIntentBits.Guilds,
  GUILD_ROLE_CREATE: GatewayIntentBits.Guilds,
  GUILD_ROLE_UPDATE: GatewayIntentBits.Guilds,
  GUILD_ROLE_DELETE: GatewayIntentBits.Guilds,
  CHANNEL_CREATE: GatewayIntentBits.Guilds,
  CHANNEL_UPDATE: GatewayIntentBits.Guilds,
  CHANNEL_DELETE: GatewayIntentBits.Guilds,
  THREAD_CREATE: GatewayIntentBits.Guilds,
  THREAD_UPDATE: GatewayIntentBits.Guilds,
  THREAD_DELETE: GatewayIntentBits.Guilds,
  GUILD_MEMBER_ADD: GatewayIntentBits.GuildMembers,
  GUILD_MEMBER_UPDATE: GatewayIntentBits.GuildMembers,
  GUILD_MEMBER_REMOVE: GatewayIntentBits.GuildMembers,
  GUILD_BAN_ADD: GatewayIntentBits.GuildModeration,
  GUILD_BAN_REMOVE: GatewayIntentBits.GuildModeration,
  GUILD_EMOJIS_UPDATE: GatewayIntentBits.GuildExpressions,
  GUILD_STICKERS_UPDATE: GatewayIntentBits.GuildExpressions,
  INVITE_CREATE: GatewayIntentBits.GuildInvites,
  INVITE_DELETE: GatewayIntentBits.GuildInvites,
  VOICE_STATE_UPDATE: GatewayIntentBits.GuildVoiceStates,
  PRESENCE_UPDATE: GatewayIntentBits.GuildPresences,
  MESSAGE_CREATE: GatewayIntentBits.GuildMessages,
  MESSAGE_UPDATE: GatewayIntentBits.GuildMessages,
  MESSAGE_DELETE: GatewayIntentBits.GuildMessages,
  MESSAGE_DELETE_BULK: GatewayIntentBits.GuildMessages,
  MESSAGE_REACTION_ADD: GatewayIntentBits.GuildMessageReactions,
  MESSAGE_REACTION_REMOVE: GatewayIntentBits.GuildMessageReactions,
  TYPING_START: GatewayIntentBits.GuildMessageTyping,
};

const DIRECT_EVENT_INTENTS: Record<string, number> = {
  MESSAGE_CREATE: GatewayIntentBits.DirectMessages,
  MESSAGE_UPDATE: GatewayIntentBits.DirectMessages,
  MESSAGE_DELETE: GatewayIntentBits.DirectMessages,
  MESSAGE_REACTION_ADD: GatewayIntentBits.DirectMessageReactions,
  MESSAGE_REACTION_REMOVE: GatewayIntentBits.DirectMessageReactions,
  TYPING_START: GatewayIntentBits.DirectMessageTyping,
};

/**
 * The intent a session needs to receive an event, or 0 when none is needed (READY, INTERACTION_CREATE, and
 * events the simulator has no rule for).
 */
export function intentForEvent(t: string, inGuild: boolean): number {
  return (inGuild ? GUILD_EVENT_INTENTS[t] : DIRECT_EVENT_INTENTS[t]) ?? 0;
}
