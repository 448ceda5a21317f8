// A bot in its own process that measures, per MESSAGE_CREATE, the time from the simulator's send
// (stamped in the message nonce) to the handler, and prints percentiles after <seconds>.
// Usage: node latency-bot.js <redis-url> <bot> <seconds>
import { createBot } from '@shardfleet/bot';
import { pino } from 'pino';

const [redisUrl, botId, seconds] = process.argv.slice(2);
const latencies = [];
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
});
bot.on('MESSAGE_CREATE', (message) => {
  const now = performance.timeOrigin + performance.now();
  const sentAt = /^bench-([\d.]+)$/.exec(String(message.nonce ?? ''));
  if (sentAt !== null) latencies.push(now - Number(sentAt[1]));
});
await bot.start();
console.log('reading');
await new Promise((resolve) => setTimeout(resolve, Number(seconds) * 1_000));
latencies.sort((a, b) => a - b);
const at = (p) => latencies[Math.min(latencies.length - 1, Math.floor((latencies.length * p) / 100))];
console.log(JSON.stringify({ samples: latencies.length, p50: at(50), p99: at(99), max: latencies.at(-1) }));
await bot.stop();
process.exit(0);
