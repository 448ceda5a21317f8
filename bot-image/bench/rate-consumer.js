// One consumer in its own process, timed from start until every entry is handled and acknowledged.
// Usage: node rate-consumer.js <kind> <redis-url> <stream-key> <count> <round> [maxChunk]
// kind: shardfleet | shardfleet-no-replay | brokers | raw
import { PubSubRedisBroker } from '@discordjs/brokers';
import { createBot } from '@shardfleet/bot';
import { Redis } from 'ioredis';
import { pino } from 'pino';

const [kind, redisUrl, stream, countText, round, maxChunkText] = process.argv.slice(2);
const count = Number(countText);
const group = `bench-${kind}-${maxChunkText ?? ''}-${round}`;
const redis = new Redis(redisUrl);
const startedAt = performance.now();

async function pending() {
  const [total] = await redis.xpending(stream, group);
  return total;
}

const DEADLINE_MS = 60_000;
let incomplete = false;

async function waitFor(probe) {
  while (!(await probe())) {
    if (performance.now() - startedAt > DEADLINE_MS) {
      incomplete = true;
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 2));
  }
}

let handled = 0;
let stop;
if (kind === 'raw') {
  // The ceiling: XREADGROUP COUNT 500, JSON.parse of d, one XACK per batch; no recovery of any kind.
  const reader = new Redis(redisUrl);
  await redis.xgroup('CREATE', stream, group, '0', 'MKSTREAM');
  let reading = true;
  void (async () => {
    while (reading) {
      const reply = await reader.xreadgroup(
        'GROUP',
        group,
        'raw',
        'COUNT',
        500,
        'BLOCK',
        1_000,
        'STREAMS',
        stream,
        '>',
      );
      if (reply === null) continue;
      const ids = [];
      for (const [id, fields] of reply[0][1]) {
        JSON.parse(fields[fields.indexOf('d') + 1]);
        handled++;
        ids.push(id);
      }
      void redis.xack(stream, group, ...ids);
    }
  })();
  stop = () => {
    reading = false;
    reader.disconnect();
  };
} else if (kind === 'brokers') {
  const client = new Redis(redisUrl);
  const broker = new PubSubRedisBroker(client, {
    group,
    name: 'bench',
    maxChunk: Number(maxChunkText ?? 10),
    decode: (data) => JSON.parse(data.toString('utf8')),
  });
  broker.on(stream, ({ ack }) => {
    handled++;
    void ack();
  });
  // The brokers' read loop stops on its first error; say so instead of waiting for nothing.
  broker.on('error', (error) => console.error(`brokers error: ${error}`));
  await broker.subscribe([stream]);
  stop = () => client.disconnect();
} else {
  const bot = createBot({
    config: {
      shardfleetBot: stream.slice('sf:{'.length, stream.indexOf('}')),
      redisUrl,
      restProxyUrl: 'http://127.0.0.1:9',
      restProxyToken: 'unused',
      consumerGroup: group,
      consumerName: 'bench',
      port: 0,
      logLevel: 'silent',
    },
    logger: pino({ level: 'silent' }),
    healthServer: false,
    recogniseReplays: kind === 'shardfleet',
  });
  bot.on('MESSAGE_CREATE', () => {
    handled++;
  });
  await bot.start();
  stop = () => bot.stop();
}
await waitFor(() => handled >= count);
if (!incomplete) await waitFor(async () => (await pending()) === 0);
const seconds = (performance.now() - startedAt) / 1_000;
console.log(
  JSON.stringify({ kind, maxChunk: maxChunkText, count: handled, seconds, rate: handled / seconds }),
);
await stop();
redis.disconnect();
process.exit(0);
