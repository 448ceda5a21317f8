import { setTimeout as sleep } from 'node:timers/promises';
import { InteractionType, MessageFlags } from 'discord-api-types/v10';
import type { Bot } from '../Bot.js';

/** The example bot's command: the message `!test-command` and the slash command `/test-command`. */
export const TEST_COMMAND = 'test-command';

/**
 * The example bot: answers the message `!test-command` in its channel and the slash command
 * `/test-command`, which it registers (globally) for the application the API reports.
 *
 * @returns The application id the slash command was registered for.
 */
export async function registerTestCommand(bot: Bot, attempts = 10): Promise<string> {
  bot.on('MESSAGE_CREATE', async (message, { api }) => {
    if (message.author.bot === true || message.content.trim() !== `!${TEST_COMMAND}`) return;
    await api.channels.createMessage(message.channel_id, {
      content: `test-command received from <@${message.author.id}>`,
      message_reference: { message_id: message.id },
      allowed_mentions: { parse: [] },
    });
  });
  bot.on('INTERACTION_CREATE', async (interaction, { api }) => {
    if (interaction.type !== InteractionType.ApplicationCommand || interaction.data.name !== TEST_COMMAND)
      return;
    await api.interactions.reply(interaction.id, interaction.token, {
      content: 'test-command received',
      flags: MessageFlags.Ephemeral,
    });
  });
  // The REST proxy may start after the bot: retry a little before giving up.
  for (let attempt = 1; ; attempt++) {
    try {
      const application = await bot.api.applications.getCurrent();
      await bot.api.applicationCommands.bulkOverwriteGlobalCommands(application.id, [
        { name: TEST_COMMAND, description: 'Answers that the test command was received' },
      ]);
      return application.id;
    } catch (error) {
      if (attempt >= attempts) throw error;
      bot.logger.warn({ err: error, attempt }, 'could not register the slash command yet; retrying');
      await sleep(Math.min(500 * attempt, 5_000));
    }
  }
}
