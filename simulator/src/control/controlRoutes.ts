import type { FastifyPluginAsync } from 'fastify';
import { z } from 'zod';
import type { GatewayConnection } from '../gateway/GatewayConnection.js';
import type { TrafficGenerator } from '../gateway/TrafficGenerator.js';
import type { RestRateLimiter } from '../rest/RestRateLimiter.js';
import type { Messaging } from '../world/Messaging.js';
import { MessagingError } from '../world/Messaging.js';
import { channelObject } from '../world/payloads.js';
import type { SimulatedDiscord } from '../world/SimulatedDiscord.js';
import { parseOr400 } from './validation.js';

export interface ControlRoutesOptions {
  discord: SimulatedDiscord;
  messaging: Messaging;
  rateLimiter: RestRateLimiter;
  traffic: TrafficGenerator;
}

const shardId = z.coerce.number().int().min(0);
const snowflake = z.string().regex(/^\d{1,20}$/, 'expected a snowflake (a string of digits)');
const booleanQuery = z.enum(['true', 'false']).transform((value) => value === 'true');

const schemas = {
  ledgerQuery: z.object({
    shard: shardId.optional(),
    session: z.string().optional(),
    t: z.string().optional(),
    delivered: booleanQuery.optional(),
  }),
  dispatch: z.object({
    t: z.string().regex(/^[A-Z][A-Z0-9_]*$/, 'expected an event name such as MESSAGE_CREATE'),
    d: z.unknown(),
    guild_id: snowflake.optional(),
    shard: z.number().int().min(0).optional(),
  }),
  disconnect: z.object({
    shard: z.number().int().min(0),
    code: z.number().int().min(1000).max(4999).default(4000),
  }),
  shard: z.object({ shard: z.number().int().min(0) }),
  invalidate: z.object({ shard: z.number().int().min(0), resumable: z.boolean() }),
  zombie: z.object({ shard: z.number().int().min(0), enabled: z.boolean().default(true) }),
  guildCount: z.object({ count: z.number().int().min(0).max(10_000_000) }),
  messagesQuery: z.object({ channel_id: snowflake }),
  memberMessage: z.object({
    channel_id: snowflake,
    content: z.string().min(1).max(4_000),
    member: z.number().int().min(0).default(1),
  }),
  interaction: z.object({
    channel_id: snowflake,
    name: z.string().min(1).max(32),
    options: z.array(z.unknown()).optional(),
    member: z.number().int().min(0).default(1),
  }),
  guildsQuery: z.object({
    shard: shardId.optional(),
    shard_count: z.coerce.number().int().min(1).optional(),
    limit: z.coerce.number().int().min(1).optional(),
  }),
  commandsQuery: z.object({ shard: shardId.optional(), op: z.coerce.number().int().optional() }),
  traffic: z.object({ rate: z.number().min(0).max(1_000_000) }),
};

/** The `/_sim` control API: what tests and people use to drive and inspect the simulated Discord. */
export const controlRoutes: FastifyPluginAsync<ControlRoutesOptions> = async (
  app,
  { discord, messaging, rateLimiter, traffic },
) => {
  const liveConnections = (shard: number) =>
    discord.connectionsOfShard(shard).map(({ connection }) => connection as GatewayConnection);

  app.setErrorHandler((error, _request, reply) => {
    if (error instanceof MessagingError)
      return reply.code(error.status).send({ error: error.message, code: error.code });
    const { statusCode, message } = error as { statusCode?: number; message: string };
    return reply.code(statusCode ?? 500).send({ error: message });
  });

  app.get('/stats', async () => ({
    ...discord.summary(),
    traffic: { rate: traffic.eventsPerSecond, generated: traffic.generated },
    rest: rateLimiter.stats(),
  }));

  app.get('/ledger', async (request, reply) => {
    const query = parseOr400(schemas.ledgerQuery, request.query, reply);
    if (!query) return reply;
    return discord.ledger.query(query);
  });

  app.post('/dispatch', async (request, reply) => {
    const body = parseOr400(schemas.dispatch, request.body, reply);
    if (!body) return reply;
    const data = (typeof body.d === 'object' && body.d !== null ? body.d : {}) as {
      id?: unknown;
      guild_id?: unknown;
    };
    // Without an explicit target the event goes where Discord would send it: its own guild_id's shard.
    const ownGuildId = data.guild_id === undefined || data.guild_id === null ? null : String(data.guild_id);
    if (ownGuildId !== null && !snowflake.safeParse(ownGuildId).success) {
      return reply.code(400).send({ error: 'd.guild_id: expected a snowflake (a string of digits)' });
    }
    const guildId = body.guild_id ?? ownGuildId;
    const target = body.shard === undefined ? { guildId } : { shard: body.shard };
    return discord.dispatch(body.t, body.d ?? null, target, data.id === undefined ? null : String(data.id));
  });

  app.post('/disconnect', async (request, reply) => {
    const body = parseOr400(schemas.disconnect, request.body, reply);
    if (!body) return reply;
    const connections = liveConnections(body.shard);
    if (connections.length === 0)
      return reply.code(409).send({ error: `shard: ${body.shard} has no open connection` });
    for (const connection of connections) connection.close(body.code, 'Closed by the simulator control API.');
    return { closed: connections.length };
  });

  const perConnection = (
    path: string,
    schema: z.ZodType<{ shard: number }>,
    act: (c: GatewayConnection, body: never) => void,
  ) =>
    app.post(path, async (request, reply) => {
      const body = parseOr400(schema, request.body, reply);
      if (!body) return reply;
      const connections = liveConnections(body.shard);
      if (connections.length === 0)
        return reply.code(409).send({ error: `shard: ${body.shard} has no open connection` });
      for (const connection of connections) act(connection, body as never);
      return { connections: connections.length };
    });
  perConnection('/reconnect', schemas.shard, (connection) => connection.sendReconnect());
  perConnection('/heartbeat', schemas.shard, (connection) => connection.requestHeartbeat());
  perConnection('/invalidate', schemas.invalidate, (connection, body: z.output<typeof schemas.invalidate>) =>
    connection.invalidateSession(body.resumable),
  );
  perConnection('/zombie', schemas.zombie, (connection, body: z.output<typeof schemas.zombie>) => {
    connection.ackHeartbeats = !body.enabled;
  });

  app.post('/guilds', async (request, reply) => {
    const body = parseOr400(schemas.guildCount, request.body, reply);
    if (!body) return reply;
    discord.setGuildCount(body.count);
    return {
      count: discord.population.size,
      recommendedShards: discord.population.recommendedShards(discord.options.maxConcurrency),
    };
  });

  app.get('/guilds', async (request, reply) => {
    const query = parseOr400(schemas.guildsQuery, request.query, reply);
    if (!query) return reply;
    const population = discord.population;
    let indexes: number[];
    if (query.shard === undefined) {
      indexes = Array.from({ length: population.size }, (_, index) => index);
    } else {
      const shardCount = query.shard_count ?? population.recommendedShards(discord.options.maxConcurrency);
      if (query.shard >= shardCount)
        return reply.code(400).send({ error: `shard: must be below shard_count (${shardCount})` });
      indexes = population.partition(shardCount)[query.shard] ?? [];
    }
    return indexes.slice(0, query.limit ?? indexes.length).map((index) => population.idAt(index));
  });

  app.get<{ Params: { id: string } }>('/guilds/:id', async (request, reply) => {
    const index = discord.population.indexOf(request.params.id);
    if (index === undefined) return reply.code(404).send({ error: `id: no guild ${request.params.id}` });
    const guild = discord.population.guild(index);
    return {
      id: guild.id,
      name: guild.name,
      owner_id: guild.ownerId,
      member_count: guild.memberCount,
      channels: guild.channels.map(channelObject),
    };
  });

  app.get('/messages', async (request, reply) => {
    const query = parseOr400(schemas.messagesQuery, request.query, reply);
    if (!query) return reply;
    return messaging.messages(query.channel_id, { viaRest: true });
  });

  app.post('/messages', async (request, reply) => {
    const body = parseOr400(schemas.memberMessage, request.body, reply);
    if (!body) return reply;
    const { message, shard, seq } = messaging.createMemberMessage(body.channel_id, body.content, body.member);
    return { id: message.id, author_id: message.author.id, shard, seq };
  });

  app.post('/interactions', async (request, reply) => {
    const body = parseOr400(schemas.interaction, request.body, reply);
    if (!body) return reply;
    const { interaction, shard, seq } = messaging.createInteraction({
      channelId: body.channel_id,
      name: body.name,
      memberIndex: body.member,
      ...(body.options ? { options: body.options } : {}),
    });
    return { id: interaction.id, token: interaction.token, shard, seq };
  });

  app.get<{ Params: { id: string } }>('/interactions/:id', async (request, reply) => {
    const interaction = messaging.interaction(request.params.id);
    if (!interaction) return reply.code(404).send({ error: `id: no interaction ${request.params.id}` });
    return interaction;
  });

  app.get('/commands', async (request, reply) => {
    const query = parseOr400(schemas.commandsQuery, request.query, reply);
    if (!query) return reply;
    return discord.commands.filter(
      (command) =>
        (query.shard === undefined || command.shard === query.shard) &&
        (query.op === undefined || command.op === query.op),
    );
  });

  app.post('/traffic', async (request, reply) => {
    const body = parseOr400(schemas.traffic, request.body, reply);
    if (!body) return reply;
    traffic.setRate(body.rate);
    return { rate: traffic.eventsPerSecond };
  });

  app.post('/reset', async () => {
    discord.reset();
    messaging.reset();
    rateLimiter.reset();
    traffic.setRate(discord.options.eventRate);
    return { ok: true };
  });
};
