// A minimal Discord-like upstream for the benchmark: POST/GET /api/v10/channels/:id/messages
// answer a small message object with Discord's rate-limit headers. Each channel is a bucket of
// BUCKET_LIMIT requests per BUCKET_WINDOW_MS, its window starting at its first request as on
// Discord; a request past the limit is answered 429 and counted, so the benchmark can prove no
// proxy ever exceeded an advertised bucket. Prints `listening on <url>`; GET /stats gives counts.
import { createHash } from 'node:crypto';
import Fastify from 'fastify';

const limit = Number(process.env.BUCKET_LIMIT ?? 1_000_000);
const windowMs = Number(process.env.BUCKET_WINDOW_MS ?? 60_000);
const buckets = new Map();
const stats = { requests: 0, ratelimited: 0, maxPerWindow: 0 };
const hash = createHash('sha256').update('POST /channels/{channel_id}/messages').digest('hex').slice(0, 32);

const app = Fastify({ logger: false });
app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (_request, body, done) =>
  done(null, body),
);

function answer(request, reply) {
  stats.requests++;
  const now = Date.now();
  const channel = request.params.id;
  let bucket = buckets.get(channel);
  if (bucket === undefined || now >= bucket.resetAt) {
    bucket = { used: 0, resetAt: now + windowMs };
    buckets.set(channel, bucket);
  }
  const limited = bucket.used >= limit;
  if (!limited) bucket.used++;
  if (bucket.used > stats.maxPerWindow) stats.maxPerWindow = bucket.used;
  reply
    .header('x-ratelimit-limit', String(limit))
    .header('x-ratelimit-remaining', String(limit - bucket.used))
    .header('x-ratelimit-reset', (bucket.resetAt / 1_000).toFixed(3))
    .header('x-ratelimit-reset-after', ((bucket.resetAt - now) / 1_000).toFixed(3))
    .header('x-ratelimit-bucket', hash);
  if (limited) {
    stats.ratelimited++;
    const retryAfter = (bucket.resetAt - now) / 1_000;
    return reply
      .code(429)
      .header('retry-after', String(Math.ceil(retryAfter)))
      .header('x-ratelimit-scope', 'user')
      .send({ message: 'You are being rate limited.', retry_after: retryAfter, global: false });
  }
  return reply.send({ id: String(stats.requests), channel_id: channel, content: 'benchmark', type: 0 });
}

app.post('/api/v10/channels/:id/messages', answer);
app.get('/api/v10/channels/:id/messages', answer);
app.get('/stats', async () => stats);
app.post('/reset', async () => {
  buckets.clear();
  Object.assign(stats, { requests: 0, ratelimited: 0, maxPerWindow: 0 });
  return stats;
});

const address = await app.listen({ host: '127.0.0.1', port: Number(process.env.PORT ?? 0) });
console.log(`listening on ${address}`);
process.once('SIGTERM', () => void app.close().then(() => process.exit(0)));
