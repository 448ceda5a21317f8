import { REST } from '@discordjs/rest';
import { WebSocketManager, WebSocketShardEvents } from '@discordjs/ws';
import { shardForGuild } from '@shardfleet/protocol';
import { GatewayIntentBits, Routes } from 'discord-api-types/v10';
import { afterEach, describe, expect, it } from 'vitest';
import type { SimulatorOptions } from '../options.js';
import type { SimulatorControl } from '../control/SimulatorControl.js';
import { type RunningSimulator, startSimulator } from '../server.js';
import { RawGatewayClient, waitUntil } from './gatewayClient.js';

const TOKEN = 'simulator-token';
let simulator: RunningSimulator | null = null;
const clients: RawGatewayClient[] = [];
let manager: WebSocketManager | null = null;

async function start(options: Partial<SimulatorOptions>): Promise<RunningSimulator> {
  simulator = await startSimulator({ identifyIntervalMs: 0, ...options });
  return simulator;
}

async function readyClient(shard: [number, number], intents: number): Promise<RawGatewayClient> {
  const client = new RawGatewayClient(`${simulator?.gatewayUrl}/?v=10&encoding=json`);
  clients.push(client);
  await client.waitFor((p) => p.op === 10);
  client.identify(TOKEN, { shard, intents });
  await client.waitFor((p) => p.t === 'READY');
  return client;
}

const sim = () => simulator?.control as SimulatorControl;

async function channelOf(guildId: string): Promise<string> {
  const guild = await sim().guild(guildId);
  return guild.channels.find((channel) => channel.type === 0)?.id as string;
}

afterEach(async () => {
  for (const client of clients.splice(0)) client.terminate();
  await manager?.destroy({ code: 1000 });
  manager = null;
  await simulator?.close();
  simulator = null;
});

const MESSAGES = GatewayIntentBits.Guilds | GatewayIntentBits.GuildMessages;

describe('routing and intents', () => {
  it('dispatches a member message only on the shard that owns its guild', async () => {
    await start({ guilds: 40 });
    const intents = MESSAGES | GatewayIntentBits.MessageContent;
    const shards = [await readyClient([0, 2], intents), await readyClient([1, 2], intents)];
    const guildId = (await sim().guilds({ shard: 1, shardCount: 2, limit: 1 }))[0] as string;
    expect(shardForGuild(guildId, 2)).toBe(1);
    const sent = await sim().typeMessage({ channelId: await channelOf(guildId), content: '!test-command' });
    expect(sent.shard).toBe(1);
    const arrived = await shards[1]!.waitFor((p) => p.t === 'MESSAGE_CREATE');
    expect(arrived.d).toMatchObject({ id: sent.id, guild_id: guildId, content: '!test-command' });
    expect(arrived.s).toBe(sent.seq);
    expect(shards[0]!.dispatches('MESSAGE_CREATE')).toHaveLength(0);
  });

  it('routes POST /_sim/dispatch by the guild_id inside the event when no target is given', async () => {
    await start({ guilds: 40 });
    const shards = [await readyClient([0, 2], MESSAGES), await readyClient([1, 2], MESSAGES)];
    const guildId = (await sim().guilds({ shard: 1, shardCount: 2, limit: 1 }))[0] as string;
    expect(await sim().dispatch({ t: 'TEST_EVENT', d: { guild_id: guildId, id: '42' } })).toMatchObject({
      shard: 1,
    });
    await shards[1]!.waitFor((p) => p.t === 'TEST_EVENT');
    expect(shards[0]!.dispatches('TEST_EVENT')).toHaveLength(0);
    const ledger = await sim().ledger({ t: 'TEST_EVENT' });
    expect(ledger).toMatchObject([{ shard: 1, id: '42', delivered: true }]);
  });

  it('sends message content only with MESSAGE_CONTENT, and nothing without GUILD_MESSAGES', async () => {
    await start({ guilds: 1 });
    const withContent = await readyClient([0, 1], MESSAGES | GatewayIntentBits.MessageContent);
    const withoutContent = await readyClient([0, 1], MESSAGES);
    const withoutMessages = await readyClient([0, 1], GatewayIntentBits.Guilds);
    const guildId = (await sim().guilds())[0] as string;
    await sim().typeMessage({ channelId: await channelOf(guildId), content: 'hello there' });
    expect((await withContent.waitFor((p) => p.t === 'MESSAGE_CREATE')).d).toMatchObject({
      content: 'hello there',
    });
    expect((await withoutContent.waitFor((p) => p.t === 'MESSAGE_CREATE')).d).toMatchObject({ content: '' });
    await sim().dispatch({ t: 'TEST_EVENT', d: {}, shard: 0 });
    await withoutMessages.waitFor((p) => p.t === 'TEST_EVENT');
    expect(withoutMessages.dispatches('MESSAGE_CREATE')).toHaveLength(0);
  });

  it('tells live shards about guilds joined and left when the population changes', async () => {
    await start({ guilds: 10 });
    const client = await readyClient([0, 1], MESSAGES);
    await waitUntil(() => (client.dispatches('GUILD_CREATE').length === 10 ? true : undefined));
    await sim().setGuildCount(12);
    const guilds = await sim().guilds();
    await waitUntil(() => (client.dispatches('GUILD_CREATE').length === 12 ? true : undefined));
    expect(client.dispatches('GUILD_CREATE').map((p) => (p.d as { id: string }).id)).toEqual(guilds);
    await sim().setGuildCount(9);
    const deleted = await waitUntil(() => {
      const left = client.dispatches('GUILD_DELETE');
      return left.length === 3 ? left.map((p) => (p.d as { id: string }).id) : undefined;
    });
    expect(deleted).toEqual(guilds.slice(9));
  });
});

describe('with discord.js', () => {
  it('runs a slash command: registered over REST, INTERACTION_CREATE on the owning shard, answered once', async () => {
    await start({ guilds: 30, maxConcurrency: 2 });
    const rest = new REST({ api: `${simulator?.url}/api` }).setToken(TOKEN);
    const application = (await rest.get(Routes.currentApplication())) as { id: string };
    await rest.put(Routes.applicationCommands(application.id), {
      body: [{ name: 'test-command', description: 'Answers', type: 1 }],
    });
    const interactions: { shardId: number; d: any }[] = [];
    manager = new WebSocketManager({ token: TOKEN, intents: MESSAGES, rest, shardCount: 2 });
    manager.on(WebSocketShardEvents.Dispatch, (payload, shardId) => {
      if (payload.t === 'INTERACTION_CREATE') interactions.push({ shardId, d: payload.d });
    });
    const ready = new Set<number>();
    manager.on(WebSocketShardEvents.Ready, (_payload, shardId) => ready.add(shardId));
    await manager.connect();
    await waitUntil(() => (ready.size === 2 ? true : undefined), 15_000, 'two READY shards');

    const guildId = (await sim().guilds())[0] as string;
    const channelId = await channelOf(guildId);
    await expect(sim().runCommand({ channelId, name: 'not-registered' })).rejects.toMatchObject({
      status: 400,
      message: 'command "not-registered" is not registered',
    });
    const created = await sim().runCommand({ channelId, name: 'test-command' });
    const interaction = await waitUntil(() => interactions[0]);
    expect(interaction.shardId).toBe(shardForGuild(guildId, 2));
    expect(interaction.d).toMatchObject({ id: created.id, type: 2, data: { name: 'test-command' } });

    const body = { type: 4, data: { content: 'answered' } };
    await rest.post(Routes.interactionCallback(interaction.d.id, interaction.d.token), { body, auth: false });
    await expect(
      rest.post(Routes.interactionCallback(interaction.d.id, interaction.d.token), { body, auth: false }),
    ).rejects.toThrow(/already been acknowledged/);
    const replies = await sim().botMessages(channelId);
    expect(replies.map((message) => message.content)).toEqual(['answered']);
    expect(await sim().interaction(created.id)).toMatchObject({ response: { type: 4 } });
  }, 30_000);

  it('a zombied connection (no HEARTBEAT_ACK) is detected by discord.js, which resumes', async () => {
    await start({ guilds: 5, heartbeatIntervalMs: 300 });
    const rest = new REST({ api: `${simulator?.url}/api` }).setToken(TOKEN);
    manager = new WebSocketManager({ token: TOKEN, intents: MESSAGES, rest });
    const resumed: number[] = [];
    const ready = new Set<number>();
    manager.on(WebSocketShardEvents.Ready, (_payload, shardId) => ready.add(shardId));
    manager.on(WebSocketShardEvents.Resumed, (shardId) => resumed.push(shardId));
    await manager.connect();
    await waitUntil(() => (ready.size === 1 ? true : undefined));
    await sim().zombie(0);
    await waitUntil(() => (resumed.length === 1 ? true : undefined), 10_000, 'RESUMED');
    const stats = await sim().stats();
    expect(stats.identifies).toBe(1);
    expect(stats.resumes).toBe(1);
  });
});
