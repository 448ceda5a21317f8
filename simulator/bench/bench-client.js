// Counts dispatches arriving on N gateway connections and measures delivery latency; run as a child
// process so it has its own core. Messages from the parent: {type:'window'} starts a measurement window,
// and the answer is {delivered, p50, p99} for it.
import WebSocket from 'ws';

const [url, shardCountText, token] = process.argv.slice(2);
const shardCount = Number(shardCountText);
const TIMESTAMP_FIELD = '"timestamp":"';

let delivered = 0;
let sampled = false;
let latencies = [];
const ready = new Set();

function latencyOf(text) {
  const at = text.indexOf(TIMESTAMP_FIELD);
  if (at === -1) return null;
  return Date.now() - Date.parse(text.slice(at + TIMESTAMP_FIELD.length, at + TIMESTAMP_FIELD.length + 24));
}

for (let shard = 0; shard < shardCount; shard++) {
  const ws = new WebSocket(`${url}/?v=10&encoding=json`, { perMessageDeflate: false });
  ws.on('message', (data) => {
    const text = data.toString();
    if (text.startsWith('{"op":0')) {
      if (text.includes('"t":"MESSAGE_CREATE"')) {
        delivered++;
        if (!sampled) {
          sampled = true;
          process.send?.({ type: 'sample', frame: text });
        }
        if ((delivered & 15) === 0) {
          const latency = latencyOf(text);
          if (latency !== null) latencies.push(latency);
        }
      } else if (text.includes('"t":"READY"')) {
        ready.add(shard);
        if (ready.size === shardCount) process.send?.({ type: 'ready' });
      }
      return;
    }
    const payload = JSON.parse(text);
    if (payload.op === 10) {
      ws.send(
        JSON.stringify({
          op: 2,
          d: {
            token,
            intents: 513 | 32_768,
            properties: { os: 'linux', browser: 'bench', device: 'bench' },
            shard: [shard, shardCount],
          },
        }),
      );
      setInterval(
        () => ws.send(JSON.stringify({ op: 1, d: null })),
        payload.d.heartbeat_interval * 0.9,
      ).unref();
    }
  });
  ws.on('close', (code) => process.send?.({ type: 'closed', shard, code }));
}

function percentile(sorted, p) {
  return sorted.length === 0 ? null : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

process.on('message', (message) => {
  if (message.type === 'window') {
    delivered = 0;
    latencies = [];
  } else if (message.type === 'report') {
    const sorted = latencies.sort((a, b) => a - b);
    process.send?.({
      type: 'report',
      delivered,
      p50: percentile(sorted, 0.5),
      p99: percentile(sorted, 0.99),
    });
  } else if (message.type === 'exit') {
    process.exit(0);
  }
});

// Never outlive the benchmark that started this process.
process.on('disconnect', () => process.exit(0));
