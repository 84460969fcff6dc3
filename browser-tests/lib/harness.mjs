// Helpers for the deploy suite: herald, redis-server, nginx and the socket-activation
// launcher as real processes on free ports; a page with Laravel Echo and pusher-js 8 in
// Debian's headless Chromium; a publisher that signs its API requests like Laravel does
// (one connection per request, as PHP opens them).
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SUITE = path.resolve(here, '..');
export const HERALD = process.env.HERALD_BIN || path.resolve(SUITE, '../target/release/herald');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };
export const CHANNELS = { public: 'deploy', private: 'private-deploy', presence: 'presence-deploy' };
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();
process.on('exit', () => children.forEach((c) => c.exitCode === null && c.kill('SIGKILL')));

export const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-deploy-'));

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** Start a process; its output goes to a log file in workDir. */
export function run(name, cmd, args, env = {}) {
  const log = fs.openSync(path.join(workDir, `${name}.log`), 'a');
  const child = spawn(cmd, args, {
    cwd: workDir,
    env: { ...process.env, ...env },
    stdio: ['ignore', log, log],
  });
  child.exited = new Promise((r) => child.on('exit', r));
  children.add(child);
  return child;
}

/** herald with Soketi's variables: main port, metrics port, and extra settings. */
export function herald(name, port, metricsPort, env = {}) {
  return run(name, HERALD, [], heraldEnv(port, metricsPort, env));
}

export function heraldEnv(port, metricsPort, env = {}) {
  return {
    SOKETI_HOST: '127.0.0.1',
    SOKETI_PORT: String(port),
    SOKETI_METRICS_HOST: '127.0.0.1',
    SOKETI_METRICS_SERVER_PORT: String(metricsPort),
    HERALD_THREADS: '1',
    HERALD_LOG: 'herald=info',
    ...env,
  };
}

export function get(port, urlPath, timeout = 500) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

/** Poll GET /ready on `port` until it answers 200. */
export async function ready(port, ms = 10000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if ((await get(port, '/ready')) === 200) return Date.now();
    await sleep(10);
  }
  throw new Error(`nothing ready on ${port} within ${ms} ms`);
}

/** Wait until something accepts TCP connections on `port`. */
async function listening(port, what, ms = 5000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    const ok = await new Promise((r) => {
      const s = net.connect(port, '127.0.0.1', () => s.end(() => r(true)));
      s.on('error', () => r(false));
    });
    if (ok) return;
    await sleep(20);
  }
  throw new Error(`${what} did not start`);
}

export async function redis() {
  const port = await freePort();
  const child = run('redis', 'redis-server', ['--port', String(port), '--save', '', '--appendonly', 'no']);
  await listening(port, 'redis-server');
  return { port, child };
}

/** nats-server with JetStream on a free port, its store in the work dir. */
export async function nats() {
  const port = await freePort();
  const store = fs.mkdtempSync(path.join(workDir, 'nats-'));
  const child = run(`nats-${port}`, 'nats-server', ['-js', '-a', '127.0.0.1', '-p', String(port), '-sd', store]);
  await listening(port, 'nats-server');
  return { port, child };
}

/**
 * nginx with the shipped deploy/nginx/herald.conf, pointed at `upstreams`, on `port`; the ones
 * whose index is in `down` are marked `down`. `route(down)` rewrites that and reloads nginx.
 */
export function nginx(port, upstreams, down = []) {
  const site = (down) => {
    let text = fs.readFileSync(path.resolve(SUITE, '../deploy/nginx/herald.conf'), 'utf8');
    upstreams.forEach((u, i) => {
      const mark = down.includes(i) ? ' down' : '';
      text = text.replace(new RegExp(`herald-${i + 1}:6001([^;]*);`), `127.0.0.1:${u}$1${mark};`);
    });
    return text.replace(/listen 80;/, `listen 127.0.0.1:${port};`);
  };
  let conf;
  const child = runNginx(`nginx-${port}`, (dir) => {
    conf = path.join(dir, 'herald.conf');
    fs.writeFileSync(conf, site(down));
    return `include ${conf};`;
  });
  child.route = (down) => {
    fs.writeFileSync(conf, site(down));
    child.kill('SIGHUP');
  };
  return child;
}

/**
 * nginx `name` in the foreground, in its own directory under the work dir; `http(dir)` gives
 * what its `http` block holds besides the temp paths.
 */
export function runNginx(name, http) {
  const dir = path.join(workDir, name);
  fs.mkdirSync(dir, { recursive: true });
  const temp = ['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']
    .map((t) => `${t}_temp_path ${dir}/${t};`)
    .join('\n    ');
  fs.writeFileSync(
    path.join(dir, 'nginx.conf'),
    `worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    ${temp}
    ${http(dir)}
}
`,
  );
  return run(name, 'nginx', ['-p', dir, '-c', path.join(dir, 'nginx.conf'), '-g', 'daemon off;']);
}

// ---------------------------------------------------------------- the page

export function sign(text) {
  return crypto.createHmac('sha256', APP.secret).update(text).digest('hex');
}

/** Ada, whatever the auth form says: the member every page but the fallback one joins as. */
const ADA = () => ({ user_id: 'u1', user_info: { name: 'Ada' } });

/**
 * Serves `page` (lib/page.html unless told), pusher-js and Echo from node_modules, and Laravel's
 * /broadcasting/auth, which signs presence for `member(form)` (the auth request's form fields).
 */
export async function pageServer(page = 'lib/page.html', member = ADA) {
  const files = {
    '/pusher.min.js': 'node_modules/pusher-js/dist/web/pusher.min.js',
    '/echo.iife.js': 'node_modules/laravel-echo/dist/echo.iife.js',
    '/': page,
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://localhost');
    if (req.method === 'POST' && url.pathname === '/broadcasting/auth') {
      let body = '';
      req.on('data', (d) => (body += d));
      req.on('end', () => {
        const form = new URLSearchParams(body);
        const socketId = form.get('socket_id');
        const channel = form.get('channel_name');
        const answer = {};
        let text = `${socketId}:${channel}`;
        if (channel.startsWith('presence-')) {
          answer.channel_data = JSON.stringify(member(form));
          text += `:${answer.channel_data}`;
        }
        answer.auth = `${APP.key}:${sign(text)}`;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer));
      });
      return;
    }
    const file = files[url.pathname];
    if (!file) {
      res.writeHead(404).end();
      return;
    }
    const type = file.endsWith('.js') ? 'text/javascript' : 'text/html';
    res.writeHead(200, { 'content-type': type });
    res.end(fs.readFileSync(path.join(SUITE, file)));
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: server.address().port };
}

export async function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
}

/** A page subscribed to the three channels through herald (or a proxy) on `wsPort`. */
export async function openPage(chrome, pagePort, wsPort) {
  const page = await chrome.newPage();
  await page.goto(`http://localhost:${pagePort}/?port=${wsPort}`);
  await page.waitForFunction(() => window.subscribedOn(window.socketId()), null, { timeout: 10000 });
  return page;
}

/** What the page saw: events, subscriptions and connection states, with their times. */
export function seen(page) {
  return page.evaluate(() => ({ events: window.seen, subs: window.subs, states: window.states }));
}

// ---------------------------------------------------------------- the publisher

/** POST one event (to the three channels unless told); resolves with the HTTP status (0: no answer). */
export function publish(port, data, { channels = Object.values(CHANNELS), name = 'tick' } = {}) {
  const body = JSON.stringify({ name, channels, data: JSON.stringify(data) });
  const pathname = `/apps/${APP.id}/events`;
  const query = new URLSearchParams({
    auth_key: APP.key,
    auth_timestamp: String(Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    body_md5: crypto.createHash('md5').update(body).digest('hex'),
  });
  query.set('auth_signature', sign(`POST\n${pathname}\n${query.toString()}`));
  return new Promise((resolve) => {
    const req = http.request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `${pathname}?${query}`,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
        agent: false,
        timeout: 5000,
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode));
      },
    );
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end(body);
  });
}

/** Publish a numbered event every `every` ms until stopped; returns the log of publishes. */
export function publisher(port, every = 40) {
  const log = [];
  let seq = 0;
  let stopped = false;
  const inflight = new Set();
  const timer = setInterval(() => {
    const entry = { seq: ++seq, sent: Date.now(), acked: null, status: null };
    log.push(entry);
    const p = publish(port, { seq: entry.seq }).then((status) => {
      entry.status = status;
      entry.acked = Date.now();
      inflight.delete(p);
    });
    inflight.add(p);
  }, every);
  return {
    log,
    async stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      await Promise.all(inflight);
    },
  };
}

/**
 * The page's outage around `term` (ms since the epoch) and what it missed. For each channel,
 * the longest time without an event from `term` on; the outage is the worst channel's. `back`
 * is when the page had all three subscriptions again on its new socket (or `term` when it kept
 * its socket); `lost` are the publishes acknowledged (200) and sent after `back` that some
 * channel never showed, `missed` those acknowledged before it that it never showed.
 */
export function measure(view, log, term) {
  const gaps = {};
  for (const name of Object.keys(CHANNELS)) {
    const times = view.events.filter((e) => e.ch === name).map((e) => e.t);
    let gap = 0;
    let last = term;
    for (const t of times) {
      if (t <= term) continue;
      gap = Math.max(gap, t - last);
      last = t;
    }
    gaps[name] = times.some((t) => t > term) ? gap : Infinity;
  }
  const before = view.subs.filter((s) => s.t <= term).map((s) => s.socket);
  const first = before[before.length - 1];
  const later = view.subs.filter((s) => s.t > term && s.socket !== first);
  const moved = later.length > 0;
  const back = moved
    ? Math.max(...Object.keys(CHANNELS).map((ch) => Math.min(...later.filter((s) => s.ch === ch).map((s) => s.t))))
    : term;
  const got = new Map(Object.keys(CHANNELS).map((ch) => [ch, new Set()]));
  for (const e of view.events) got.get(e.ch)?.add(e.seq);
  const unseen = (p) => [...got.values()].some((s) => !s.has(p.seq));
  const acked = log.filter((p) => p.status === 200);
  return {
    gap: Math.max(...Object.values(gaps)),
    gaps,
    moved,
    back: back - term,
    lost: acked.filter((p) => p.sent > back && unseen(p)).map((p) => p.seq),
    missed: acked.filter((p) => p.sent > term && p.sent <= back && unseen(p)).length,
    refused: log.filter((p) => p.sent > term && p.status !== 200).length,
  };
}
