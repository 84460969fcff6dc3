// Test harness for the herald protocol suite.
//
// Two modes:
//   * local (default): every test that needs a server starts its own
//     `herald --config <tmp>/herald.toml` on a free port (HERALD_BIN overrides
//     the binary) and stops it with SIGTERM afterwards.
//   * target: when PUSHER_HOST is set (with PUSHER_PORT, PUSHER_APP_ID,
//     PUSHER_APP_KEY, PUSHER_APP_SECRET) the cases run against that running
//     server; cases that need their own server settings are skipped.
import { spawn, spawnSync } from 'node:child_process';
import { EventEmitter, once } from 'node:events';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import crypto from 'node:crypto';
import { after } from 'node:test';
import assert from 'node:assert/strict';

import PusherJs from 'pusher-js'; // Node build: includes tweetnacl, so encrypted channels work
import PusherServer from 'pusher';
import WebSocket from 'ws';

const here = path.dirname(fileURLToPath(import.meta.url));
export const SUITE_DIR = path.resolve(here, '..');
export const HERALD_BIN = process.env.HERALD_BIN || path.resolve(SUITE_DIR, '../target/release/herald');
export const TARGET = Boolean(process.env.PUSHER_HOST);
export const LOG_DIR = path.join(SUITE_DIR, '.logs');

// A fixed 32-byte master key for end-to-end encrypted channels (only the
// server SDK and the auth endpoint know it; herald never sees it).
export const MASTER_KEY_BASE64 = Buffer.alloc(32, 7).toString('base64');

export const DEFAULT_APP = { id: 'app-id', key: 'app-key', secret: 'app-secret' };

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// When a test file has finished but something keeps its process alive, say what.
after(() => {
  setTimeout(() => {
    const handles = process._getActiveHandles().map((h) => {
      const name = h?.constructor?.name || typeof h;
      return h instanceof net.Socket
        ? `${name}(${h.localPort}->${h.remotePort} destroyed=${h.destroyed} pending=${h.pending} fd=${h._handle?.fd} type=${h._handle?.constructor?.name} readable=${h.readable} writable=${h.writable})`
        : name;
    });
    const socks = [...pusherSockets].map((k) => `${k.url}:${k.readyState}:${k._closeTimer ? 'timer' : '-'}`);
    process.stderr.write(
      `[harness] process still alive 5 s after the last test; resources: ${process.getActiveResourcesInfo().join(', ')}; handles: ${handles.join(', ')}; pusher-js sockets: ${socks.join(' ')}\n`,
    );
  }, 5000).unref();
});

// ---------------------------------------------------------------- ports

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

// ---------------------------------------------------------------- waiting

/** Wait for one emission of `event` on a pusher-js Dispatcher (bind/unbind) or a Node EventEmitter. */
export function waitFor(emitter, event, ms = 3000, filter = () => true) {
  return new Promise((resolve, reject) => {
    let done = false;
    const finish = (fn, v) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      off();
      fn(v);
    };
    const handler = (data, meta) => {
      if (filter(data, meta)) finish(resolve, data);
    };
    let off;
    if (typeof emitter.bind === 'function' && typeof emitter.unbind === 'function') {
      emitter.bind(event, handler);
      off = () => emitter.unbind(event, handler);
    } else {
      emitter.on(event, handler);
      off = () => emitter.off(event, handler);
    }
    const timer = setTimeout(
      () => finish(reject, new Error(`timed out after ${ms} ms waiting for "${event}"`)),
      ms,
    );
  });
}

/** Poll `cond` until it is truthy. */
export async function until(cond, ms = 3000, what = 'condition', step = 20) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await cond();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(step);
  }
}

/** Record every emission of `event` on a pusher-js object: returns an array of {data, meta}. */
export function collect(emitter, event) {
  const seen = [];
  emitter.bind(event, (data, meta) => seen.push({ data, meta }));
  return seen;
}

// ---------------------------------------------------------------- TOML config

function tomlValue(v) {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new Error(`unsupported TOML value ${v}`);
}

function tomlTable(obj) {
  return Object.entries(obj)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => `${k} = ${tomlValue(v)}`)
    .join('\n');
}

/** Render a herald config (see docs/CONFIG.md). */
export function toToml({ server = {}, apps = [], extra = '' }) {
  let out = `[server]\n${tomlTable(server)}\n`;
  for (const app of apps) out += `\n[[apps]]\n${tomlTable(app)}\n`;
  if (extra) out += `\n${extra}\n`;
  return out;
}

// ---------------------------------------------------------------- herald process

let serial = 0;
const running = new Set(); // herald children, killed if this process exits early
process.on('exit', () => {
  for (const child of running) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

export class Herald {
  constructor({ server = {}, app = {}, apps = [], extra = '', name = 'herald' } = {}) {
    this.name = name;
    this.serverCfg = { ...server };
    this.apps = [{ ...DEFAULT_APP, ...app }, ...apps];
    this.extra = extra;
    this.host = '127.0.0.1';
    this.app = this.apps[0];
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-pt-'));
    this.configPath = path.join(this.dir, 'herald.toml');
    fs.mkdirSync(LOG_DIR, { recursive: true });
    this.logPath = path.join(LOG_DIR, `${process.pid}-${++serial}-${name.replace(/[^\w.-]+/g, '_').slice(0, 60)}.log`);
    this.child = null;
    this.exited = null;
  }

  get port() {
    return this.serverCfg.port;
  }

  async start() {
    if (!fs.existsSync(HERALD_BIN)) {
      throw new Error(`herald binary not found at ${HERALD_BIN} (build it with cargo build --release or set HERALD_BIN)`);
    }
    if (!this.serverCfg.port) this.serverCfg.port = await freePort();
    const cfg = {
      server: { host: this.host, shutdown_grace_period_ms: 300, ...this.serverCfg },
      apps: this.apps,
      extra: this.extra,
    };
    fs.writeFileSync(this.configPath, toToml(cfg));
    const log = fs.openSync(this.logPath, 'a');
    fs.writeSync(log, `# ${new Date().toISOString()} ${HERALD_BIN} --config ${this.configPath}\n${toToml(cfg)}\n# ---- output\n`);
    this.child = spawn(HERALD_BIN, ['--config', this.configPath], {
      stdio: ['ignore', log, log],
      env: { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info' },
    });
    fs.closeSync(log);
    const child = this.child;
    running.add(child);
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        running.delete(child);
        resolve({ code, signal });
      }),
    );
    await this.waitReady();
    return this;
  }

  async waitReady(ms = 10000) {
    const end = Date.now() + ms;
    let exited = null;
    this.exited.then((e) => (exited = e));
    while (Date.now() < end) {
      if (exited) throw new Error(`herald exited during startup (${JSON.stringify(exited)}); log: ${this.tail()}`);
      const scheme = this.serverCfg.tls_cert ? 'https' : 'http';
      const status = await httpStatus(`${scheme}://${this.host}:${this.port}/ready`);
      if (status === 200) return;
      await sleep(50);
    }
    throw new Error(`herald not ready after ${ms} ms; log: ${this.tail()}`);
  }

  tail(n = 30) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-n).join('\n');
    } catch {
      return '';
    }
  }

  /** SIGTERM and wait for exit (SIGKILL after `ms`). */
  async stop(ms = 5000) {
    if (!this.child || this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), ms);
    await this.exited;
    clearTimeout(t);
  }

  async restart() {
    await this.stop();
    await this.start();
  }
}

function httpStatus(url) {
  return new Promise((resolve) => {
    // A readiness probe only: TLS tests check the certificate with their own clients.
    const get = url.startsWith('https:') ? (u, cb) => https.get(u, { rejectUnauthorized: false }, cb) : http.get;
    const req = get(url, (res) => {
      res.resume();
      resolve(res.statusCode);
    });
    req.on('error', () => resolve(0));
    req.setTimeout(1000, () => {
      req.destroy();
      resolve(0);
    });
  });
}

// ---------------------------------------------------------------- server descriptors

/** A server the clients talk to: host, port and the app credentials. */
export class Target {
  constructor({ host, port, app, herald = null }) {
    this.host = host;
    this.port = port;
    this.app = app;
    this.herald = herald;
    this.scopes = new Set(); // client scopes to close before the server stops
  }
  get key() {
    return this.app.key;
  }
  get wsUrlBase() {
    return `ws://${this.host}:${this.port}`;
  }
  get httpBase() {
    return `http://${this.host}:${this.port}`;
  }
  async stop() {
    for (const scope of this.scopes) await scope.close();
    if (this.herald) await this.herald.stop();
  }
}

export function remoteTarget() {
  return new Target({
    host: process.env.PUSHER_HOST,
    port: Number(process.env.PUSHER_PORT || 6001),
    app: {
      id: process.env.PUSHER_APP_ID || DEFAULT_APP.id,
      key: process.env.PUSHER_APP_KEY || DEFAULT_APP.key,
      secret: process.env.PUSHER_APP_SECRET || DEFAULT_APP.secret,
    },
  });
}

function needsConfig(opts) {
  if (!opts) return false;
  const nonEmpty = (o) => o && (Array.isArray(o) ? o.length > 0 : Object.keys(o).length > 0);
  return nonEmpty(opts.server) || nonEmpty(opts.app) || nonEmpty(opts.apps) || Boolean(opts.extra) || opts.local;
}

/**
 * A server for one test. Local mode: a fresh herald with `opts` (server, app,
 * apps, extra), stopped after the test. Target mode: the remote server, or
 * `null` after `t.skip('needs server config')` when `opts` asks for settings.
 */
export async function serverFor(t, opts = {}) {
  if (TARGET) {
    if (needsConfig(opts)) {
      t.skip('needs server config');
      return null;
    }
    return remoteTarget();
  }
  const herald = new Herald({ ...opts, name: t.fullName || t.name });
  const target = new Target({ host: herald.host, port: 0, app: herald.app, herald });
  t.after(() => target.stop()); // closes the test's clients first, then SIGTERM
  await herald.start();
  target.port = herald.port;
  return target;
}

/** A default-config server shared by the tests of one file (call in before(), stop in after()). */
export async function sharedServer(name = 'shared') {
  if (TARGET) return remoteTarget();
  const herald = new Herald({ name });
  await herald.start();
  return new Target({ host: herald.host, port: herald.port, app: herald.app, herald });
}

// ---------------------------------------------------------------- clients

export function serverSdk(target, extra = {}) {
  return new PusherServer({
    appId: target.app.id,
    key: target.app.key,
    secret: target.app.secret,
    host: target.host,
    port: target.port,
    useTLS: false,
    encryptionMasterKeyBase64: MASTER_KEY_BASE64,
    ...extra,
  });
}

export function pusherOptions(target, extra = {}) {
  return {
    cluster: 'mt1',
    wsHost: target.host,
    wsPort: target.port,
    wssPort: target.port,
    forceTLS: false,
    enabledTransports: ['ws'],
    disableStats: true,
    ...extra,
  };
}

/** Resolve when `pusher.connection.state` becomes one of `states`. */
export function waitState(pusher, states, ms = 5000) {
  states = [].concat(states);
  if (states.includes(pusher.connection.state)) return Promise.resolve(pusher.connection.state);
  return waitFor(pusher.connection, 'state_change', ms, (s) => states.includes(s.current)).then((s) => s.current);
}

/**
 * Watches connected pusher-js client `p` across a graceful restart of its server (its socket id
 * now, the errors it reports from now on). The returned check, once the server is back: `p` is
 * connected again with a new socket id, reported 4200, re-subscribed to `ch` (the channel
 * `survives-restart`) and receives an event `s`'s server SDK sends there.
 */
export function restartWatch(p) {
  const firstId = p.connection.socket_id;
  const errors = [];
  p.connection.bind('error', (e) => errors.push(e));
  return async (s, ch) => {
    await waitState(p, 'connected', 20000);
    assert.notEqual(p.connection.socket_id, firstId);
    const codes = errors.map((e) => e?.error?.data?.code ?? e?.data?.code);
    assert.ok(codes.includes(4200), `pusher-js should report 4200, saw ${JSON.stringify(codes)}`);
    // pusher-js re-subscribes its channels on the new connection
    await until(() => ch.subscribed, 5000, 're-subscription');
    const got = waitFor(ch, 'after-restart', 3000);
    await s.sdk().trigger('survives-restart', 'after-restart', { ok: true });
    assert.deepEqual(await got, { ok: true });
  };
}

export function subscribed(channel, ms = 3000) {
  if (channel.subscribed) return Promise.resolve(channel);
  return new Promise((resolve, reject) => {
    const ok = () => done(() => resolve(channel));
    const fail = (e) => done(() => reject(new Error(`subscription to ${channel.name} failed: ${JSON.stringify(e)}`)));
    const timer = setTimeout(
      () => done(() => reject(new Error(`timed out after ${ms} ms waiting for subscription to ${channel.name}`))),
      ms,
    );
    const done = (fn) => {
      clearTimeout(timer);
      channel.unbind('pusher:subscription_succeeded', ok);
      channel.unbind('pusher:subscription_error', fail);
      fn();
    };
    channel.bind('pusher:subscription_succeeded', ok);
    channel.bind('pusher:subscription_error', fail);
  });
}

// pusher-js (Node build, faye-websocket) arms a 30 s close timer whenever it
// closes a socket, even one the server already closed (e.g. after 4001/4009);
// that timer keeps the test process alive. Record every socket pusher-js
// creates (through its Runtime) and clear those timers once clients are closed.
const pusherSockets = new Set();
const origCreateWebSocket = PusherJs.Runtime.createWebSocket.bind(PusherJs.Runtime);
PusherJs.Runtime.createWebSocket = (url) => {
  const sock = origCreateWebSocket(url);
  pusherSockets.add(sock);
  return sock;
};

function releaseSockets() {
  setTimeout(() => {
    for (const sock of pusherSockets) {
      if (sock._closeTimer) clearTimeout(sock._closeTimer);
      if (sock.readyState === 3) pusherSockets.delete(sock);
    }
  }, 50);
}
after(() => releaseSockets());

/**
 * Per-test client factory: everything it creates is closed when the test ends.
 */
export class Scope {
  constructor(t, target) {
    this.target = target;
    this.closers = [];
    this._sdk = null;
    target.scopes.add(this);
    t.after(() => this.close());
  }

  sdk(extra) {
    if (extra) return serverSdk(this.target, extra);
    if (!this._sdk) this._sdk = serverSdk(this.target);
    return this._sdk;
  }

  pusher(extra = {}, key = this.target.key) {
    const p = new PusherJs(key, pusherOptions(this.target, extra));
    this.closers.push(() => {
      p.disconnect();
      releaseSockets();
    });
    return p;
  }

  async connected(extra = {}) {
    const p = this.pusher(extra);
    await waitState(p, 'connected');
    return p;
  }

  async echo(extra = {}) {
    const echo = await this._echo(extra);
    this.closers.push(() => releaseSockets());
    return echo;
  }

  async _echo(extra) {
    const { default: Echo } = await import('laravel-echo');
    const echo = new Echo({
      broadcaster: 'pusher',
      Pusher: PusherJs,
      key: this.target.key,
      ...pusherOptions(this.target),
      ...extra,
    });
    this.closers.push(() => echo.disconnect());
    await waitState(echo.connector.pusher, 'connected');
    return echo;
  }

  async raw(key = this.target.key, query = '?protocol=7&client=js&version=8.6.0&flash=false') {
    const c = new RawClient(`${this.target.wsUrlBase}/app/${key}${query}`);
    this.closers.push(() => c.close());
    await c.opened;
    return c;
  }

  async authServer(opts = {}) {
    const a = await AuthServer.start({ sdk: this.sdk(), ...opts });
    this.closers.push(() => a.close());
    return a;
  }

  add(closer) {
    this.closers.push(closer);
  }

  async close() {
    this.target.scopes.delete(this);
    for (const c of this.closers.reverse()) {
      try {
        await c();
      } catch {
        /* already closed */
      }
    }
    this.closers = [];
  }
}

// ---------------------------------------------------------------- raw WebSocket client

/** A raw `ws` client that records every frame exactly as received. */
export class RawClient extends EventEmitter {
  constructor(url) {
    super();
    this.url = url;
    this.frames = []; // {raw, msg, taken}
    this.ws = new WebSocket(url);
    this.opened = new Promise((resolve, reject) => {
      this.ws.once('open', resolve);
      this.ws.once('error', reject);
    });
    this.closed = new Promise((resolve) => {
      this.ws.once('close', (code, reason) => resolve({ code, reason: reason.toString() }));
    });
    this.ws.on('error', () => {});
    this.ws.on('message', (buf) => {
      const raw = buf.toString('utf8');
      let msg = null;
      try {
        msg = JSON.parse(raw);
      } catch {
        /* keep raw */
      }
      const frame = { raw, msg, taken: false };
      this.frames.push(frame);
      this.emit('frame', frame);
    });
  }

  get isOpen() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(obj) {
    this.ws.send(typeof obj === 'string' ? obj : JSON.stringify(obj));
  }

  /** Wait for (and consume) the first unconsumed frame whose parsed message matches `pred`. */
  next(pred = () => true, ms = 3000, what = 'frame') {
    if (typeof pred === 'string') {
      const ev = pred;
      what = ev;
      pred = (m) => m && m.event === ev;
    }
    return new Promise((resolve, reject) => {
      const scan = () => {
        for (const f of this.frames) {
          if (!f.taken && pred(f.msg, f.raw)) {
            f.taken = true;
            return f;
          }
        }
        return null;
      };
      const hit = scan();
      if (hit) return resolve(hit.msg ? Object.assign(hit.msg, { __raw: hit.raw }) : hit);
      const onFrame = () => {
        const f = scan();
        if (f) {
          cleanup();
          resolve(f.msg ? Object.assign(f.msg, { __raw: f.raw }) : f);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `timed out after ${ms} ms waiting for ${what}; frames so far: ${this.frames
              .map((f) => f.raw.slice(0, 300))
              .join(' | ')}`,
          ),
        );
      }, ms);
      const cleanup = () => {
        clearTimeout(timer);
        this.off('frame', onFrame);
      };
      this.on('frame', onFrame);
    });
  }

  /** Frames (parsed) matching pred that arrived so far. */
  matching(pred) {
    return this.frames.filter((f) => pred(f.msg, f.raw));
  }

  async established(ms = 3000) {
    const m = await this.next('pusher:connection_established', ms);
    this.establishedFrame = m;
    this.connection = typeof m.data === 'string' ? JSON.parse(m.data) : m.data;
    this.socketId = this.connection.socket_id;
    return this.connection;
  }

  /** Send pusher:subscribe and wait for subscription_succeeded or an error for that channel. */
  async subscribe(channel, { auth, channel_data } = {}, ms = 3000) {
    const data = { auth: auth ?? '', channel };
    if (channel_data !== undefined) data.channel_data = channel_data;
    this.send({ event: 'pusher:subscribe', data });
    return this.next(
      (m) =>
        m &&
        m.channel === channel &&
        ['pusher_internal:subscription_succeeded', 'pusher:subscription_error', 'pusher:error'].includes(m.event),
      ms,
      `subscription result for ${channel}`,
    );
  }

  close() {
    if (this.ws.readyState === WebSocket.OPEN || this.ws.readyState === WebSocket.CONNECTING) {
      try {
        this.ws.terminate();
      } catch {
        /* ignore */
      }
    }
  }
}

/** Parse the double-encoded `data` of a server frame. */
export function frameData(m) {
  if (typeof m.data !== 'string') return m.data;
  try {
    return JSON.parse(m.data);
  } catch {
    return m.data;
  }
}

/** Wait for a raw client's close and return {code, reason}; rejects after ms. */
export function closedWithin(raw, ms) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`socket still open after ${ms} ms; frames: ${raw.frames.map((f) => f.raw.slice(0, 300)).join(' | ')}`)),
      ms,
    );
    raw.closed.then((c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
}

// ---------------------------------------------------------------- auth endpoint (Laravel-style)

/**
 * A local HTTP server that answers like Laravel's /broadcasting/auth and
 * /broadcasting/user-auth: form-urlencoded socket_id + channel_name, the user
 * taken from `Authorization: Bearer <token>` (looked up in `users`), signed
 * with the official server SDK.
 *
 * `users`: token -> { id, info }. The id is put into channel_data as given
 * (a number stays a number). Special behaviour per user:
 *   wrongSecret: true  -> sign with a wrong secret (the server must refuse)
 *   channelData: fn(socketId, channel) -> {auth, channel_data} override
 */
export class AuthServer {
  static async start(opts) {
    const a = new AuthServer(opts);
    await new Promise((r) => a.http.listen(0, '127.0.0.1', r));
    a.port = a.http.address().port;
    a.url = `http://127.0.0.1:${a.port}`;
    a.authEndpoint = `${a.url}/broadcasting/auth`;
    a.userAuthEndpoint = `${a.url}/broadcasting/user-auth`;
    return a;
  }

  constructor({ sdk, users = {}, override = null }) {
    this.sdk = sdk;
    this.users = users;
    this.override = override;
    this.requests = [];
    this.wrongSdk = new PusherServer({
      appId: sdk.config.appId,
      key: sdk.config.token.key,
      secret: 'definitely-not-the-secret',
      host: '127.0.0.1',
      encryptionMasterKeyBase64: MASTER_KEY_BASE64,
    });
    this.http = http.createServer((req, res) => this.handle(req, res));
  }

  handle(req, res) {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      const params = Object.fromEntries(new URLSearchParams(body));
      const token = (req.headers.authorization || '').replace(/^Bearer\s+/i, '');
      const user = this.users[token];
      this.requests.push({ path: req.url, params, token, headers: req.headers });
      const reply = (status, obj) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(obj));
      };
      try {
        if (this.override) {
          const r = this.override({ path: req.url, params, token, user });
          if (r) return reply(r.status || 200, r.body);
        }
        if (!user) return reply(403, { message: 'This action is unauthorized.' });
        const sdk = user.wrongSecret ? this.wrongSdk : this.sdk;
        if (req.url.startsWith('/broadcasting/user-auth')) {
          return reply(200, sdk.authenticateUser(params.socket_id, { id: String(user.id), user_info: user.info }));
        }
        const channel = params.channel_name;
        if (channel.startsWith('presence-')) {
          const data = { user_id: user.id };
          if (user.info !== undefined) data.user_info = user.info;
          return reply(200, sdk.authorizeChannel(params.socket_id, channel, data));
        }
        return reply(200, sdk.authorizeChannel(params.socket_id, channel));
      } catch (e) {
        return reply(500, { message: String(e && e.message) });
      }
    });
  }

  /** pusher-js options pointing at this endpoint for the user behind `token`. */
  clientOptions(token) {
    const headers = { Authorization: `Bearer ${token}` };
    return {
      channelAuthorization: { endpoint: this.authEndpoint, transport: 'ajax', headers },
      userAuthentication: { endpoint: this.userAuthEndpoint, transport: 'ajax', headers },
    };
  }

  /** Laravel Echo options pointing at this endpoint for the user behind `token`. */
  echoOptions(token) {
    // Fresh header objects per Echo instance: Echo merges its options shallowly,
    // so with only `bearerToken` every Echo in one process would share (and
    // overwrite) the same default `auth.headers` object.
    return {
      authEndpoint: this.authEndpoint,
      auth: { headers: {} },
      userAuthentication: { endpoint: this.userAuthEndpoint, headers: {} },
      bearerToken: token,
    };
  }

  close() {
    return new Promise((r) => {
      this.http.closeAllConnections?.();
      this.http.close(() => r());
    });
  }
}

/** Sign a channel subscription by hand (for raw clients). */
export function signChannel(app, socketId, channel, channelData) {
  const str = channelData === undefined ? `${socketId}:${channel}` : `${socketId}:${channel}:${channelData}`;
  return `${app.key}:${crypto.createHmac('sha256', app.secret).update(str).digest('hex')}`;
}

// ---------------------------------------------------------------- raw HTTP API

/**
 * A signed HTTP API request, built by hand so tests can break one part of it.
 * opts: method, path (after /apps/{id}), body (string or object), params,
 * appId, secret, key, timestamp, bodyMd5 (override), signature (override).
 */
export async function apiRequest(target, opts = {}) {
  const method = (opts.method || 'GET').toUpperCase();
  const appId = opts.appId ?? target.app.id;
  const secret = opts.secret ?? target.app.secret;
  const key = opts.key ?? target.app.key;
  const fullPath = `/apps/${appId}${opts.path || ''}`;
  const body =
    opts.body === undefined ? undefined : typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body);
  const params = {
    auth_key: key,
    auth_timestamp: String(opts.timestamp ?? Math.floor(Date.now() / 1000)),
    auth_version: '1.0',
    ...(opts.params || {}),
  };
  if (body !== undefined) params.body_md5 = crypto.createHash('md5').update(body).digest('hex');
  const sorted = Object.keys(params)
    .sort()
    .map((k) => `${k}=${params[k]}`)
    .join('&');
  const signature =
    opts.signature ?? crypto.createHmac('sha256', secret).update(`${method}\n${fullPath}\n${sorted}`).digest('hex');
  const sent = { ...params };
  if (opts.bodyMd5 !== undefined) sent.body_md5 = opts.bodyMd5;
  const qs = new URLSearchParams({ ...sent, auth_signature: signature }).toString();
  const res = await fetch(`${target.httpBase}${fullPath}?${qs}`, {
    method,
    body,
    headers: body !== undefined ? { 'content-type': 'application/json' } : {},
  });
  const text = await res.text();
  let json = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, json, headers: res.headers };
}

// ---------------------------------------------------------------- cluster helpers

export function redisAvailable() {
  const r = spawnSync('redis-server', ['--version']);
  return r.status === 0;
}

function redisPing(port) {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1', () => {
      s.write('PING\r\n');
    });
    s.setTimeout(1000, () => {
      s.destroy();
      resolve(false);
    });
    s.on('data', (d) => {
      s.destroy();
      resolve(d.toString().startsWith('+PONG'));
    });
    s.on('error', () => resolve(false));
  });
}

const redisChildren = new Set(); // killed if this process exits early
process.on('exit', () => {
  for (const child of redisChildren) {
    try {
      child.kill('SIGKILL');
    } catch {
      /* gone */
    }
  }
});

/**
 * Start `redis-server` (no persistence) on a free port, or on `port`.
 * Returns {port, url, stop(), start()} (start() brings it back on the same
 * port after stop(), empty) or null when the binary is missing.
 */
export async function startRedis({ port } = {}) {
  if (!redisAvailable()) return null;
  port = port || (await freePort());
  let child = null;
  let exited = null;
  const r = {
    port,
    url: `redis://127.0.0.1:${port}/0`,
    get running() {
      return Boolean(child && child.exitCode === null && child.signalCode === null);
    },
    async start() {
      child = spawn(
        'redis-server',
        ['--port', String(port), '--save', '', '--appendonly', 'no', '--bind', '127.0.0.1'],
        { stdio: 'ignore' },
      );
      redisChildren.add(child);
      const c = child;
      exited = new Promise((res) =>
        c.once('exit', () => {
          redisChildren.delete(c);
          res();
        }),
      );
      await until(() => redisPing(port), 5000, 'redis-server to answer PING');
      return r;
    },
    /** SIGTERM (or `signal`) and wait for the exit. */
    async stop(signal = 'SIGTERM') {
      if (!r.running) return;
      child.kill(signal);
      await exited;
    },
  };
  return r.start();
}

/**
 * Start `n` herald nodes sharing `opts` (Herald options: server, app, apps,
 * extra). For a cluster pass `server: clusterServer(redis, prefix)`. Each node
 * gets its own health/metrics port (127.0.0.1, free) so nodes do not fight over
 * 9601. Returns the Herald instances (node i is named `<name>-<i>`).
 */
export async function startNodes(n, opts = {}) {
  const nodes = [];
  try {
    for (let i = 0; i < n; i++) {
      const server = { metrics_host: '127.0.0.1', metrics_port: await freePort(), ...(opts.server || {}) };
      const h = new Herald({ ...opts, server, name: `${opts.name || 'node'}-${i}` });
      nodes.push(h);
      await h.start();
    }
  } catch (e) {
    for (const h of nodes) await h.stop();
    throw e;
  }
  return nodes;
}

/** `[server]` settings that put a node on the Redis adapter. */
export function clusterServer(redis, prefix = `pt${process.pid}`) {
  return { adapter: 'redis', redis_url: redis.url, redis_prefix: prefix };
}

/** SIGKILL a herald node and wait for the exit. */
export async function killNode(h, signal = 'SIGKILL') {
  if (!h.child || h.child.exitCode !== null || h.child.signalCode !== null) return;
  h.child.kill(signal);
  await h.exited;
}

export { PusherJs, PusherServer, WebSocket };
