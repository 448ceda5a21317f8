// Reads an event stream in its own process and prints how long entries took from the simulator's
// send (stamped in the message nonce) to being readable, so the sender's work does not skew it.
// Usage: node latency-reader.js <redis-url> <stream-key> <seconds>
import { Redis } from 'ioredis';

const [redisUrl, key, seconds] = process.argv.slice(2);
const redis = new Redis(redisUrl);
const latencies = [];
/** From the worker's receipt of the frame (the entry's `ts`) to readable: the worker's own part. */
const workerLatencies = [];
let lastId = '$';
const deadline = Date.now() + Number(seconds) * 1_000;
console.log('reading');
while (Date.now() < deadline) {
  const reply = await redis.xread('COUNT', 5_000, 'BLOCK', 200, 'STREAMS', key, lastId);
  const now = performance.timeOrigin + performance.now();
  if (reply === null) continue;
  for (const [id, fields] of reply[0][1]) {
    lastId = id;
    const sentAt = /"nonce":"bench-([\d.]+)"/.exec(fields[fields.indexOf('d') + 1]);
    if (sentAt === null) continue;
    latencies.push(now - Number(sentAt[1]));
    workerLatencies.push(now - Number(fields[fields.indexOf('ts') + 1]));
  }
}
latencies.sort((a, b) => a - b);
workerLatencies.sort((a, b) => a - b);
const at = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))];
console.log(
  JSON.stringify({
    samples: latencies.length,
    p50: at(latencies, 50),
    p99: at(latencies, 99),
    max: latencies.at(-1),
    workerP50: at(workerLatencies, 50),
    workerP99: at(workerLatencies, 99),
  }),
);
redis.disconnect();
