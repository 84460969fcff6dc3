// What the marks of open sockets cost a cluster (issue 26, recovery across nodes), for
// scripts/bench-marks.sh. Two modes, against running nodes of one cluster whose app has
// recovery on every channel:
//   churn PORT N        one socket that keeps its herald_session cookie subscribes to and
//                       unsubscribes from N channels in turn (each subscribe is marked on the other
//                       nodes, each unsubscribe unmarked): subscribe -> subscription_succeeded times.
//   return A B N        a live tab of a browser follows `room` on node A; N times another socket of
//                       that browser (the same cookie) subscribes to `room` on node B, which asks A
//                       about the browser's sockets there first (A pings the tab, it answers), then
//                       unsubscribes and closes: subscribe -> subscription_succeeded times.
// Prints one JSON line. Uses `ws` from protocol-tests/node_modules (run `npm ci` there first).
import { createRequire } from 'node:module';

const require = createRequire(new URL('../protocol-tests/', import.meta.url));
const WebSocket = require('ws');
const KEY = 'app-key';
const [mode, ...args] = process.argv.slice(2);
const label = process.env.LABEL || '';

function connect(port, cookie) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${KEY}?protocol=7&client=js&version=8.4.0`,
      { headers: cookie ? { cookie } : {} });
    const s = { ws, cookie, on: null };
    ws.on('upgrade', (res) => {
      const set = (res.headers['set-cookie'] || []).find((c) => c.startsWith('herald_session='));
      if (set) s.cookie = set.split(';')[0];
    });
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.event === 'pusher:ping') ws.send('{"event":"pusher:pong","data":{}}');
      if (m.event === 'pusher:connection_established') resolve(s);
      if (s.on) s.on(m);
    });
    ws.on('error', reject);
  });
}

/** Subscribe; resolves with the time to subscription_succeeded in µs, and whether recovery_failed came. */
function subscribe(s, channel) {
  return new Promise((resolve) => {
    const t0 = performance.now();
    s.on = (m) => {
      if (m.event === 'pusher_internal:subscription_succeeded' && m.channel === channel) {
        s.on = null;
        resolve((performance.now() - t0) * 1000);
      }
    };
    s.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
  });
}

const unsubscribe = (s, channel) => s.ws.send(JSON.stringify({ event: 'pusher:unsubscribe', data: { channel } }));
const close = (s) => new Promise((r) => { s.ws.on('close', r); s.ws.close(); });

function pct(xs, p) {
  const v = [...xs].sort((a, b) => a - b);
  return v.length ? Math.round(v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))]) : null;
}

async function churn(port, n) {
  const s = await connect(port, null);
  const times = [];
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const channel = `churn-${process.pid}-${i}`;
    times.push(await subscribe(s, channel));
    unsubscribe(s, channel);
  }
  const secs = (performance.now() - t0) / 1000;
  await close(s);
  return { subscribes: n, per_sec: Math.round(n / secs), subscribed_us: { p50: pct(times, 50), p99: pct(times, 99) } };
}

async function back(a, b, n) {
  const tab = await connect(a, null);
  await subscribe(tab, 'room');
  const times = [];
  for (let i = 0; i < n; i++) {
    const s = await connect(b, tab.cookie);
    times.push(await subscribe(s, 'room'));
    unsubscribe(s, 'room');
    await close(s);
  }
  await close(tab);
  return { returns: n, subscribed_us: { p50: pct(times, 50), p99: pct(times, 99), max: pct(times, 100) } };
}

const out = mode === 'churn' ? await churn(Number(args[0]), Number(args[1])) : await back(Number(args[0]), Number(args[1]), Number(args[2]));
console.log(JSON.stringify({ scenario: mode, label, ...out }));
