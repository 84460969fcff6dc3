// Compose check (scripts/compose-check.sh): pusher-js subscribes on node 1 (ws://127.0.0.1:PORT1),
// then the `pusher` server SDK publishes to node 2 (http://127.0.0.1:PORT2); exit 0 once the event
// arrives on node 1 with its data, 1 after 20 s without it.
import { createRequire } from 'node:module';

const require = createRequire(new URL('../protocol-tests/package.json', import.meta.url));
const Pusher = require('pusher-js');
const PusherServer = require('pusher');
const [port1, port2] = process.argv.slice(2).map(Number);
const channel = `compose-check-${process.pid}`;
const client = new Pusher('app-key', {
  wsHost: '127.0.0.1', wsPort: port1, forceTLS: false, enabledTransports: ['ws'], cluster: 'mt1',
});
const server = new PusherServer({
  appId: 'app-id', key: 'app-key', secret: 'app-secret', host: '127.0.0.1', port: String(port2), useTLS: false,
});
setTimeout(() => { console.log('no event on node 1 within 20 s'); process.exit(1); }, 20000);
const sub = client.subscribe(channel);
sub.bind('greeting', (data) => {
  console.log(`node 1 received ${JSON.stringify(data)} published to node 2`);
  process.exit(data.n === 42 ? 0 : 1);
});
sub.bind('pusher:subscription_succeeded', async () => {
  // Node 2 learns of node 1's subscriber through Redis; publish a few times until it lands.
  for (let i = 0; i < 20; i++) {
    await server.trigger(channel, 'greeting', { n: 42 });
    await new Promise((r) => setTimeout(r, 500));
  }
});
