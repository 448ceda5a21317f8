import { GatewayIntentBits } from 'discord-api-types/v10';
import { guildMemberObject } from '../world/payloads.js';
import type { SimulatedDiscord } from '../world/SimulatedDiscord.js';
import type { GatewaySession } from './GatewaySession.js';

/** Members per GUILD_MEMBERS_CHUNK, as on Discord. */
export const MEMBERS_PER_CHUNK = 1_000;
/** Largest `limit` of a member search by query. */
const QUERY_LIMIT_MAX = 100;
/** Requests for all members of one guild are allowed once per 30 s. */
export const ALL_MEMBERS_INTERVAL_MS = 30_000;

/** Answers what a gateway command makes Discord send back: member chunks, voice state, soundboard sounds. */
export function handleGatewayCommand(
  discord: SimulatedDiscord,
  session: GatewaySession,
  op: number,
  d: unknown,
): void {
  const data = (typeof d === 'object' && d !== null ? d : {}) as Record<string, unknown>;
  switch (op) {
    case 3:
      session.presence = data;
      return;
    case 4:
      voiceStateUpdate(discord, session, data);
      return;
    case 8:
      requestGuildMembers(discord, session, data);
      return;
    case 31:
      for (const guildId of Array.isArray(data.guild_ids) ? data.guild_ids : []) {
        if (ownsGuild(discord, session, String(guildId))) {
          discord.dispatchToSession(session, 'SOUNDBOARD_SOUNDS', {
            guild_id: String(guildId),
            soundboard_sounds: [],
          });
        }
      }
      return;
  }
}

function ownsGuild(discord: SimulatedDiscord, session: GatewaySession, guildId: string): boolean {
  const index = discord.population.indexOf(guildId);
  return index !== undefined && discord.population.shardOfIndex(index, session.shardCount) === session.shard;
}

function voiceStateUpdate(
  discord: SimulatedDiscord,
  session: GatewaySession,
  data: Record<string, unknown>,
): void {
  const guildId = String(data.guild_id ?? '');
  if (!ownsGuild(discord, session, guildId) || (session.intents & GatewayIntentBits.GuildVoiceStates) === 0)
    return;
  const channelId = typeof data.channel_id === 'string' ? data.channel_id : null;
  discord.dispatchToSession(session, 'VOICE_STATE_UPDATE', {
    guild_id: guildId,
    channel_id: channelId,
    user_id: discord.bot.id,
    session_id: session.id,
    deaf: false,
    mute: false,
    self_deaf: data.self_deaf === true,
    self_mute: data.self_mute === true,
    self_video: false,
    suppress: false,
    request_to_speak_timestamp: null,
  });
  if (channelId !== null) {
    discord.dispatchToSession(session, 'VOICE_SERVER_UPDATE', {
      token: session.id.slice(0, 16),
      guild_id: guildId,
      endpoint: 'voice.simulator.invalid:443',
    });
  }
}

function requestGuildMembers(
  discord: SimulatedDiscord,
  session: GatewaySession,
  data: Record<string, unknown>,
): void {
  const guildId = String(data.guild_id ?? '');
  if (!ownsGuild(discord, session, guildId)) return;
  const population = discord.population;
  const index = population.indexOf(guildId) as number;
  const memberCount = population.guild(index).memberCount;
  const nonce = typeof data.nonce === 'string' ? data.nonce : undefined;
  const userIds = Array.isArray(data.user_ids)
    ? data.user_ids.map(String)
    : typeof data.user_ids === 'string'
      ? [data.user_ids]
      : null;
  const query = typeof data.query === 'string' ? data.query.toLowerCase() : '';
  const limit = Number.isInteger(data.limit) ? (data.limit as number) : 0;

  let numbers: number[] = [];
  const notFound: string[] = [];
  if (userIds) {
    for (const userId of userIds) {
      const n = population.memberNumber(index, userId);
      if (n === undefined) notFound.push(userId);
      else numbers.push(n);
    }
  } else if (query === '' && limit === 0) {
    const last = discord.allMembersRequestedAt.get(guildId);
    const now = Date.now();
    if (last !== undefined && now - last < ALL_MEMBERS_INTERVAL_MS) {
      discord.dispatchToSession(session, 'RATE_LIMITED', {
        opcode: 8,
        retry_after: (ALL_MEMBERS_INTERVAL_MS - (now - last)) / 1_000,
        meta: { guild_id: guildId, ...(nonce === undefined ? {} : { nonce }) },
      });
      return;
    }
    discord.allMembersRequestedAt.set(guildId, now);
    numbers = Array.from({ length: memberCount }, (_, n) => n);
  } else {
    const max = Math.min(limit === 0 ? QUERY_LIMIT_MAX : limit, QUERY_LIMIT_MAX);
    for (let n = 0; n < memberCount && numbers.length < max; n++) {
      if (population.member(index, n).username.startsWith(query)) numbers.push(n);
    }
  }

  const chunkCount = Math.max(1, Math.ceil(numbers.length / MEMBERS_PER_CHUNK));
  for (let chunk = 0; chunk < chunkCount; chunk++) {
    const members = numbers
      .slice(chunk * MEMBERS_PER_CHUNK, (chunk + 1) * MEMBERS_PER_CHUNK)
      .map((n) => guildMemberObject(population.member(index, n), guildId));
    discord.dispatchToSession(session, 'GUILD_MEMBERS_CHUNK', {
      guild_id: guildId,
      members,
      chunk_index: chunk,
      chunk_count: chunkCount,
      ...(chunk === 0 && notFound.length > 0 ? { not_found: notFound } : {}),
      ...(data.presences === true ? { presences: [] } : {}),
      ...(nonce === undefined ? {} : { nonce }),
    });
  }
}
