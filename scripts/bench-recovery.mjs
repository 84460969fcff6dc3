// Replay latency for scripts/bench-recovery.sh (issue 26), against a running herald on PORT:
// one socket that keeps the browser cookie and answers pusher:ping subscribes to a channel,
// closes, EVENTS events are published through the API (batch_events of 10, ~200 B data),
// and it comes back with the cookie: time from sending pusher:subscribe to
// subscription_succeeded and to the last replayed event, over RETURNS returns.
// Prints one JSON line. Also: `history PORT CHANNEL` prints how many events the history read holds.
//   node scripts/bench-recovery.mjs PORT [RETURNS] [EVENTS] [LABEL]
// Uses `ws` from protocol-tests/node_modules (run `npm ci` there first).
import crypto from 'node:crypto';
import http from 'node:http';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../protocol-tests/', import.meta.url));
const WebSocket = require('ws');
const APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
const HISTORY = process.argv[2] === 'history';
const [port, returns = 100, events = 100] = process.argv.slice(HISTORY ? 3 : 2, HISTORY ? 4 : 5).map(Number);
const agent = new http.Agent({ keepAlive: true });
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function signed(method, path, body) {
  const q = { auth_key: APP.key, auth_timestamp: Math.floor(Date.now() / 1000), auth_version: '1.0' };
  if (body) q.body_md5 = crypto.createHash('md5').update(body).digest('hex');
  const qs = Object.keys(q).sort().map((k) => `${k}=${q[k]}`).join('&');
  const sig = crypto.createHmac('sha256', APP.secret).update(`${method}\n${path}\n${qs}`).digest('hex');
  return `${path}?${qs}&auth_signature=${sig}`;
}

function request(method, path, body) {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, method, path: signed(method, path, body), agent,
      headers: body ? { 'content-type': 'application/json' } : {} }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => (res.statusCode === 200 ? resolve(text) : reject(new Error(`${res.statusCode} ${text}`))));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function publish(channel, from, n) {
  const pad = 'x'.repeat(180);
  for (let i = 0; i < n; i += 10) {
    const batch = [];
    for (let k = i; k < Math.min(n, i + 10); k++) batch.push({ name: 'ev', channel, data: JSON.stringify({ n: from + k, pad }) });
    await request('POST', `/apps/${APP.id}/batch_events`, JSON.stringify({ batch }));
  }
}

// One socket: resolves when connected; `sub(channel, expect)` resolves with the timings.
function connect(cookie) {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.4.0`,
      { headers: cookie ? { cookie } : {} });
    const s = { ws, cookie, pings: 0, frames: [] };
    ws.on('upgrade', (res) => {
      const set = (res.headers['set-cookie'] || []).find((c) => c.startsWith('herald_session='));
      if (set) s.cookie = set.split(';')[0];
    });
    ws.on('message', (raw) => {
      const m = JSON.parse(raw.toString());
      if (m.event === 'pusher:ping') { s.pings++; ws.send('{"event":"pusher:pong","data":{}}'); }
      if (m.event === 'pusher:connection_established') resolve(s);
      if (s.on) s.on(m, performance.now());
    });
    ws.on('error', reject);
  });
}

function subscribe(s, channel, expect) {
  return new Promise((resolve) => {
    const r = { got: [], ok: null, last: null, pingBeforeLast: false, failed: null };
    const t0 = performance.now();
    const done = () => { s.on = null; resolve(r); };
    s.on = (m, t) => {
      if (m.event === 'pusher:ping' && r.got.length < expect) r.pingBeforeLast = true;
      if (m.event === 'pusher_internal:subscription_succeeded') { r.ok = t - t0; if (expect === 0) done(); }
      if (m.event === 'pusher:recovery_failed') { r.failed = m.data; done(); }
      if (m.event === 'ev') {
        r.got.push(JSON.parse(m.data).n);
        if (r.got.length === expect) { r.last = t - t0; done(); }
      }
    };
    s.ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel } }));
    setTimeout(done, 5000);
  });
}

async function close(s) {
  const p0 = s.pings;
  for (let i = 0; i < 100 && s.pings === p0 && s.cookie; i++) await sleep(2); // the ping after a replay
  await sleep(10);
  await new Promise((r) => { s.ws.on('close', r); s.ws.close(); });
  await sleep(30); // the server stores the place left
}

function pct(xs, p) {
  const v = xs.filter((x) => x !== null).sort((a, b) => a - b);
  return v.length ? Math.round(v[Math.min(v.length - 1, Math.floor((p / 100) * v.length))] * 1000) : null;
}

async function bench() {
  const channel = `replay-${process.pid}`;
  let s = await connect(null);
  await subscribe(s, channel, 0);
  const on = Boolean(s.cookie);
  const ok = []; const last = []; const bad = { missing: 0, dup_or_order: 0, failed: 0, ping_before_last: 0 };
  let next = 0;
  for (let i = 0; i < returns; i++) {
    await close(s);
    await publish(channel, next, events);
    s = await connect(s.cookie);
    const r = await subscribe(s, channel, on ? events : 0);
    ok.push(r.ok); last.push(r.last);
    if (r.failed) bad.failed++;
    if (on && r.got.length < events) bad.missing++;
    if (r.got.some((n, k) => n !== next + k)) bad.dup_or_order++;
    if (r.pingBeforeLast) bad.ping_before_last++;
    next += events;
  }
  s.ws.close();
  const label = process.argv[5] || (on ? 'on' : 'off');
  console.log(JSON.stringify({ scenario: 'replay', label, recovery: on, returns, events_per_return: events,
    subscribed_us: { p50: pct(ok, 50), p99: pct(ok, 99), max: pct(ok, 100) },
    last_replayed_us: on ? { p50: pct(last, 50), p99: pct(last, 99), max: pct(last, 100) } : null, ...bad }));
  agent.destroy();
}

if (HISTORY) {
  const text = await request('GET', `/apps/${APP.id}/channels/${process.argv[4]}/events`);
  const v = JSON.parse(text);
  console.log((v.events || v).length);
  agent.destroy();
} else {
  await bench();
}
