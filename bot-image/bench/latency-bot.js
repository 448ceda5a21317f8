// A bot in its own process that measures, per MESSAGE_CREATE, the time from the simulator's send
// (stamped in the message nonce) to the handler, and prints percentiles after <seconds>.
// Usage: node latency-bot.js <redis-url> <bot> <seconds> <replay|no-replay>
import { createBot } from '@shardfleet/bot';
import { pino } from 'pino';

const [redisUrl, botId, seconds, replay] = process.argv.slice(2);
const latencies = [];
/** The part from the shard's receipt (`receivedAt`, whole ms) to the handler. */
const fromShard = [];
const bot = createBot({
  config: {
    shardfleetBot: botId,
    redisUrl,
    restProxyUrl: 'http://127.0.0.1:9',
    restProxyToken: 'unused',
    consumerGroup: 'bot',
    consumerName: 'latency',
    port: 0,
    logLevel: 'silent',
  },
  logger: pino({ level: 'silent' }),
  healthServer: false,
  recogniseReplays: replay === 'replay',
});
bot.on('MESSAGE_CREATE', (message, { event }) => {
  const now = performance.timeOrigin + performance.now();
  const sentAt = /^bench-([\d.]+)$/.exec(String(message.nonce ?? ''));
  if (sentAt === null) return;
  latencies.push(now - Number(sentAt[1]));
  fromShard.push(now - event.receivedAt);
});
await bot.start();
console.log('reading');
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1_000));
const percentile = (values, p) => {
  values.sort((a, b) => a - b);
  return values[Math.min(values.length - 1, Math.floor((values.length * p) / 100))];
};
console.log(
  JSON.stringify({
    samples: latencies.length,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    max: latencies.at(-1),
    fromShardP50: percentile(fromShard, 50),
    fromShardP99: percentile(fromShard, 99),
  }),
);
await bot.stop();
process.exit(0);
