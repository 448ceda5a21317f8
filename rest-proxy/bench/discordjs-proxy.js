// @discordjs/proxy in front of UPSTREAM_URL, as its README shows, with the global limit lifted so
// only buckets limit it. Prints `listening on <url>`.
import { createServer } from 'node:http';
import { proxyRequests } from '@discordjs/proxy';
import { REST } from '@discordjs/rest';

const rest = new REST({
  api: `${process.env.UPSTREAM_URL}/api`,
  globalRequestsPerSecond: Number(process.env.GLOBAL_RATE_LIMIT ?? 1_000_000_000),
});
const handle = proxyRequests(rest);
// proxyRequests rejects when a client goes away mid-answer; that must not end the process.
const server = createServer((request, response) => {
  handle(request, response).catch(() => response.destroy());
});
server.listen(0, '127.0.0.1', () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.once('SIGTERM', () => server.close(() => process.exit(0)));
