// Drain check for scripts/image-check.sh: open N Pusher sockets to 127.0.0.1:PORT, print
// "connected" once every one has its connection_established, then wait for each to be closed;
// exit 0 only if every close code is 4200 (Pusher's "reconnect"), printing the codes seen.
import { createRequire } from 'node:module';

// ws from the protocol-tests' packages (installed by protocol-tests/run.sh).
const WebSocket = createRequire(new URL('../protocol-tests/package.json', import.meta.url))('ws');
const [port, count] = [process.argv[2], Number(process.argv[3] || 1)];
const url = `ws://127.0.0.1:${port}/app/app-key?protocol=7&client=image-check&version=1`;
const codes = [];
let established = 0;
const closed = Array.from({ length: count }, () => new Promise((resolve) => {
  const ws = new WebSocket(url);
  ws.on('message', (data) => {
    if (JSON.parse(data).event === 'pusher:connection_established' && ++established === count) {
      console.log('connected');
    }
  });
  ws.on('error', () => {});
  ws.on('close', (code) => { codes.push(code); resolve(); });
}));
setTimeout(() => { console.log(`timeout: codes ${codes.join(',')}`); process.exit(1); }, 60000);
await Promise.all(closed);
const ok = codes.every((c) => c === 4200);
console.log(`${count} sockets closed with ${[...new Set(codes)].join(',')}`);
process.exit(ok ? 0 : 1);
