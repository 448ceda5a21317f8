import { DISCORD_EPOCH } from '@shardfleet/protocol';
import { mixSeed, SeededRandom } from './random.js';

/** The first guild is created on 2017-01-01; later ones follow a few hundred milliseconds apart. */
const FIRST_GUILD_AT = Date.UTC(2017, 0, 1) - DISCORD_EPOCH;
/** Worker id bits of generated snowflakes, so ids of different kinds never collide. */
const GUILD_WORKER = 1n << 17n;
const USER_WORKER = 2n << 17n;
const INCREMENT_MASK = 0xfffn;

export const ChannelType = { GuildText: 0, GuildVoice: 2 } as const;

export interface SimChannel {
  id: string;
  guildId: string;
  name: string;
  type: (typeof ChannelType)[keyof typeof ChannelType];
  position: number;
}

export interface SimGuild {
  index: number;
  id: string;
  name: string;
  ownerId: string;
  memberCount: number;
  createdAt: number;
  channels: SimChannel[];
}

export interface SimMember {
  id: string;
  username: string;
  joinedAt: string;
}

const CHANNEL_LAYOUT = [
  { name: 'general', type: ChannelType.GuildText },
  { name: 'bot-commands', type: ChannelType.GuildText },
  { name: 'Lounge', type: ChannelType.GuildVoice },
] as const;

const NAME_PARTS = ['ark', 'bel', 'cor', 'dun', 'eph', 'fal', 'gor', 'hyl', 'ist', 'jor', 'kel', 'lum'];

/**
 * The simulated guilds: a deterministic sequence for a seed, so guild N is the same guild in every run,
 * and growing the population keeps the existing guilds. Snowflakes carry increasing timestamps a random
 * few hundred ms apart, which spreads them over the shards by Discord's real formula.
 */
export class GuildPopulation {
  private readonly seed: number;
  private readonly relativeTimestamps: number[] = [];
  private readonly ids: string[] = [];
  private readonly indexById = new Map<string, number>();
  private readonly partitions = new Map<number, number[][]>();
  private count = 0;

  public constructor(count: number, seed: number) {
    this.seed = seed;
    this.resize(count);
  }

  public get size(): number {
    return this.count;
  }

  /** Changes the population; returns the indexes that joined and left. */
  public resize(count: number): { added: number[]; removed: number[] } {
    const added: number[] = [];
    const removed: number[] = [];
    while (this.ids.length < count) {
      const index = this.ids.length;
      const previous = this.relativeTimestamps[index - 1] ?? FIRST_GUILD_AT;
      const relative = previous + 1 + Math.floor(new SeededRandom(mixSeed(this.seed, index)).next() * 600);
      this.relativeTimestamps.push(relative);
      this.ids.push(((BigInt(relative) << 22n) | GUILD_WORKER).toString());
    }
    for (let index = this.count; index < count; index++) {
      this.indexById.set(this.ids[index] as string, index);
      added.push(index);
    }
    for (let index = count; index < this.count; index++) {
      this.indexById.delete(this.ids[index] as string);
      removed.push(index);
    }
    this.count = count;
    this.partitions.clear();
    return { added, removed };
  }

  public idAt(index: number): string {
    return this.ids[index] as string;
  }

  public has(guildId: string): boolean {
    return this.indexById.has(guildId);
  }

  public indexOf(guildId: string): number | undefined {
    return this.indexById.get(guildId);
  }

  /** The shard of a guild by Discord's formula; the timestamp bits are exact as a double. */
  public shardOfIndex(index: number, shardCount: number): number {
    return (this.relativeTimestamps[index] as number) % shardCount;
  }

  /** Guild indexes owned by each shard for a shard count, computed once per count. */
  public partition(shardCount: number): number[][] {
    let partition = this.partitions.get(shardCount);
    if (!partition) {
      partition = Array.from({ length: shardCount }, () => []);
      for (let index = 0; index < this.count; index++) {
        partition[this.shardOfIndex(index, shardCount)]?.push(index);
      }
      this.partitions.set(shardCount, partition);
    }
    return partition;
  }

  public guild(index: number): SimGuild {
    const id = this.idAt(index);
    const random = new SeededRandom(mixSeed(this.seed, index));
    random.next();
    const size = random.next();
    const memberCount =
      size < 0.7 ? random.int(2, 50) : size < 0.95 ? random.int(51, 1_000) : random.int(1_001, 5_000);
    const name = `${random.pick(NAME_PARTS)}${random.pick(NAME_PARTS)} ${index}`;
    const base = BigInt(id);
    return {
      index,
      id,
      name,
      ownerId: this.memberId(index, 0),
      memberCount,
      createdAt: (this.relativeTimestamps[index] as number) + DISCORD_EPOCH,
      channels: CHANNEL_LAYOUT.map((layout, position) => ({
        id: (base | BigInt(position + 1)).toString(),
        guildId: id,
        name: layout.name,
        type: layout.type,
        position,
      })),
    };
  }

  /** The guild a channel belongs to, or undefined for an unknown channel. */
  public guildIndexOfChannel(channelId: string): number | undefined {
    if (!/^\d{1,20}$/.test(channelId)) return undefined;
    const id = BigInt(channelId);
    const position = Number(id & INCREMENT_MASK);
    if (position < 1 || position > CHANNEL_LAYOUT.length) return undefined;
    return this.indexById.get((id & ~INCREMENT_MASK).toString());
  }

  public channel(channelId: string): SimChannel | undefined {
    const index = this.guildIndexOfChannel(channelId);
    if (index === undefined) return undefined;
    return this.guild(index).channels.find((channel) => channel.id === channelId);
  }

  /**
   * Member `n` of a guild: the guild's timestamp makes ids unique across guilds, the process bits and the
   * increment number the members (up to 131,072 per guild).
   */
  public memberId(index: number, n: number): string {
    const relative = BigInt(this.relativeTimestamps[index] as number);
    return ((relative << 22n) | USER_WORKER | (BigInt(n >> 12) << 12n) | BigInt(n & 0xfff)).toString();
  }

  /** Which member of a guild a user id is, or undefined if the user is not a member of it. */
  public memberNumber(index: number, userId: string): number | undefined {
    if (!/^\d{1,20}$/.test(userId)) return undefined;
    const id = BigInt(userId);
    if (
      id >> 22n !== BigInt(this.relativeTimestamps[index] as number) ||
      (id & (0x1fn << 17n)) !== USER_WORKER
    ) {
      return undefined;
    }
    const n = Number(((id >> 12n) & 0x1fn) << 12n) | Number(id & 0xfffn);
    return n < this.guild(index).memberCount ? n : undefined;
  }

  public member(index: number, n: number): SimMember {
    return {
      id: this.memberId(index, n),
      username: `member${n}.${this.idAt(index).slice(-4)}`,
      joinedAt: new Date(
        (this.relativeTimestamps[index] as number) + DISCORD_EPOCH + n * 60_000,
      ).toISOString(),
    };
  }

  /** Recommended shard count as Discord computes it: about one shard per 1000 guilds. */
  public recommendedShards(maxConcurrency: number): number {
    const shards = Math.max(1, Math.ceil(this.count / 1_000));
    return maxConcurrency > 1 ? Math.ceil(shards / maxConcurrency) * maxConcurrency : shards;
  }
}
