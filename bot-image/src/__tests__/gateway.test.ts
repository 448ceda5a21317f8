import { shardForGuild } from '@shardfleet/protocol';
import { type RunningSimulator, startSimulator } from '@shardfleet/simulator';
import { type ProgramProcess, RedisServer, waitUntil } from '@shardfleet/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Bot, GuildMembersRateLimitedError } from '../index.js';
import { startShardWorker, testBot } from './harness.js';

const BOT = 'test.gateway';
const SHARDS = 2;

describe('gateway commands through a real shard worker', { timeout: 90_000 }, () => {
  let simulator: RunningSimulator;
  let redisServer: RedisServer;
  let worker: ProgramProcess;
  let asking: Bot;
  let consuming: Bot;

  beforeAll(async () => {
    simulator = await startSimulator({ guilds: 60, identifyIntervalMs: 100, seed: 5 });
    redisServer = await RedisServer.start();
    worker = await startShardWorker({
      bot: BOT,
      redisUrl: redisServer.url,
      simulatorUrl: simulator.url,
      shardCount: SHARDS,
    });
    // Two pods of one bot; the asking one does not consume, so every member chunk reaches the
    // other one, which must pass it on.
    asking = testBot(BOT, redisServer.url, { healthServer: false, config: { consumerName: 'asking' } });
    consuming = testBot(BOT, redisServer.url, { healthServer: false, config: { consumerName: 'consuming' } });
    await consuming.start();
  }, 90_000);

  afterAll(async () => {
    await Promise.all([asking?.stop(), consuming?.stop()]);
    await worker?.stop('SIGKILL', 5_000);
    await redisServer?.stop();
    await simulator?.close();
  }, 60_000);

  it('requestGuildMembers resolves with every member across chunks read by another pod; a second request is rate limited', async () => {
    const ids = await simulator.control.guilds();
    let big: { id: string; member_count: number } | undefined;
    for (const id of ids) {
      const guild = await simulator.control.guild(id);
      if (guild.member_count > 2_000) {
        big = guild;
        break;
      }
    }
    expect(big).toBeDefined();
    const members = await asking.gateway.requestGuildMembers(big!.id, { timeoutMs: 20_000 });
    expect(members.length).toBe(big!.member_count);
    expect(new Set(members.map((member) => member.user.id)).size).toBe(big!.member_count);
    const [command] = await simulator.control.commands({ op: 8 });
    expect(command).toMatchObject({ shard: shardForGuild(big!.id, SHARDS) });

    // Discord allows one request for all members of a guild per 30 s; this pod reads the answer itself.
    await expect(
      consuming.gateway.requestGuildMembers(big!.id, { timeoutMs: 20_000 }),
    ).rejects.toBeInstanceOf(GuildMembersRateLimitedError);
  });

  it('requestGuildMembers rejects when no answer comes in time; the request itself still reaches the shard', async () => {
    const [guildId] = await simulator.control.guilds({ limit: 1 });
    // A stopped shard worker reads no command, so no chunk can come back before the timeout.
    worker.child.kill('SIGSTOP');
    try {
      await expect(
        asking.gateway.requestGuildMembers(guildId!, { query: 'zzzz-nobody', timeoutMs: 500 }),
      ).rejects.toThrow(/timed out with 0 of unknown chunks/);
    } finally {
      worker.child.kill('SIGCONT');
    }
    const late = await waitUntil(
      async () =>
        (await simulator.control.commands({ op: 8 })).find(
          (command) => (command.d as { query?: string }).query === 'zzzz-nobody',
        ),
      { timeoutMs: 15_000, description: 'the late member request at the simulator' },
    );
    expect(late).toMatchObject({ shard: shardForGuild(guildId!, SHARDS) });
  });

  it('setPresence reaches every shard; updateVoiceState reaches the shard of the guild', async () => {
    const presence = { status: 'dnd', activities: [{ name: 'the tests', type: 3 }], since: null, afk: false };
    await asking.gateway.setPresence(presence as never);
    const received = await waitUntil(
      async () => {
        const commands = await simulator.control.commands({ op: 3 });
        return commands.length >= SHARDS ? commands : null;
      },
      { timeoutMs: 15_000, description: 'presence on every shard' },
    );
    expect(new Set(received.map((command) => command.shard))).toEqual(new Set([0, 1]));
    expect(received[0]).toMatchObject({ d: { status: 'dnd' } });

    const guildIds = await simulator.control.guilds({ shard: 1, shardCount: SHARDS, limit: 1 });
    const guild = await simulator.control.guild(guildIds[0]!);
    await asking.gateway.updateVoiceState(guild.id, {
      channelId: guild.channels.find((c) => c.type === 2)!.id,
    });
    const voice = await waitUntil(async () => (await simulator.control.commands({ op: 4 }))[0], {
      timeoutMs: 15_000,
      description: 'voice state command',
    });
    expect(voice).toMatchObject({ shard: 1, d: { guild_id: guild.id, self_mute: false } });
  });
});
