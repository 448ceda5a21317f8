import { GatewayIntentBits } from 'discord-api-types/v10';

/**
 * Thrown by {@link parseIntents} when some items are neither a known intent name nor a number
 * made of valid intent bits.
 */
export class IntentsError extends RangeError {
  /** The rejected items, as given. */
  public readonly invalid: readonly string[];

  public constructor(invalid: readonly string[]) {
    super(
      `unknown intents ${invalid.map((item) => JSON.stringify(item)).join(', ')}: expected names such as ` +
        'Guilds or GUILD_MESSAGES, or a number made of valid intent bits',
    );
    this.name = 'IntentsError';
    this.invalid = invalid;
  }
}

// The canonical name of each bit is its first enum key; later keys with the same value are
// deprecated aliases (GuildBans, GuildEmojisAndStickers), still accepted as input.
const canonicalNames = new Map<number, string>();
const bitsByKey = new Map<string, number>();
for (const [name, value] of Object.entries(GatewayIntentBits)) {
  if (typeof value !== 'number') continue;
  if (!canonicalNames.has(value)) canonicalNames.set(value, name);
  bitsByKey.set(lookupKey(name), value);
}

/** `GuildMessages`, `GUILD_MESSAGES` and `guild_messages` all look up the same intent. */
function lookupKey(name: string): string {
  return name.replaceAll('_', '').toLowerCase();
}

/**
 * Every intent bit that discord-api-types knows: the OR of all `GatewayIntentBits`.
 */
export const ALL_INTENTS: number = [...canonicalNames.keys()].reduce((all, bit) => all | bit, 0);

/**
 * The privileged intents (GuildMembers, GuildPresences, MessageContent): Discord closes the
 * connection with 4014 unless the application is approved for them.
 */
export const PRIVILEGED_INTENTS: number =
  GatewayIntentBits.GuildMembers | GatewayIntentBits.GuildPresences | GatewayIntentBits.MessageContent;

const DECIMAL_PATTERN = /^\d+$/;
const ITEM_SEPARATOR = /[\s,]+/;

function parseItem(item: string | number): number | undefined {
  if (typeof item === 'number') return isValidBitfield(item) ? item : undefined;
  if (DECIMAL_PATTERN.test(item)) {
    const bits = Number(item);
    return isValidBitfield(bits) ? bits : undefined;
  }
  return bitsByKey.get(lookupKey(item));
}

function isValidBitfield(bits: number): boolean {
  // ALL_INTENTS fits in 31 bits, so the bitwise test is exact for every value that passes the range check.
  return Number.isInteger(bits) && bits >= 0 && bits <= ALL_INTENTS && (bits & ~ALL_INTENTS) === 0;
}

/**
 * Parses gateway intents given as a bitfield or as names.
 *
 * Accepts a number, a decimal string (`'33281'`), a comma or space separated list, or an array.
 * List items are discord.js names (`GuildMessages`), Discord's names (`GUILD_MESSAGES`) or
 * numbers; they are OR-ed together. An empty list is 0.
 *
 * @param value - The intents.
 * @returns The intents bitfield.
 * @throws {@link IntentsError} naming every unknown name and every number with invalid bits.
 */
export function parseIntents(value: string | number | readonly (string | number)[]): number {
  const items =
    typeof value === 'number'
      ? [value]
      : typeof value === 'string'
        ? value.split(ITEM_SEPARATOR).filter((item) => item !== '')
        : value;
  let bits = 0;
  const invalid: string[] = [];
  for (const item of items) {
    const itemBits = parseItem(typeof item === 'string' ? item.trim() : item);
    if (itemBits === undefined) invalid.push(String(item));
    else bits |= itemBits;
  }
  if (invalid.length > 0) throw new IntentsError(invalid);
  return bits;
}

/**
 * The discord.js names of the intents in a bitfield, lowest bit first. Bits that are not
 * intents are ignored.
 *
 * @param bits - The intents bitfield.
 * @returns Names such as `['Guilds', 'GuildMessages']`.
 */
export function intentNames(bits: number): string[] {
  const names: string[] = [];
  for (const [bit, name] of canonicalNames) {
    if ((bits & bit) !== 0) names.push(name);
  }
  return names;
}
