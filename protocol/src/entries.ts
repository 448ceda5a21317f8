/**
 * The gateway opcodes a bot may send through a shard's command stream; every other opcode
 * (identify, resume, heartbeat) belongs to the shard alone.
 */
export const GatewayCommandOp = {
  /** op 3: `{since, activities, status, afk}`. */
  UpdatePresence: 3,
  /** op 4: `{guild_id, channel_id, self_mute, self_deaf}`. */
  VoiceStateUpdate: 4,
  /** op 8: `{guild_id, query?, limit, presences?, user_ids?, nonce?}`. */
  RequestGuildMembers: 8,
  /** op 31: `{guild_ids}`. */
  RequestSoundboardSounds: 31,
} as const;

/** One of the opcodes in {@link GatewayCommandOp}. */
export type GatewayCommandOp = (typeof GatewayCommandOp)[keyof typeof GatewayCommandOp];

/** An entry of the event stream `sf:{<bot>}:events`: one gateway dispatch. */
export interface EventEntry {
  /** The dispatch event name (`t`), such as `MESSAGE_CREATE`. */
  t: string;
  /** The shard that received the event. */
  s: number;
  /** The dispatch sequence number within the session. */
  seq: number;
  /** The gateway session id. */
  sid: string;
  /** The guild id, or `null` for DMs and guild-less events (an empty field on the wire). */
  g: string | null;
  /** When the shard received the event, in ms since the Unix epoch. */
  ts: number;
  /** The dispatch data. */
  d: unknown;
  /**
   * `true` when the stream may already hold an entry with this idempotency key: the shard got
   * the event while resuming (Discord replays what the session missed) or wrote it again after a
   * write whose outcome it could not know. Field `r` = `1` on the wire, absent otherwise. A
   * consumer needs to look for an earlier entry of the key only for these entries.
   */
  r?: boolean;
}

/** An {@link EventEntry} without its data, for {@link encodeEventEntryJson}. */
export type EventEntryMeta = Omit<EventEntry, 'd'>;

/** An entry of a shard's command stream `sf:{<bot>}:commands:<shard>`: one gateway command. */
export interface CommandEntry {
  /** The gateway opcode. */
  op: GatewayCommandOp;
  /** The command data, a JSON object sent to Discord as the payload's `d`. */
  d: Record<string, unknown>;
  /** An id chosen by the sender, to trace the command. */
  id: string;
  /** When the command was written, in ms since the Unix epoch. */
  ts: number;
}

/** Thrown when a stream entry read from Redis is malformed. */
export class EntryDecodeError extends Error {
  /** Which kind of entry was being decoded. */
  public readonly entry: 'event' | 'command';
  /** The name of the missing or malformed field. */
  public readonly field: string;

  public constructor(entry: 'event' | 'command', field: string, problem: string) {
    super(`invalid ${entry} entry: field "${field}" ${problem}`);
    this.name = 'EntryDecodeError';
    this.entry = entry;
    this.field = field;
  }
}

const NON_NEGATIVE_INTEGER_PATTERN = /^\d{1,16}$/;
const SNOWFLAKE_PATTERN = /^\d{1,20}$/;
/** A dispatch event name: `MESSAGE_CREATE`, `GUILD_MEMBERS_CHUNK`, ... */
export const DISPATCH_NAME_PATTERN = /^[A-Z][A-Z0-9_]*$/;
const MAX_SHOWN_VALUE = 64;

function show(value: string): string {
  return JSON.stringify(value.length > MAX_SHOWN_VALUE ? `${value.slice(0, MAX_SHOWN_VALUE)}...` : value);
}

function required(entry: 'event' | 'command', field: string, value: string | undefined): string {
  if (typeof value !== 'string') throw new EntryDecodeError(entry, field, 'is missing');
  return value;
}

function nonNegativeInteger(entry: 'event' | 'command', field: string, raw: string | undefined): number {
  const value = required(entry, field, raw);
  const parsed = NON_NEGATIVE_INTEGER_PATTERN.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(parsed)) {
    throw new EntryDecodeError(entry, field, `must be a non-negative integer, got ${show(value)}`);
  }
  return parsed;
}

function nonEmpty(entry: 'event' | 'command', field: string, raw: string | undefined): string {
  const value = required(entry, field, raw);
  if (value === '') throw new EntryDecodeError(entry, field, 'must not be empty');
  return value;
}

function json(entry: 'event' | 'command', field: string, raw: string | undefined): unknown {
  const value = required(entry, field, raw);
  try {
    return JSON.parse(value);
  } catch (error) {
    throw new EntryDecodeError(entry, field, `is not valid JSON (${(error as Error).message})`);
  }
}

/**
 * The idempotency key of an event: `<s>:<sid>:<seq>`. A resume replays the same keys, so a
 * consumer can drop duplicates with it.
 *
 * @param event - The event's shard, session id and sequence number.
 * @returns The key.
 */
export function idempotencyKey(event: Pick<EventEntry, 's' | 'sid' | 'seq'>): string {
  return `${event.s}:${event.sid}:${event.seq}`;
}

/**
 * Encodes an event as XADD fields, for a worker that already holds the dispatch data as JSON
 * text: the text is written as is, never parsed or stringified again. Does not validate.
 *
 * @param meta - Everything but the data.
 * @param dJson - The dispatch data as JSON text.
 * @returns `['t', t, 's', s, 'seq', seq, 'sid', sid, 'g', g ?? '', 'ts', ts, 'd', dJson]`, then
 *   `'r', '1'` for a possible replay.
 */
export function encodeEventEntryJson(meta: EventEntryMeta, dJson: string): string[] {
  const fields = [
    't',
    meta.t,
    's',
    String(meta.s),
    'seq',
    String(meta.seq),
    'sid',
    meta.sid,
    'g',
    meta.g ?? '',
    'ts',
    String(meta.ts),
    'd',
    dJson,
  ];
  if (meta.r === true) fields.push('r', '1');
  return fields;
}

/**
 * Encodes an event as XADD fields. Does not validate; `d: undefined` is written as `null`.
 *
 * @param event - The event.
 * @returns The flat field/value list, in the order `t, s, seq, sid, g, ts, d` (and `r` for a possible replay).
 */
export function encodeEventEntry(event: EventEntry): string[] {
  return encodeEventEntryJson(event, JSON.stringify(event.d) ?? 'null');
}

/** Options of {@link decodeEventEntry}. */
export interface DecodeEventEntryOptions {
  /**
   * Parse `d` from JSON. A consumer that handles entries later than it reads them can leave `d`
   * as its JSON text and parse it when it needs it, so the parsed data lives only that long.
   *
   * @defaultValue `true`
   */
  parseData?: boolean;
}

/**
 * Decodes and validates an event entry read from Redis. Unknown fields are ignored, so newer
 * writers may add some.
 *
 * @param fields - The entry's fields, as a flat `[field, value, ...]` list (ioredis) or an object (node-redis).
 * @param options - With `parseData: false`, `d` is the JSON text, unchecked.
 * @returns The event, with `d` parsed from JSON (unless `parseData` is false) and an empty `g` as `null`.
 * @throws {@link EntryDecodeError} naming the first missing or malformed field.
 */
export function decodeEventEntry(
  fields: readonly string[] | Readonly<Record<string, string>>,
  options: DecodeEventEntryOptions = {},
): EventEntry {
  let t: string | undefined;
  let s: string | undefined;
  let seq: string | undefined;
  let sid: string | undefined;
  let g: string | undefined;
  let ts: string | undefined;
  let d: string | undefined;
  let r: string | undefined;
  if (isFieldList(fields)) {
    for (let i = 0; i < fields.length; i += 2) {
      const value = fields[i + 1];
      switch (fields[i]) {
        case 't':
          t = value;
          break;
        case 's':
          s = value;
          break;
        case 'seq':
          seq = value;
          break;
        case 'sid':
          sid = value;
          break;
        case 'g':
          g = value;
          break;
        case 'ts':
          ts = value;
          break;
        case 'd':
          d = value;
          break;
        case 'r':
          r = value;
          break;
      }
    }
  } else {
    ({ t, s, seq, sid, g, ts, d, r } = fields);
  }

  const name = required('event', 't', t);
  if (!DISPATCH_NAME_PATTERN.test(name)) {
    throw new EntryDecodeError(
      'event',
      't',
      `must be an event name such as MESSAGE_CREATE, got ${show(name)}`,
    );
  }
  const shard = nonNegativeInteger('event', 's', s);
  const sequence = nonNegativeInteger('event', 'seq', seq);
  const session = nonEmpty('event', 'sid', sid);
  const guild = required('event', 'g', g);
  if (guild !== '' && !SNOWFLAKE_PATTERN.test(guild)) {
    throw new EntryDecodeError('event', 'g', `must be a snowflake or empty, got ${show(guild)}`);
  }
  const receivedAt = nonNegativeInteger('event', 'ts', ts);
  if (r !== undefined && r !== '1')
    throw new EntryDecodeError('event', 'r', `must be 1 or absent, got ${show(r)}`);
  const event: EventEntry = {
    t: name,
    s: shard,
    seq: sequence,
    sid: session,
    g: guild === '' ? null : guild,
    ts: receivedAt,
    d: options.parseData === false ? required('event', 'd', d) : json('event', 'd', d),
  };
  if (r === '1') event.r = true;
  return event;
}

function isFieldList(
  fields: readonly string[] | Readonly<Record<string, string>>,
): fields is readonly string[] {
  return Array.isArray(fields);
}

function isCommandOp(op: number): op is GatewayCommandOp {
  return op === 3 || op === 4 || op === 8 || op === 31;
}

function isJsonObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Encodes a gateway command as XADD fields.
 *
 * @param command - The command.
 * @returns `['op', op, 'd', JSON, 'id', id, 'ts', ts]`.
 * @throws RangeError if `op` is not a {@link GatewayCommandOp}, TypeError if `d` is not an object.
 */
export function encodeCommandEntry(command: CommandEntry): string[] {
  if (!isCommandOp(command.op)) {
    throw new RangeError(`op must be one of 3, 4, 8, 31, got ${command.op}`);
  }
  if (!isJsonObject(command.d)) throw new TypeError('d must be a JSON object');
  return [
    'op',
    String(command.op),
    'd',
    JSON.stringify(command.d),
    'id',
    command.id,
    'ts',
    String(command.ts),
  ];
}

/**
 * Decodes and validates a command entry read from Redis. Unknown fields are ignored.
 *
 * @param fields - The entry's fields, as a flat `[field, value, ...]` list or an object.
 * @returns The command, with `d` parsed from JSON.
 * @throws {@link EntryDecodeError} naming the first missing or malformed field.
 */
export function decodeCommandEntry(
  fields: readonly string[] | Readonly<Record<string, string>>,
): CommandEntry {
  let op: string | undefined;
  let d: string | undefined;
  let id: string | undefined;
  let ts: string | undefined;
  if (isFieldList(fields)) {
    for (let i = 0; i < fields.length; i += 2) {
      const value = fields[i + 1];
      switch (fields[i]) {
        case 'op':
          op = value;
          break;
        case 'd':
          d = value;
          break;
        case 'id':
          id = value;
          break;
        case 'ts':
          ts = value;
          break;
      }
    }
  } else {
    ({ op, d, id, ts } = fields);
  }

  const opcode = nonNegativeInteger('command', 'op', op);
  if (!isCommandOp(opcode)) {
    throw new EntryDecodeError('command', 'op', `must be one of 3, 4, 8, 31, got ${show(String(op))}`);
  }
  const data = json('command', 'd', d);
  if (!isJsonObject(data)) throw new EntryDecodeError('command', 'd', 'must be a JSON object');
  const commandId = nonEmpty('command', 'id', id);
  return { op: opcode, d: data, id: commandId, ts: nonNegativeInteger('command', 'ts', ts) };
}
