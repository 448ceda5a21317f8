import { createHash } from 'node:crypto';
import multipart from '@fastify/multipart';
import type {
  FastifyError,
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  onRequestHookHandler,
} from 'fastify';
import { type Messaging, MessagingError } from '../world/Messaging.js';
import { applicationObject, botUserObject } from '../world/payloads.js';
import type { SimulatedDiscord } from '../world/SimulatedDiscord.js';
import { DiscordHttpError, FormErrors } from './DiscordHttpError.js';
import { type AttachmentMetadata, MessageLimits, parseMessageBody } from './messageBody.js';
import type { BucketSnapshot, RateLimitScope, RestRateLimiter } from './RestRateLimiter.js';
import { readMessageRequest, type UploadedFile } from './readMessageRequest.js';
import { parseApplicationCommands, parseHistoryQuery, parseInteractionCallback } from './requestParsers.js';
import { RestRouteTable, type RestRouteTemplate } from './restRouteTable.js';

export interface RestRoutesOptions {
  discord: SimulatedDiscord;
  messaging: Messaging;
  rateLimiter: RestRateLimiter;
}

/** Routes Discord serves without a bot token. */
const PUBLIC_ROUTES: ReadonlySet<RestRouteTemplate> = new Set([
  'GET /gateway',
  'POST /interactions/{interaction_id}/{interaction_token}/callback',
  'POST /webhooks/{application_id}/{interaction_token}',
  'GET /webhooks/{application_id}/{interaction_token}/messages/@original',
  'PATCH /webhooks/{application_id}/{interaction_token}/messages/@original',
]);

const UNAUTHORIZED = { message: '401: Unauthorized', code: 0 };
const NOT_FOUND = { message: '404: Not Found', code: 0 };
/** Interaction type of the interactions the simulator creates (APPLICATION_COMMAND). */
const APPLICATION_COMMAND = 2;

type Params = Record<string, string>;

function writeBucketHeaders(reply: FastifyReply, bucket: BucketSnapshot, now: number): void {
  reply
    .header('x-ratelimit-limit', String(bucket.limit))
    .header('x-ratelimit-remaining', String(bucket.remaining))
    .header('x-ratelimit-reset', (bucket.resetAt / 1_000).toFixed(3))
    .header('x-ratelimit-reset-after', (Math.max(0, bucket.resetAt - now) / 1_000).toFixed(3))
    .header('x-ratelimit-bucket', bucket.hash);
}

function sendRateLimited(reply: FastifyReply, scope: RateLimitScope, retryAfterMs: number): void {
  reply
    .code(429)
    .header('retry-after', String(Math.ceil(retryAfterMs / 1_000)))
    .header('x-ratelimit-scope', scope);
  if (scope === 'global') reply.header('x-ratelimit-global', 'true');
  void reply.send({
    message: scope === 'shared' ? 'The resource is being rate limited.' : 'You are being rate limited.',
    retry_after: Math.round(retryAfterMs) / 1_000,
    global: scope === 'global',
  });
}

/** Cloudflare's answer once an IP made too many invalid requests: an HTML 429 without any JSON. */
function sendBanned(reply: FastifyReply, retryAfterMs: number): void {
  void reply
    .code(429)
    .header('retry-after', String(Math.ceil(retryAfterMs / 1_000)))
    .type('text/html')
    .send('error code: 1015');
}

function attachmentObject(
  file: UploadedFile,
  metadata: AttachmentMetadata | undefined,
  channelId: string,
  id: string,
) {
  const filename = metadata?.filename ?? file.filename;
  const path = `attachments/${channelId}/${id}/${encodeURIComponent(filename)}`;
  return {
    id,
    filename,
    ...(metadata?.description === undefined ? {} : { description: metadata.description }),
    content_type: file.contentType,
    size: file.data.length,
    url: `https://cdn.discordapp.com/${path}`,
    proxy_url: `https://media.discordapp.net/${path}`,
    /** Not a Discord field: lets a test prove the upload arrived intact. */
    sha256: createHash('sha256').update(file.data).digest('hex'),
  };
}

/** The answer Discord gives for a failed request, or undefined for a server error. */
function asDiscordError(error: FastifyError): DiscordHttpError | undefined {
  if (error instanceof DiscordHttpError) return error;
  if (error instanceof MessagingError) {
    return new DiscordHttpError(error.status, { message: error.message, code: error.code });
  }
  switch (error.code) {
    case 'FST_ERR_CTP_INVALID_JSON_BODY':
    case 'FST_ERR_CTP_EMPTY_JSON_BODY':
      return DiscordHttpError.invalidJson();
    case 'FST_REQ_FILE_TOO_LARGE':
    case 'FST_ERR_CTP_BODY_TOO_LARGE':
      return DiscordHttpError.tooLarge();
    case 'FST_FILES_LIMIT': {
      const errors = new FormErrors();
      errors.add(['files'], 'BASE_TYPE_MAX_LENGTH', `Must be ${MessageLimits.files} or fewer in length.`);
      return errors.toError();
    }
  }
  const status = error.statusCode;
  if (status === undefined || status < 400 || status >= 500) return undefined;
  return new DiscordHttpError(status, { message: `${status}: ${error.message}`, code: 0 });
}

/**
 * The Discord REST API subset under `/api/v10`: gateway discovery, the bot's user and application,
 * channel messages (JSON or multipart with files), interaction callbacks and application commands, each
 * behind Discord's authentication, rate limits and error shapes.
 */
export const restRoutes: FastifyPluginAsync<RestRoutesOptions> = async (
  app,
  { discord, messaging, rateLimiter },
) => {
  await app.register(multipart, {
    limits: { files: MessageLimits.files, fileSize: MessageLimits.fileBytes },
  });

  const isAuthorized = (header: string | undefined): boolean => {
    const token = header?.startsWith('Bot ') ? header.slice(4) : undefined;
    return token !== undefined && discord.isValidToken(token);
  };

  /** Ban, authentication and rate limits, in Discord's order, before a route's handler runs. */
  const gate = (template: RestRouteTemplate): onRequestHookHandler => {
    const { major } = RestRouteTable[template];
    const needsAuth = !PUBLIC_ROUTES.has(template);
    return (request, reply, done) => {
      const now = Date.now();
      const bannedForMs = rateLimiter.arrive(template, now);
      if (bannedForMs > 0) return sendBanned(reply, bannedForMs);
      if (needsAuth && !isAuthorized(request.headers.authorization)) {
        rateLimiter.recordInvalid(now);
        return void reply.code(401).send(UNAUTHORIZED);
      }
      const params = request.params as Params;
      const key = major.length === 0 ? '' : major.map((name) => params[name]).join(':');
      const decision = rateLimiter.acquire(template, key, now);
      writeBucketHeaders(reply, decision.bucket, now);
      if (decision.limited) return sendRateLimited(reply, decision.scope, decision.retryAfterMs);
      done();
    };
  };

  const route = (
    template: RestRouteTemplate,
    handler: (request: FastifyRequest, reply: FastifyReply) => Promise<unknown>,
  ): void => {
    const [method, path] = template.split(' ') as [string, string];
    app.route({ method, url: path.replace(/\{(\w+)\}/g, ':$1'), onRequest: gate(template), handler });
  };

  app.setNotFoundHandler((_request, reply) => {
    const bannedForMs = rateLimiter.arrive(null);
    if (bannedForMs > 0) return sendBanned(reply, bannedForMs);
    return reply.code(404).send(NOT_FOUND);
  });

  app.setErrorHandler((error: FastifyError, request, reply) => {
    let answer = asDiscordError(error);
    if (!answer) {
      request.log.error({ err: error }, 'REST route failed');
      answer = new DiscordHttpError(500, { message: '500: Internal Server Error', code: 0 });
    }
    if (answer.status === 401 || answer.status === 403) rateLimiter.recordInvalid();
    return reply.code(answer.status).send(answer.body);
  });

  route('GET /gateway', async () => ({ url: discord.gatewayUrl }));
  route('GET /gateway/bot', async () => discord.gatewayBot());
  route('GET /users/@me', async () => botUserObject(discord.bot));
  route('GET /oauth2/applications/@me', async () => applicationObject(discord.bot));
  route('GET /applications/@me', async () => applicationObject(discord.bot));

  /** A message body (JSON, or multipart with files) with its attachments stored under `scope`. */
  const readOutgoingMessage = async (request: FastifyRequest, scope: string) => {
    const { body, files } = await readMessageRequest(request);
    const message = parseMessageBody(body, files.length);
    const metadataById = new Map(message.attachments.map((metadata) => [metadata.id, metadata]));
    return {
      content: message.content,
      embeds: message.embeds,
      components: message.components,
      attachments: files.map((file) =>
        attachmentObject(file, metadataById.get(file.id), scope, messaging.nextId()),
      ),
      ...(message.nonce === undefined ? {} : { nonce: message.nonce }),
      ...(message.messageReference === undefined ? {} : { messageReference: message.messageReference }),
    };
  };

  route('POST /channels/{channel_id}/messages', async (request) => {
    const { channel_id: channelId } = request.params as Params;
    return messaging.createBotMessage(
      channelId as string,
      await readOutgoingMessage(request, channelId as string),
    );
  });

  route('GET /channels/{channel_id}/messages', async (request) => {
    const { channel_id: channelId } = request.params as Params;
    return messaging.history(channelId as string, parseHistoryQuery(request.query));
  });

  route('POST /interactions/{interaction_id}/{interaction_token}/callback', async (request, reply) => {
    const { interaction_id: id, interaction_token: token } = request.params as Params;
    const { body, files } = await readMessageRequest(request);
    const { type, data, ephemeral } = parseInteractionCallback(body, files.length);
    const { message } = messaging.respondToInteraction(id as string, token as string, type, data);
    if ((request.query as Params).with_response !== 'true') return reply.code(204).send();
    return {
      interaction: {
        id,
        type: APPLICATION_COMMAND,
        ...(message
          ? {
              response_message_id: message.id,
              response_message_loading: false,
              response_message_ephemeral: ephemeral,
            }
          : {}),
      },
      resource: { type, ...(message ? { message } : {}) },
    };
  });

  route('POST /webhooks/{application_id}/{interaction_token}', async (request, reply) => {
    const { application_id: applicationId, interaction_token: token } = request.params as Params;
    const fields = await readOutgoingMessage(request, applicationId as string);
    const message = messaging.followUp(applicationId as string, token as string, fields);
    return (request.query as Params).wait === 'true' ? message : reply.code(204).send();
  });

  route('GET /webhooks/{application_id}/{interaction_token}/messages/@original', async (request) => {
    const { application_id: applicationId, interaction_token: token } = request.params as Params;
    return messaging.originalResponse(applicationId as string, token as string);
  });

  route('PATCH /webhooks/{application_id}/{interaction_token}/messages/@original', async (request) => {
    const { application_id: applicationId, interaction_token: token } = request.params as Params;
    const fields = await readOutgoingMessage(request, applicationId as string);
    return messaging.editOriginalResponse(applicationId as string, token as string, fields);
  });

  route('PUT /applications/{application_id}/commands', async (request) => {
    const { application_id: applicationId } = request.params as Params;
    return messaging.putCommands(applicationId as string, parseApplicationCommands(request.body));
  });

  route('GET /applications/{application_id}/commands', async (request) => {
    const { application_id: applicationId } = request.params as Params;
    return messaging.listCommands(applicationId as string);
  });
};
