// The ceiling for the simulator benchmark: a bare `ws` server that answers HELLO/IDENTIFY minimally and
// then sends one prebuilt ~1 KB MESSAGE_CREATE frame per event at the requested rate, with the same tick
// scheme as the simulator. Whatever the simulator adds (routing, sequence numbers, ledger, replay buffer,
// payload building) is the difference between the two.
import { WebSocketServer } from 'ws';

const TICK_MS = 10;
const sockets = [];
let rate = 0;
let carry = 0;
let last = performance.now();
let seq = 0;

const message = JSON.parse(process.argv[2]);
const server = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
server.on('listening', () =>
  process.send?.({ type: 'listening', url: `ws://127.0.0.1:${server.address().port}` }),
);
server.on('connection', (ws) => {
  ws.send(JSON.stringify({ op: 10, d: { heartbeat_interval: 41_250 }, s: null, t: null }));
  ws.on('message', (data) => {
    const payload = JSON.parse(data.toString());
    if (payload.op === 2) {
      sockets.push(ws);
      ws.send(`{"op":0,"s":1,"t":"READY","d":{"session_id":"raw"}}`);
    } else if (payload.op === 1) {
      ws.send('{"op":11,"d":null}');
    }
  });
});

setInterval(() => {
  const now = performance.now();
  carry += (rate * Math.min(now - last, 100)) / 1_000;
  last = now;
  const due = Math.floor(carry);
  carry -= due;
  for (const ws of sockets) ws._socket.cork();
  for (let i = 0; i < due; i++) {
    message.timestamp = new Date().toISOString();
    message.id = String(++seq);
    const ws = sockets[seq % sockets.length];
    ws?.send(`{"op":0,"s":${seq},"t":"MESSAGE_CREATE","d":${JSON.stringify(message)}}`);
  }
  for (const ws of sockets) ws._socket.uncork();
}, TICK_MS);

process.on('message', (command) => {
  if (command.type === 'rate') rate = command.rate;
  if (command.type === 'exit') process.exit(0);
});

// Never outlive the benchmark that started this process.
process.on('disconnect', () => process.exit(0));
