import type { FastifyRequest } from 'fastify';
import { DiscordHttpError } from './DiscordHttpError.js';

/** A file uploaded with a message: the `files[n]` part of a multipart body. */
export interface UploadedFile {
  /** `n` of `files[n]` (the part's position for other field names): the attachment id it answers to. */
  id: number;
  filename: string;
  contentType: string;
  data: Buffer;
}

const FILES_FIELD = /^files\[(\d+)\]$/;

/**
 * The JSON body of a request that may carry files: a plain JSON body, or multipart/form-data with the JSON
 * in `payload_json` (or as separate form fields) and the files in `files[n]` parts, as Discord accepts them.
 */
export async function readMessageRequest(
  request: FastifyRequest,
): Promise<{ body: unknown; files: UploadedFile[] }> {
  if (!request.isMultipart()) return { body: request.body ?? {}, files: [] };
  const files: UploadedFile[] = [];
  const fields: Record<string, unknown> = {};
  let payloadJson: string | undefined;
  for await (const part of request.parts()) {
    if (part.type === 'file') {
      const data = await part.toBuffer();
      const index = FILES_FIELD.exec(part.fieldname)?.[1];
      files.push({
        id: index === undefined ? files.length : Number(index),
        filename: part.filename,
        contentType: part.mimetype,
        data,
      });
    } else if (part.fieldname === 'payload_json') {
      payloadJson = String(part.value);
    } else {
      fields[part.fieldname] = part.value;
    }
  }
  if (payloadJson === undefined) return { body: fields, files };
  try {
    return { body: JSON.parse(payloadJson), files };
  } catch {
    throw DiscordHttpError.invalidJson();
  }
}
