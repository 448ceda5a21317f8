import { GatewayIntentBits } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import { ALL_INTENTS, IntentsError, intentNames, PRIVILEGED_INTENTS, parseIntents } from '../index.js';

const { Guilds, GuildMessages, MessageContent, GuildMembers, GuildPresences, GuildModeration } =
  GatewayIntentBits;

describe('parseIntents', () => {
  it.each<[string, Parameters<typeof parseIntents>[0], number]>([
    ['a number', 33_281, 33_281],
    ['zero', 0, 0],
    ['a decimal string', '33281', Guilds | GuildMessages | MessageContent],
    ['one PascalCase name', 'Guilds', Guilds],
    ['a comma list', 'Guilds,GuildMessages,MessageContent', 33_281],
    ['a comma list with spaces', ' Guilds, GuildMessages ,MessageContent ', 33_281],
    ['a space list', 'Guilds GuildMessages', Guilds | GuildMessages],
    ['SCREAMING_SNAKE names', 'GUILDS,GUILD_MESSAGES,MESSAGE_CONTENT', 33_281],
    ['Discord names in lower case', 'guild_messages', GuildMessages],
    ['an array of names', ['Guilds', 'GuildMessages'], Guilds | GuildMessages],
    ['an array mixing names and numbers', ['Guilds', 512, '32768'], 33_281],
    [
      'deprecated aliases',
      'GuildBans,GuildEmojisAndStickers',
      GuildModeration | GatewayIntentBits.GuildExpressions,
    ],
    ['the highest bit', 'DIRECT_MESSAGE_POLLS', 1 << 25],
    ['duplicates once', 'Guilds,GUILDS,1', Guilds],
    ['an empty list', '', 0],
    ['an empty array', [], 0],
    ['every intent', ALL_INTENTS, ALL_INTENTS],
  ])('accepts %s', (_, value, expected) => {
    expect(parseIntents(value)).toBe(expected);
  });

  it.each<[string, Parameters<typeof parseIntents>[0], string[]]>([
    ['an unknown name', 'Guilds,Foo', ['Foo']],
    ['every unknown name', 'Foo, GuildMessages, Bar', ['Foo', 'Bar']],
    ['an undefined bit', 1 << 17, [String(1 << 17)]],
    ['an undefined bit as text', String(1 << 30), [String(1 << 30)]],
    ['a negative number', -1, ['-1']],
    ['a fraction', 1.5, ['1.5']],
    ['a number above 32 bits', 2 ** 32 + 1, [String(2 ** 32 + 1)]],
    ['bad array items', ['Guilds', 'Nope', 1 << 18], ['Nope', String(1 << 18)]],
    ['hex', '0x1', ['0x1']],
  ])('rejects %s, naming every bad item', (_, value, invalid) => {
    let caught: unknown;
    try {
      parseIntents(value);
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(IntentsError);
    expect(caught).toBeInstanceOf(RangeError);
    expect((caught as IntentsError).invalid).toEqual(invalid);
    for (const item of invalid) expect((caught as Error).message).toContain(JSON.stringify(item));
  });
});

describe('intent constants', () => {
  it('PRIVILEGED_INTENTS is GuildMembers | GuildPresences | MessageContent', () => {
    expect(PRIVILEGED_INTENTS).toBe(GuildMembers | GuildPresences | MessageContent);
    expect(PRIVILEGED_INTENTS).toBe(2 + 256 + 32_768);
  });

  it('ALL_INTENTS has every GatewayIntentBits bit and no other', () => {
    const expected = Object.values(GatewayIntentBits)
      .filter((value): value is number => typeof value === 'number')
      .reduce((all, bit) => all | bit, 0);
    expect(ALL_INTENTS).toBe(expected);
    expect(ALL_INTENTS & (1 << 17)).toBe(0);
    expect(ALL_INTENTS & (1 << 25)).not.toBe(0);
  });
});

describe('intentNames', () => {
  it.each<[number, string[]]>([
    [0, []],
    [Guilds, ['Guilds']],
    [33_281, ['Guilds', 'GuildMessages', 'MessageContent']],
    [GuildModeration, ['GuildModeration']],
    [PRIVILEGED_INTENTS, ['GuildMembers', 'GuildPresences', 'MessageContent']],
    [Guilds | (1 << 17), ['Guilds']],
  ])('names %i as %j', (bits, expected) => {
    expect(intentNames(bits)).toEqual(expected);
  });

  it('round-trips through parseIntents', () => {
    expect(parseIntents(intentNames(ALL_INTENTS))).toBe(ALL_INTENTS);
    expect(intentNames(ALL_INTENTS)).toHaveLength(21);
  });
});
