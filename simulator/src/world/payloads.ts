import { DISCORD_EPOCH } from '@shardfleet/protocol';
import type { GuildPopulation, SimGuild, SimMember } from './GuildPopulation.js';
import type { SeededRandom } from './random.js';

/** The bot's user as the simulator reports it; the application id equals the bot user id, as on Discord. */
export interface BotIdentity {
  id: string;
  username: string;
}

export function botIdentity(seed: number): BotIdentity {
  const relative = BigInt(Date.UTC(2016, 5, 1) - DISCORD_EPOCH + (seed % 1_000_000));
  return { id: ((relative << 22n) | (3n << 17n)).toString(), username: 'shardfleet-sim' };
}

export function botUserObject(bot: BotIdentity) {
  return {
    id: bot.id,
    username: bot.username,
    global_name: null,
    discriminator: '0',
    avatar: null,
    bot: true,
    verified: true,
    flags: 0,
    mfa_enabled: true,
    public_flags: 0,
  };
}

export function applicationObject(bot: BotIdentity) {
  return {
    id: bot.id,
    name: bot.username,
    icon: null,
    description: 'A Discord application simulated by shardfleet',
    bot_public: true,
    bot_require_code_grant: false,
    verify_key: '0'.repeat(64),
    flags: 0,
    bot: botUserObject(bot),
    approximate_guild_count: 0,
  };
}

export function memberUserObject(member: SimMember) {
  return {
    id: member.id,
    username: member.username,
    global_name: member.username,
    discriminator: '0',
    avatar: null,
    public_flags: 0,
  };
}

export function guildMemberObject(member: SimMember, guildId: string) {
  return {
    user: memberUserObject(member),
    nick: null,
    avatar: null,
    roles: [guildId],
    joined_at: member.joinedAt,
    premium_since: null,
    deaf: false,
    mute: false,
    flags: 0,
    pending: false,
  };
}

export function channelObject(channel: SimGuild['channels'][number]) {
  return {
    id: channel.id,
    guild_id: channel.guildId,
    type: channel.type,
    name: channel.name,
    position: channel.position,
    permission_overwrites: [],
    parent_id: null,
    nsfw: false,
    ...(channel.type === 0 ? { topic: null, last_message_id: null, rate_limit_per_user: 0 } : {}),
    ...(channel.type === 2 ? { bitrate: 64_000, user_limit: 0, rtc_region: null } : {}),
  };
}

/** A full GUILD_CREATE payload, as sent after READY and when the bot joins a guild. */
export function guildCreatePayload(guild: SimGuild, largeThreshold: number, joinedAt: string) {
  const everyone = {
    id: guild.id,
    name: '@everyone',
    color: 0,
    hoist: false,
    icon: null,
    unicode_emoji: null,
    position: 0,
    permissions: '2248473465835073',
    managed: false,
    mentionable: false,
    flags: 0,
  };
  return {
    id: guild.id,
    name: guild.name,
    icon: null,
    splash: null,
    discovery_splash: null,
    owner_id: guild.ownerId,
    afk_channel_id: null,
    afk_timeout: 300,
    verification_level: 1,
    default_message_notifications: 1,
    explicit_content_filter: 0,
    roles: [everyone],
    emojis: [],
    stickers: [],
    features: [],
    mfa_level: 0,
    application_id: null,
    system_channel_id: guild.channels[0]?.id ?? null,
    system_channel_flags: 0,
    rules_channel_id: null,
    max_members: 500_000,
    vanity_url_code: null,
    description: null,
    banner: null,
    premium_tier: 0,
    premium_subscription_count: 0,
    preferred_locale: 'en-US',
    public_updates_channel_id: null,
    nsfw_level: 0,
    premium_progress_bar_enabled: false,
    joined_at: joinedAt,
    large: guild.memberCount > largeThreshold,
    unavailable: false,
    member_count: guild.memberCount,
    voice_states: [],
    members: [],
    channels: guild.channels.map(channelObject),
    threads: [],
    presences: [],
    stage_instances: [],
    guild_scheduled_events: [],
    soundboard_sounds: [],
  };
}

const WORDS = [
  'shard',
  'gateway',
  'resume',
  'identify',
  'stream',
  'bucket',
  'proxy',
  'fleet',
  'guild',
  'channel',
  'latency',
  'heartbeat',
  'session',
  'dispatch',
  'operator',
  'replica',
  'redis',
  'queue',
  'limit',
  'event',
  'pod',
  'cluster',
];

/** A sentence of `length` characters or a little more, from a fixed vocabulary. */
export function sentence(random: SeededRandom, length: number): string {
  const words: string[] = [];
  let size = 0;
  while (size < length) {
    const word = random.pick(WORDS);
    words.push(word);
    size += word.length + 1;
  }
  return words.join(' ');
}

export interface MessageAuthor {
  user: ReturnType<typeof memberUserObject> | ReturnType<typeof botUserObject>;
  member?: Omit<ReturnType<typeof guildMemberObject>, 'user'>;
}

export interface MessageFields {
  id: string;
  channelId: string;
  guildId: string | null;
  author: MessageAuthor;
  content: string;
  embeds?: unknown[];
  attachments?: unknown[];
  components?: unknown[];
  nonce?: string | number;
  messageReference?: unknown;
  mentions?: unknown[];
  type?: number;
  interactionMetadata?: unknown;
}

/** A message as Discord returns it from POST /channels/{id}/messages. */
export interface SimMessage {
  type: number;
  channel_id: string;
  content: string;
  attachments: unknown[];
  embeds: unknown[];
  timestamp: string;
  edited_timestamp: string | null;
  flags: number;
  components: unknown[];
  id: string;
  author: MessageAuthor['user'];
  mentions: unknown[];
  mention_roles: string[];
  pinned: boolean;
  mention_everyone: boolean;
  tts: boolean;
  nonce?: string | number;
  message_reference?: unknown;
  interaction_metadata?: unknown;
  /** Only in the MESSAGE_CREATE dispatch of a guild message. */
  guild_id?: string;
  member?: MessageAuthor['member'];
}

/**
 * Builds a message object; with `asDispatch` it is the MESSAGE_CREATE payload instead (plus `guild_id`
 * and the author's `member`). Optional fields are assigned rather than spread: the traffic generator
 * builds tens of thousands of these per second.
 */
export function messageObject(fields: MessageFields, asDispatch = false): SimMessage {
  const message: SimMessage = {
    type: fields.type ?? 0,
    channel_id: fields.channelId,
    content: fields.content,
    attachments: fields.attachments ?? [],
    embeds: fields.embeds ?? [],
    timestamp: new Date().toISOString(),
    edited_timestamp: null,
    flags: 0,
    components: fields.components ?? [],
    id: fields.id,
    author: fields.author.user,
    mentions: fields.mentions ?? [],
    mention_roles: [],
    pinned: false,
    mention_everyone: false,
    tts: false,
  };
  if (fields.nonce !== undefined) message.nonce = fields.nonce;
  if (fields.messageReference !== undefined) message.message_reference = fields.messageReference;
  if (fields.interactionMetadata !== undefined) message.interaction_metadata = fields.interactionMetadata;
  if (asDispatch && fields.guildId !== null) {
    message.guild_id = fields.guildId;
    if (fields.author.member) message.member = fields.author.member;
  }
  return message;
}

export function memberAuthor(guild: GuildPopulation, index: number, n: number): MessageAuthor {
  const member = guild.member(index, n);
  const { user, ...rest } = guildMemberObject(member, guild.idAt(index));
  return { user, member: rest };
}
