import { FormErrors } from './DiscordHttpError.js';
import { isObject, type Json, type MessageBody, parseMessageBody } from './messageBody.js';

const SNOWFLAKE = /^\d{1,20}$/;

/** GET /channels/{id}/messages query: `limit` 1-100 (default 50), `before` and `after` snowflakes. */
export function parseHistoryQuery(query: unknown): { limit: number; before?: string; after?: string } {
  const errors = new FormErrors();
  const fields = isObject(query) ? query : {};
  let limit = 50;
  if (fields.limit !== undefined) {
    limit = Number(fields.limit);
    if (!Number.isInteger(limit))
      errors.add(['limit'], 'NUMBER_TYPE_COERCE', `Value "${String(fields.limit)}" is not int.`);
    else if (limit < 1)
      errors.add(['limit'], 'NUMBER_TYPE_MIN', 'int value should be greater than or equal to 1.');
    else if (limit > 100)
      errors.add(['limit'], 'NUMBER_TYPE_MAX', 'int value should be less than or equal to 100.');
  }
  const snowflake = (key: 'before' | 'after'): string | undefined => {
    const value = fields[key];
    if (value === undefined) return undefined;
    if (typeof value === 'string' && SNOWFLAKE.test(value)) return value;
    errors.add([key], 'NUMBER_TYPE_COERCE', `Value "${String(value)}" is not snowflake.`);
    return undefined;
  };
  const before = snowflake('before');
  const after = snowflake('after');
  errors.throwIfAny();
  return { limit, ...(before === undefined ? {} : { before }), ...(after === undefined ? {} : { after }) };
}

/** Interaction callback types Discord accepts. */
const CALLBACK_TYPES = [1, 4, 5, 6, 7, 8, 9, 10, 12] as const;
const CHANNEL_MESSAGE_WITH_SOURCE = 4;
/** Message flag of a response only the invoking user sees. */
const EPHEMERAL = 1 << 6;

/**
 * POST /interactions/{id}/{token}/callback body: `type` one of the callback types; for a type 4 response,
 * `data` is a message body validated like POST /channels/{id}/messages.
 */
export function parseInteractionCallback(
  body: unknown,
  files: number,
): { type: number; data: unknown; ephemeral: boolean } {
  const errors = new FormErrors();
  const fields = isObject(body) ? body : {};
  const type = fields.type;
  if (type === undefined || type === null) {
    errors.add(['type'], 'BASE_TYPE_REQUIRED', 'This field is required');
  } else if (!CALLBACK_TYPES.includes(type as (typeof CALLBACK_TYPES)[number])) {
    errors.add(['type'], 'BASE_TYPE_CHOICES', `Value must be one of {${CALLBACK_TYPES.join(', ')}}.`);
  }
  errors.throwIfAny();
  const ephemeral = isObject(fields.data) && (Number(fields.data.flags) & EPHEMERAL) !== 0;
  if (type !== CHANNEL_MESSAGE_WITH_SOURCE) return { type: type as number, data: fields.data, ephemeral };
  const message: MessageBody = parseMessageBody(fields.data ?? {}, files, ['data']);
  return {
    type,
    data: { content: message.content, embeds: message.embeds, components: message.components },
    ephemeral,
  };
}

/** Command types: CHAT_INPUT 1, USER 2, MESSAGE 3, PRIMARY_ENTRY_POINT 4. */
const COMMAND_TYPES = [1, 2, 3, 4] as const;
const CHAT_INPUT = 1;
const CHAT_INPUT_NAME = /^[-_'\p{L}\p{N}\p{sc=Deva}\p{sc=Thai}]{1,32}$/u;
const MAX_COMMANDS = 100;
/** Fields of a command the simulator keeps besides name, description and type. */
const KEPT_COMMAND_FIELDS = [
  'options',
  'default_member_permissions',
  'dm_permission',
  'contexts',
  'integration_types',
  'nsfw',
  'name_localizations',
  'description_localizations',
] as const;

export interface CommandInput {
  name: string;
  description: string;
  type: number;
  default_member_permissions: string | null;
  [field: string]: unknown;
}

/** PUT /applications/{id}/commands body: a list of commands, validated as Discord validates them. */
export function parseApplicationCommands(body: unknown): CommandInput[] {
  const errors = new FormErrors();
  if (!Array.isArray(body)) {
    errors.add([], 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
    errors.throwIfAny();
  }
  const list = body as unknown[];
  if (list.length > MAX_COMMANDS)
    errors.add([], 'BASE_TYPE_MAX_LENGTH', `Must be ${MAX_COMMANDS} or fewer in length.`);
  const seen = new Set<string>();
  const commands = list.map((item, index): CommandInput => {
    const command = isObject(item) ? item : {};
    if (!isObject(item))
      errors.add([index], 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    const type = command.type ?? CHAT_INPUT;
    if (!COMMAND_TYPES.includes(type as (typeof COMMAND_TYPES)[number])) {
      errors.add([index, 'type'], 'BASE_TYPE_CHOICES', `Value must be one of {${COMMAND_TYPES.join(', ')}}.`);
    }
    const name = typeof command.name === 'string' ? command.name : '';
    if (command.name === undefined)
      errors.add([index, 'name'], 'BASE_TYPE_REQUIRED', 'This field is required');
    else if (name.length < 1 || name.length > 32)
      errors.add([index, 'name'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 32 in length.');
    else if (type === CHAT_INPUT && (!CHAT_INPUT_NAME.test(name) || name !== name.toLowerCase())) {
      errors.add([index, 'name'], 'APPLICATION_COMMAND_INVALID_NAME', 'Command name is invalid');
    }
    const description = typeof command.description === 'string' ? command.description : '';
    if (type === CHAT_INPUT && (description.length < 1 || description.length > 100)) {
      errors.add([index, 'description'], 'BASE_TYPE_BAD_LENGTH', 'Must be between 1 and 100 in length.');
    } else if (type !== CHAT_INPUT && description !== '') {
      errors.add(
        [index, 'description'],
        'APPLICATION_COMMAND_DESCRIPTION_NOT_EMPTY',
        'Description must be empty',
      );
    }
    const key = `${String(type)}:${name}`;
    if (seen.has(key))
      errors.add([], 'APPLICATION_COMMANDS_DUPLICATE_NAME', 'Application command names must be unique');
    seen.add(key);
    const kept: Json = {};
    for (const field of KEPT_COMMAND_FIELDS) if (command[field] !== undefined) kept[field] = command[field];
    const permissions = command.default_member_permissions;
    return {
      ...kept,
      name,
      description,
      type: type as number,
      default_member_permissions: typeof permissions === 'string' ? permissions : null,
    };
  });
  errors.throwIfAny();
  return commands;
}
