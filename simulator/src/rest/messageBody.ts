import { DiscordHttpError, FormErrors } from './DiscordHttpError.js';

/** Discord's limits on a message body. */
export const MessageLimits = {
  content: 2_000,
  embeds: 10,
  embedTitle: 256,
  embedDescription: 4_096,
  embedFields: 25,
  embedFieldName: 256,
  embedFieldValue: 1_024,
  embedFooterText: 2_048,
  embedAuthorName: 256,
  /** Characters of all titles, descriptions, field names and values, footers and authors of a message. */
  embedTotal: 6_000,
  nonce: 25,
  stickers: 3,
  /** Files per message. */
  files: 10,
  /** Bytes per file (what `attachment_size_limit` reports for a guild without boosts). */
  fileBytes: 10 * 1_024 * 1_024,
} as const;

/** Attachment metadata a body may give for an uploaded file (`attachments: [{id, filename, description}]`). */
export interface AttachmentMetadata {
  id: number;
  filename?: string;
  description?: string;
}

/** The fields of a valid message body that the simulator keeps. */
export interface MessageBody {
  content: string;
  embeds: unknown[];
  components: unknown[];
  nonce?: string | number;
  messageReference?: unknown;
  attachments: AttachmentMetadata[];
}

export type Json = Record<string, unknown>;

/** A JSON object (not an array, not null). */
export function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function maxLength(errors: FormErrors, path: readonly (string | number)[], value: string, max: number): void {
  if (value.length > max) errors.add(path, 'BASE_TYPE_MAX_LENGTH', `Must be ${max} or fewer in length.`);
}

/** A string field, or undefined (after recording the error) when it is something else. */
function stringField(
  errors: FormErrors,
  path: readonly (string | number)[],
  value: unknown,
): string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'string') return value;
  errors.add(path, 'STRING_TYPE_CONVERT', `Could not interpret "${JSON.stringify(value)}" as string.`);
  return undefined;
}

function listField(errors: FormErrors, path: readonly (string | number)[], value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  errors.add(path, 'LIST_TYPE_CONVERT', 'Only iterables may be used in a ListType');
  return [];
}

/** Validates one embed; returns its characters towards the 6000 total. */
function embedSize(errors: FormErrors, path: readonly (string | number)[], embed: unknown): number {
  if (!isObject(embed)) {
    errors.add(path, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    return 0;
  }
  let size = 0;
  const text = (key: string, value: unknown, max: number, at = [...path, key]) => {
    const string = stringField(errors, at, value);
    if (string === undefined) return;
    maxLength(errors, at, string, max);
    size += string.length;
  };
  text('title', embed.title, MessageLimits.embedTitle);
  text('description', embed.description, MessageLimits.embedDescription);
  if (isObject(embed.footer))
    text('text', embed.footer.text, MessageLimits.embedFooterText, [...path, 'footer', 'text']);
  if (isObject(embed.author))
    text('name', embed.author.name, MessageLimits.embedAuthorName, [...path, 'author', 'name']);
  const fields = listField(errors, [...path, 'fields'], embed.fields);
  if (fields.length > MessageLimits.embedFields) {
    errors.add(
      [...path, 'fields'],
      'BASE_TYPE_MAX_LENGTH',
      `Must be ${MessageLimits.embedFields} or fewer in length.`,
    );
  }
  fields.forEach((field, index) => {
    const at = [...path, 'fields', index];
    if (!isObject(field)) {
      errors.add(at, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
      return;
    }
    for (const [key, max] of [
      ['name', MessageLimits.embedFieldName],
      ['value', MessageLimits.embedFieldValue],
    ] as const) {
      if (field[key] === undefined || field[key] === null)
        errors.add([...at, key], 'BASE_TYPE_REQUIRED', 'This field is required');
      else text(key, field[key], max, [...at, key]);
    }
  });
  return size;
}

function attachmentMetadata(
  errors: FormErrors,
  path: readonly string[],
  value: unknown,
): AttachmentMetadata[] {
  return listField(errors, [...path, 'attachments'], value).flatMap((item, index) => {
    const at = [...path, 'attachments', index];
    const id = isObject(item) ? Number(item.id) : Number.NaN;
    if (!isObject(item) || !Number.isInteger(id)) {
      errors.add([...at, 'id'], 'BASE_TYPE_REQUIRED', 'This field is required');
      return [];
    }
    const filename = stringField(errors, [...at, 'filename'], item.filename);
    const description = stringField(errors, [...at, 'description'], item.description);
    return [
      {
        id,
        ...(filename === undefined ? {} : { filename }),
        ...(description === undefined ? {} : { description }),
      },
    ];
  });
}

/**
 * Validates a message body as POST /channels/{id}/messages (or an interaction response's `data`, with
 * `path` ['data']) does: 400 with code 50035 naming each bad field, or 50006 when there is nothing to send.
 * `files` is how many files came with the body.
 */
export function parseMessageBody(body: unknown, files: number, path: readonly string[] = []): MessageBody {
  const errors = new FormErrors();
  if (!isObject(body)) {
    errors.add(path, 'MODEL_TYPE_CONVERT', 'Only dictionaries may be used in a ModelType');
    errors.throwIfAny();
  }
  const fields = body as Json;
  const content = stringField(errors, [...path, 'content'], fields.content) ?? '';
  maxLength(errors, [...path, 'content'], content, MessageLimits.content);

  const embeds = listField(errors, [...path, 'embeds'], fields.embeds);
  if (embeds.length > MessageLimits.embeds) {
    errors.add(
      [...path, 'embeds'],
      'BASE_TYPE_MAX_LENGTH',
      `Must be ${MessageLimits.embeds} or fewer in length.`,
    );
  }
  const embedChars = embeds.reduce<number>(
    (total, embed, index) => total + embedSize(errors, [...path, 'embeds', index], embed),
    0,
  );
  if (embedChars > MessageLimits.embedTotal) {
    errors.add(
      [...path, 'embeds'],
      'MAX_EMBED_SIZE_EXCEEDED',
      `Embed size exceeds maximum size of ${MessageLimits.embedTotal}`,
    );
  }

  const nonce = fields.nonce;
  if (nonce !== undefined && nonce !== null) {
    if (typeof nonce === 'string') maxLength(errors, [...path, 'nonce'], nonce, MessageLimits.nonce);
    else if (!Number.isSafeInteger(nonce))
      errors.add([...path, 'nonce'], 'NONCE_TYPE_INVALID', 'Nonce must be an integer or a string.');
  }
  const components = listField(errors, [...path, 'components'], fields.components);
  const stickers = listField(errors, [...path, 'sticker_ids'], fields.sticker_ids);
  if (stickers.length > MessageLimits.stickers) {
    errors.add(
      [...path, 'sticker_ids'],
      'BASE_TYPE_MAX_LENGTH',
      `Must be ${MessageLimits.stickers} or fewer in length.`,
    );
  }
  const attachments = attachmentMetadata(errors, path, fields.attachments);
  if (
    fields.message_reference !== undefined &&
    fields.message_reference !== null &&
    !isObject(fields.message_reference)
  ) {
    errors.add(
      [...path, 'message_reference'],
      'MODEL_TYPE_CONVERT',
      'Only dictionaries may be used in a ModelType',
    );
  }
  errors.throwIfAny();

  const hasPoll = isObject(fields.poll);
  if (
    content.trim() === '' &&
    embeds.length === 0 &&
    files === 0 &&
    stickers.length === 0 &&
    components.length === 0 &&
    !hasPoll
  ) {
    throw DiscordHttpError.emptyMessage();
  }
  return {
    content,
    embeds,
    components,
    attachments,
    ...(typeof nonce === 'string' || typeof nonce === 'number' ? { nonce } : {}),
    ...(isObject(fields.message_reference) ? { messageReference: fields.message_reference } : {}),
  };
}
