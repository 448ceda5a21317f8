import { SnowflakeGenerator } from '../world/Messaging.js';
import { type MessageAuthor, memberAuthor, messageObject, sentence } from '../world/payloads.js';
import { SeededRandom } from '../world/random.js';
import type { SimulatedDiscord } from '../world/SimulatedDiscord.js';

const TICK_MS = 10;
/** Members whose messages the generator writes, per guild: enough variety without building many objects. */
const AUTHORS_PER_GUILD = 20;
/** Distinct message texts the generator picks from; building a sentence per event would cost more than the rest. */
const SENTENCES = 512;
/**
 * A tick catches up on at most this much time. Past its capacity the simulator then delivers what it can
 * instead of bursting a second's worth of events at once, which would only pile up in socket buffers.
 */
const MAX_CATCH_UP_SECONDS = 0.1;

/**
 * What the generator needs of a guild, built once: guild `index` is the same guild for a seed whatever the
 * population size, so the cache never goes stale.
 */
interface GuildTraffic {
  id: string;
  textChannelIds: string[];
  authors: MessageAuthor[];
}

/**
 * `--event-rate`: MESSAGE_CREATE dispatches of about 1 KB in random text channels of random guilds, at a
 * steady rate, so tests and benchmarks have realistic traffic whose every dispatch is in the ledger.
 */
export class TrafficGenerator {
  private timer: NodeJS.Timeout | null = null;
  private lastTickAt = 0;
  private carry = 0;
  private readonly random: SeededRandom;
  private readonly ids = new SnowflakeGenerator(5n);
  private readonly sentences: string[];
  private readonly guilds = new Map<number, GuildTraffic>();
  public generated = 0;

  public constructor(
    private readonly discord: SimulatedDiscord,
    private rate: number,
    seed: number,
  ) {
    this.random = new SeededRandom(seed ^ 0x5eed);
    this.sentences = Array.from({ length: SENTENCES }, () =>
      sentence(this.random, this.random.int(220, 460)),
    );
  }

  public get eventsPerSecond(): number {
    return this.rate;
  }

  public setRate(rate: number): void {
    this.rate = rate;
    if (rate > 0) this.start();
    else this.stop();
  }

  public start(): void {
    if (this.timer || this.rate <= 0) return;
    this.lastTickAt = performance.now();
    this.carry = 0;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  public stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }

  private tick(): void {
    const now = performance.now();
    const elapsed = Math.min((now - this.lastTickAt) / 1_000, MAX_CATCH_UP_SECONDS);
    this.lastTickAt = now;
    this.carry += this.rate * elapsed;
    const due = Math.floor(this.carry);
    this.carry -= due;
    for (let i = 0; i < due; i++) this.emitOne();
  }

  private guildTraffic(index: number): GuildTraffic {
    let traffic = this.guilds.get(index);
    if (!traffic) {
      const population = this.discord.population;
      const guild = population.guild(index);
      traffic = {
        id: guild.id,
        textChannelIds: guild.channels.filter((channel) => channel.type === 0).map((channel) => channel.id),
        authors: Array.from({ length: Math.min(guild.memberCount, AUTHORS_PER_GUILD) }, (_, n) =>
          memberAuthor(population, index, n),
        ),
      };
      this.guilds.set(index, traffic);
    }
    return traffic;
  }

  /** One member message in a random text channel. */
  private emitOne(): void {
    const population = this.discord.population;
    if (population.size === 0) return;
    const random = this.random;
    const guild = this.guildTraffic(random.int(0, population.size - 1));
    const message = messageObject(
      {
        id: this.ids.next(),
        channelId: random.pick(guild.textChannelIds),
        guildId: guild.id,
        author: random.pick(guild.authors),
        content: random.pick(this.sentences),
        nonce: String(random.int(1, 2 ** 31)),
      },
      true,
    );
    this.generated++;
    this.discord.dispatch('MESSAGE_CREATE', message, { guildId: guild.id }, message.id);
  }
}
