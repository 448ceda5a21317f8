import { GatewayOpcodes } from 'discord-api-types/v10';
import { describe, expect, it } from 'vitest';
import {
  type CommandEntry,
  decodeCommandEntry,
  decodeEventEntry,
  EntryDecodeError,
  type EventEntry,
  encodeCommandEntry,
  encodeEventEntry,
  encodeEventEntryJson,
  GatewayCommandOp,
  idempotencyKey,
} from '../index.js';

const message: EventEntry = {
  t: 'MESSAGE_CREATE',
  s: 3,
  seq: 42,
  sid: 'abc123',
  g: '1178287655307255838',
  ts: 1_700_000_000_123,
  d: { id: '1', content: 'hi', nested: { a: [1, 2] } },
};

const wire = [
  't',
  'MESSAGE_CREATE',
  's',
  '3',
  'seq',
  '42',
  'sid',
  'abc123',
  'g',
  '1178287655307255838',
  'ts',
  '1700000000123',
  'd',
  '{"id":"1","content":"hi","nested":{"a":[1,2]}}',
];

function toRecord(fields: readonly string[]): Record<string, string> {
  const record: Record<string, string> = {};
  for (let i = 0; i < fields.length; i += 2) record[fields[i] as string] = fields[i + 1] as string;
  return record;
}

function withField(fields: readonly string[], name: string, value: string | undefined): string[] {
  const copy: string[] = [];
  for (let i = 0; i < fields.length; i += 2) {
    if (fields[i] !== name) copy.push(fields[i] as string, fields[i + 1] as string);
    else if (value !== undefined) copy.push(name, value);
  }
  return copy;
}

function decodeError(decode: () => unknown): EntryDecodeError {
  try {
    decode();
  } catch (error) {
    if (error instanceof EntryDecodeError) return error;
    throw error;
  }
  throw new Error('expected an EntryDecodeError');
}

describe('event entries', () => {
  it('encodes the fields of the contract, in order', () => {
    expect(encodeEventEntry(message)).toEqual(wire);
  });

  it('writes already serialized data as is', () => {
    const dJson = '{ "id" : "1" }';
    const { d: _, ...meta } = message;
    expect(encodeEventEntryJson(meta, dJson)).toEqual([...wire.slice(0, -1), dJson]);
  });

  it.each<[string, Partial<EventEntry>, Record<string, string>]>([
    ['a DM as an empty guild', { g: null }, { g: '' }],
    ['null data', { d: null }, { d: 'null' }],
    ['undefined data as null', { d: undefined }, { d: 'null' }],
    ['array data', { d: [1, 'x'] }, { d: '[1,"x"]' }],
    ['shard 0 and seq 1', { s: 0, seq: 1 }, { s: '0', seq: '1' }],
  ])('encodes %s', (_, change, expected) => {
    expect(toRecord(encodeEventEntry({ ...message, ...change }))).toMatchObject(expected);
  });

  it.each([
    ['a field list', wire],
    ['an object', toRecord(wire)],
    ['a list with unknown fields', [...wire, 'x-trace', 'abc']],
    ['a list in another order', [...wire.slice(12), ...wire.slice(0, 12)]],
  ])('decodes %s', (_, fields) => {
    expect(decodeEventEntry(fields)).toEqual(message);
  });

  it('leaves d as its JSON text with parseData: false, still checking the other fields', () => {
    const fields = encodeEventEntry(message);
    expect(decodeEventEntry(fields, { parseData: false })).toEqual({
      ...message,
      d: JSON.stringify(message.d),
    });
    expect(() => decodeEventEntry(withField(fields, 's', 'x'), { parseData: false })).toThrow(/field "s"/);
  });

  it.each<[string, Partial<EventEntry>]>([
    ['a DM', { g: null }],
    ['null data', { d: null }],
    ['a string', { d: 'text' }],
    ['unicode', { d: { content: 'é 🎉 "quoted" \\ \n' } }],
    ['seq 0 on shard 0', { s: 0, seq: 0 }],
  ])('round-trips %s', (_, change) => {
    const event = { ...message, ...change };
    expect(decodeEventEntry(encodeEventEntry(event))).toEqual(event);
  });

  it.each([
    ['t', undefined, /field "t" is missing/],
    ['t', 'message_create', /field "t" must be an event name/],
    ['t', '', /field "t"/],
    ['s', undefined, /field "s" is missing/],
    ['s', 'abc', /field "s" must be a non-negative integer, got "abc"/],
    ['s', '-1', /field "s"/],
    ['s', '1.5', /field "s"/],
    ['s', '', /field "s"/],
    ['seq', '99999999999999999', /field "seq"/],
    ['seq', undefined, /field "seq" is missing/],
    ['sid', '', /field "sid" must not be empty/],
    ['sid', undefined, /field "sid" is missing/],
    ['g', 'guild', /field "g" must be a snowflake or empty, got "guild"/],
    ['g', undefined, /field "g" is missing/],
    ['ts', 'now', /field "ts"/],
    ['ts', undefined, /field "ts" is missing/],
    ['d', '{bad', /field "d" is not valid JSON/],
    ['d', '', /field "d" is not valid JSON/],
    ['d', undefined, /field "d" is missing/],
  ])('rejects field %s = %j', (field, value, messagePattern) => {
    for (const fields of [withField(wire, field, value), toRecord(withField(wire, field, value))]) {
      const error = decodeError(() => decodeEventEntry(fields));
      expect(error.field).toBe(field);
      expect(error.entry).toBe('event');
      expect(error.message).toMatch(/^invalid event entry: /);
      expect(error.message).toMatch(messagePattern);
    }
  });

  it('names the value-less last field of an odd list as missing', () => {
    expect(decodeError(() => decodeEventEntry(wire.slice(0, -1))).field).toBe('d');
  });

  it('shortens long bad values in the message', () => {
    const error = decodeError(() => decodeEventEntry(withField(wire, 's', '9'.repeat(500))));
    expect(error.message.length).toBeLessThan(200);
  });

  it.each([
    [{ s: 3, sid: 'abc', seq: 42 }, '3:abc:42'],
    [{ s: 0, sid: 'x', seq: 1 }, '0:x:1'],
  ])('the idempotency key of %j is %s', (event, expected) => {
    expect(idempotencyKey(event)).toBe(expected);
  });

  it('marks a possible replay with r = 1 and reads it back; an unmarked entry has no r', () => {
    const fields = encodeEventEntry({ ...message, r: true });
    expect(fields.slice(-2)).toEqual(['r', '1']);
    expect(decodeEventEntry(fields).r).toBe(true);
    expect(encodeEventEntry({ ...message, r: false })).toEqual(wire);
    expect('r' in decodeEventEntry(wire)).toBe(false);
    const error = decodeError(() => decodeEventEntry([...wire, 'r', 'yes']));
    expect(error.field).toBe('r');
    expect(error.message).toBe('invalid event entry: field "r" must be 1 or absent, got "yes"');
  });

  it('gives a replayed event the same idempotency key', () => {
    expect(idempotencyKey(decodeEventEntry(encodeEventEntry(message)))).toBe(idempotencyKey(message));
  });
});

describe('command entries', () => {
  const presence: CommandEntry = {
    op: GatewayCommandOp.UpdatePresence,
    d: { since: null, activities: [{ name: 'x', type: 3 }], status: 'online', afk: false },
    id: 'cmd-1',
    ts: 1_700_000_000_000,
  };
  const presenceWire = [
    'op',
    '3',
    'd',
    '{"since":null,"activities":[{"name":"x","type":3}],"status":"online","afk":false}',
    'id',
    'cmd-1',
    'ts',
    '1700000000000',
  ];

  it.each([
    ['UpdatePresence', GatewayOpcodes.PresenceUpdate, 3],
    ['VoiceStateUpdate', GatewayOpcodes.VoiceStateUpdate, 4],
    ['RequestGuildMembers', GatewayOpcodes.RequestGuildMembers, 8],
    ['RequestSoundboardSounds', GatewayOpcodes.RequestSoundboardSounds, 31],
  ] as const)('GatewayCommandOp.%s is the gateway opcode %i', (name, opcode, value) => {
    expect(GatewayCommandOp[name]).toBe(opcode);
    expect(GatewayCommandOp[name]).toBe(value);
  });

  it('has exactly the four command opcodes', () => {
    expect(Object.values(GatewayCommandOp).sort((a, b) => a - b)).toEqual([3, 4, 8, 31]);
  });

  it('encodes the fields of the contract, in order', () => {
    expect(encodeCommandEntry(presence)).toEqual(presenceWire);
  });

  it.each<[string, CommandEntry]>([
    ['presence', presence],
    [
      'voice',
      { op: 4, d: { guild_id: '1', channel_id: null, self_mute: false, self_deaf: true }, id: 'v', ts: 1 },
    ],
    ['members', { op: 8, d: { guild_id: '1', query: '', limit: 0 }, id: 'm', ts: 2 }],
    ['soundboard', { op: 31, d: { guild_ids: ['1', '2'] }, id: 's', ts: 3 }],
  ])('round-trips %s as a list and as an object', (_, command) => {
    const fields = encodeCommandEntry(command);
    expect(decodeCommandEntry(fields)).toEqual(command);
    expect(decodeCommandEntry(toRecord(fields))).toEqual(command);
  });

  it.each([
    ['op', undefined, /field "op" is missing/],
    ['op', '2', /field "op" must be one of 3, 4, 8, 31, got "2"/],
    ['op', '0', /field "op" must be one of/],
    ['op', 'x', /field "op" must be a non-negative integer/],
    ['d', undefined, /field "d" is missing/],
    ['d', '{', /field "d" is not valid JSON/],
    ['d', 'null', /field "d" must be a JSON object/],
    ['d', '[1]', /field "d" must be a JSON object/],
    ['d', '"text"', /field "d" must be a JSON object/],
    ['id', undefined, /field "id" is missing/],
    ['id', '', /field "id" must not be empty/],
    ['ts', undefined, /field "ts" is missing/],
    ['ts', '-5', /field "ts" must be a non-negative integer/],
  ])('rejects field %s = %j', (field, value, messagePattern) => {
    const error = decodeError(() => decodeCommandEntry(withField(presenceWire, field, value)));
    expect(error.field).toBe(field);
    expect(error.entry).toBe('command');
    expect(error.message).toMatch(/^invalid command entry: /);
    expect(error.message).toMatch(messagePattern);
  });

  it.each<[string, unknown, ErrorConstructor]>([
    ['an identify', { ...presence, op: 2 }, RangeError],
    ['a heartbeat', { ...presence, op: 1 }, RangeError],
    ['null data', { ...presence, d: null }, TypeError],
    ['array data', { ...presence, d: [] }, TypeError],
  ])('refuses to encode %s', (_, command, errorClass) => {
    expect(() => encodeCommandEntry(command as CommandEntry)).toThrow(errorClass);
  });
});
