// What an HTTP fallback session costs next to a WebSocket, in one run against one herald
// (issue 27): RSS per idle session and server CPU per delivery, for N WebSockets and N
// xhr_streaming sessions subscribed to one channel each. Run from the repository root after
// `cargo build --release`:  node scripts/bench-fallback.mjs [N] [EVENTS]
// Uses `ws` from protocol-tests/node_modules (run `npm ci` there first).
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';

const require = createRequire(new URL('../protocol-tests/', import.meta.url));
const WebSocket = require('ws');
const N = Number(process.argv[2] || 1000);
const EVENTS = Number(process.argv[3] || 200);
const APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const port = await new Promise((r) => { const s = net.createServer().listen(0, () => { const p = s.address().port; s.close(() => r(p)); }); });
const herald = spawn('target/release/herald', [], {
  env: { ...process.env, SOKETI_PORT: String(port), SOKETI_HOST: '127.0.0.1', HERALD_THREADS: '1', HERALD_LOG: 'herald=warn' },
  stdio: 'inherit',
});
process.on('exit', () => herald.kill('SIGKILL'));
const rss = () => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${herald.pid}/status`, 'utf8'))[1]) * 1024;
const cpu = () => { const f = fs.readFileSync(`/proc/${herald.pid}/stat`, 'utf8').split(') ')[1].split(' '); return (Number(f[11]) + Number(f[12])) * 10; }; // ms at 100 Hz
await sleep(500);

const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
function post(path, body = '') {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, resolve);
    req.on('error', reject);
    req.end(body);
  });
}

let delivered = { ws: 0, xhr: 0 };
async function openWs(i) {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/app/${APP.key}?protocol=7&client=js&version=8.6.0`);
  await new Promise((r) => ws.on('message', function first() { ws.off('message', first); r(); }));
  ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'bench-ws' } }));
  ws.on('message', (m) => { if (String(m).includes('"tick"')) delivered.ws++; });
  return ws;
}
async function openXhr(i) {
  const base = `/pusher/app/${APP.key}/${i % 1000}/s${String(i).padStart(7, '0')}`;
  const res = await post(`${base}/xhr_streaming?t=1&n=1`);
  let buf = '';
  await new Promise((r) => res.on('data', function first(d) { buf += d; if (buf.includes('connection_established')) { res.off('data', first); r(); } }));
  res.on('data', (d) => { delivered.xhr += (String(d).match(/tick/g) || []).length; });
  (await post(`${base}/xhr_send`, JSON.stringify([JSON.stringify({ event: 'pusher:subscribe', data: { channel: 'bench-xhr' } })]))).resume();
  return res;
}
async function publish(channel) {
  const body = JSON.stringify({ name: 'tick', channel, data: '{"n":1}' });
  const path = `/apps/${APP.id}/events`;
  const q = new URLSearchParams({ auth_key: APP.key, auth_timestamp: String(Math.floor(Date.now() / 1000)), auth_version: '1.0', body_md5: crypto.createHash('md5').update(body).digest('hex') });
  q.set('auth_signature', crypto.createHmac('sha256', APP.secret).update(`POST\n${path}\n${q}`).digest('hex'));
  (await post(`${path}?${q}`, body)).resume();
}
async function phase(name, open, channel, key) {
  const before = rss();
  const held = [];
  for (let i = 0; i < N; i += 50) held.push(...(await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, j) => open(i + j)))));
  await sleep(1500);
  const perSession = (rss() - before) / N;
  const c0 = cpu();
  for (let e = 0; e < EVENTS; e++) { await publish(channel); await sleep(5); }
  const want = N * EVENTS;
  for (let t = 0; t < 200 && delivered[key] < want; t++) await sleep(50);
  const cpuMs = cpu() - c0;
  console.log(`${name.padEnd(14)} ${N} idle: ${(perSession / 1024).toFixed(1)} KiB RSS each; ${EVENTS} events x ${N}: ${delivered[key]}/${want} delivered, ${((cpuMs * 1e3) / delivered[key]).toFixed(2)} µs server CPU per delivery (${cpuMs} ms)`);
  return held;
}
const ws = await phase('websocket', openWs, 'bench-ws', 'ws');
const xhr = await phase('xhr_streaming', openXhr, 'bench-xhr', 'xhr');
ws.forEach((w) => w.terminate());
xhr.forEach((r) => r.destroy());
herald.kill('SIGTERM');
process.exit(0);
