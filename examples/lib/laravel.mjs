// What a Laravel backend does for broadcasting, in a few lines of Node, so the examples need no PHP:
//
// - `broadcast(event, channels, payload, {socket})` is Laravel's PusherBroadcaster::broadcast():
//   the event name as Laravel sends it (the class name `App\Events\UserCreated`, or a `broadcastAs()`
//   name), the payload json_encode()d the way PHP does it (`\/` and `\uXXXX`), `toOthers()` as the
//   `socket_id` parameter. It publishes with the official `pusher` server SDK, as pusher-http-php does.
// - `Broadcast.channel(pattern, callback)` and `Broadcast.auth()` are routes/channels.php and
//   Broadcast::auth(): the `private-` / `presence-` prefix stripped, `{id}` placeholders matched,
//   a falsy answer is 403, a private channel gets `{"auth": "key:hmac(socket_id:channel)"}`, a
//   presence channel `{"auth": ..., "channel_data": json_encode(['user_id' => (string) $id,
//   'user_info' => $result])}` signed over `socket_id:channel:channel_data`.
// - `Broadcast.user()` and `.userAuth()` are Broadcast::resolveAuthenticatedUserUsing() and
//   /broadcasting/user-auth (pusher-js `signin()`): `{"auth": "key:hmac(socket_id::user::user_data)",
//   "user_data": ...}`, after which server-to-user events (`pusher.sendToUser()`) reach that user.
// - `serve()` is the web app: static pages, the vendored pusher-js and laravel-echo builds from
//   node_modules (no CDN), `/config.js` (the VITE_PUSHER_* values), JSON routes, Bearer tokens.
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Pusher from 'pusher';

const here = path.dirname(fileURLToPath(import.meta.url));
const EXAMPLES = path.resolve(here, '..');

/** The Laravel `.env` values (PUSHER_*), with herald's `make run` defaults. */
export const env = {
  appId: process.env.PUSHER_APP_ID || 'app-id',
  key: process.env.PUSHER_APP_KEY || 'app-key',
  secret: process.env.PUSHER_APP_SECRET || 'app-secret',
  host: process.env.PUSHER_HOST || '127.0.0.1',
  port: Number(process.env.PUSHER_PORT || 6001),
  scheme: process.env.PUSHER_SCHEME || 'http',
};

export const pusher = new Pusher({
  appId: env.appId,
  key: env.key,
  secret: env.secret,
  host: env.host,
  port: String(env.port),
  useTLS: env.scheme === 'https',
});

/** PHP's json_encode() with its default flags: `/` as `\/`, every non-ASCII unit as `\uXXXX`. */
export function phpJson(value) {
  return JSON.stringify(value)
    .replace(/\//g, '\\/')
    .replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/**
 * broadcast(new Event(...)) with `ShouldBroadcastNow`: one API call per 100 channels, the
 * payload as PHP encodes it, `socket` (from `->toOthers()`) excluded. Resolves when herald answers.
 */
export async function broadcast(event, channels, payload, { socket } = {}) {
  const params = socket ? { socket_id: socket } : undefined;
  for (let i = 0; i < channels.length; i += 100) {
    const res = await pusher.trigger(channels.slice(i, i + 100), event, phpJson(payload), params);
    if (res.status !== 200) throw new Error(`Pusher error: ${await res.text()}.`);
  }
}

function sign(text) {
  return crypto.createHmac('sha256', env.secret).update(text).digest('hex');
}

/** routes/channels.php and Broadcast::auth(). */
export class Broadcast {
  constructor() {
    this.routes = [];
  }

  /** Broadcast::channel('user.{id}', fn (user, id) => ...): true/false, or user_info for presence. */
  channel(pattern, callback) {
    const literal = (t) => t.replace(/[.*+?^$()|[\]\\]/g, '\\$&');
    const source = pattern.split(/\{[^}]*\}/).map(literal).join('([^.]+)');
    this.routes.push({ regex: new RegExp(`^${source}$`), callback });
    return this;
  }

  /** The answer to POST /broadcasting/auth: `{status, body}` (403 with an empty body on refusal). */
  auth(user, socketId, channelName) {
    const denied = { status: 403, body: '' };
    if (!user || !channelName || !/^\d+\.\d+$/.test(socketId || '')) return denied;
    const bare = channelName.replace(/^(private-encrypted-|private-|presence-)/, '');
    const route = this.routes.find((r) => r.regex.test(bare));
    if (!route) return denied;
    const args = bare.match(route.regex).slice(1);
    const result = route.callback(user, ...args);
    if (!result) return denied;
    if (channelName.startsWith('presence-')) {
      const data = { user_id: String(user.id), user_info: result };
      const channelData = phpJson(data);
      const auth = `${env.key}:${sign(`${socketId}:${channelName}:${channelData}`)}`;
      return { status: 200, body: phpJson({ auth, channel_data: channelData }) };
    }
    return { status: 200, body: phpJson(pusher.authorizeChannel(socketId, channelName)) };
  }

  /** Broadcast::resolveAuthenticatedUserUsing(fn (user) => ['id' => ..., 'user_info' => ...]). */
  user(callback) {
    this.resolveUser = callback;
    return this;
  }

  /**
   * The answer to POST /broadcasting/user-auth (pusher.signin()): `{"auth": "key:hmac(socket_id::user::
   * user_data)", "user_data": json_encode($user)}`, 403 when there is no user.
   */
  userAuth(user, socketId) {
    const data = user && this.resolveUser && this.resolveUser(user);
    if (!data || !/^\d+\.\d+$/.test(socketId || '')) return { status: 403, body: '' };
    const userData = phpJson(data);
    const auth = `${env.key}:${sign(`${socketId}::user::${userData}`)}`;
    return { status: 200, body: phpJson({ auth, user_data: userData }) };
  }
}

const TYPES = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.css': 'text/css', '.png': 'image/png' };

function sendFile(res, file) {
  fs.readFile(file, (err, bytes) => {
    if (err) return res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-type': TYPES[path.extname(file)] || 'application/octet-stream' });
    res.end(bytes);
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
      if (body.length > 65536) req.destroy();
    });
    req.on('end', () => resolve(body));
    req.on('error', reject);
  });
}

function parse(req, body) {
  const type = req.headers['content-type'] || '';
  if (type.startsWith('application/json')) return body ? JSON.parse(body) : {};
  return Object.fromEntries(new URLSearchParams(body));
}

/** Demo sign-in: `POST /login {"user": id}` gives a token; requests carry `Authorization: Bearer`. */
export class Sessions {
  constructor(users) {
    this.users = users;
    this.tokens = new Map();
  }

  /** A new user (a visitor starting a chat): returns its token. */
  add(user) {
    this.users.push(user);
    return this.login(user.id);
  }

  login(id) {
    const user = this.users.find((u) => String(u.id) === String(id));
    if (!user) return null;
    const token = crypto.randomBytes(16).toString('hex');
    this.tokens.set(token, user);
    return token;
  }

  user(req) {
    const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
    return m ? this.tokens.get(m[1]) : undefined;
  }
}

/**
 * The example's web app on `port`: `public/` of the example, `/shared/*` (lib/public), the vendored
 * client libraries, `/config.js`, POST /login, POST /broadcasting/auth and /broadcasting/user-auth,
 * and the example's `routes`:
 * `{'POST /users': async ({user, body, socket, req}) => ({status, json})}` for signed-in users,
 * `guest` the same for anybody.
 */
export function serve({ dir, port, sessions, channels, routes = {}, guest = {}, pages = {} }) {
  const vendor = {
    '/vendor/pusher.min.js': path.join(EXAMPLES, 'node_modules/pusher-js/dist/web/pusher.min.js'),
    '/vendor/echo.iife.js': path.join(EXAMPLES, 'node_modules/laravel-echo/dist/echo.iife.js'),
  };
  const server = http.createServer(async (req, res) => {
    const url = new URL(req.url, 'http://localhost');
    const json = (status, value) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(typeof value === 'string' ? value : JSON.stringify(value));
    };
    try {
      if (req.method === 'GET') {
        if (vendor[url.pathname]) return sendFile(res, vendor[url.pathname]);
        if (url.pathname === '/config.js') {
          res.writeHead(200, { 'content-type': 'text/javascript' });
          const config = { key: env.key, wsHost: env.host, wsPort: env.port, forceTLS: env.scheme === 'https' };
          return res.end(`window.HERALD = ${JSON.stringify(config)};`);
        }
        if (url.pathname === '/demo-users') return json(200, sessions.users);
        if (url.pathname.startsWith('/shared/')) {
          return sendFile(res, path.join(here, 'public', path.basename(url.pathname)));
        }
        const page = typeof pages === 'function' ? pages(req, url) : pages[url.pathname];
        if (page) return sendFile(res, path.join(dir, 'public', page));
        if (url.pathname === '/') return sendFile(res, path.join(dir, 'public', 'index.html'));
        if (/^\/[\w-]+\.(css|js|png)$/.test(url.pathname)) return sendFile(res, path.join(dir, 'public', url.pathname));
      }
      const body = req.method === 'POST' ? parse(req, await readBody(req)) : {};
      const user = sessions.user(req);
      if (req.method === 'POST' && url.pathname === '/login') {
        const token = sessions.login(body.user);
        if (!token) return json(422, { message: 'No such user.' });
        return json(200, { token, user: sessions.tokens.get(token) });
      }
      if (req.method === 'POST' && url.pathname === '/broadcasting/auth') {
        const answer = channels.auth(user, body.socket_id, body.channel_name);
        if (answer.status !== 200) console.log(`auth refused: ${user ? user.name : 'guest'} on ${body.channel_name}`);
        return json(answer.status, answer.body);
      }
      const key = `${req.method} ${url.pathname}`;
      if (req.method === 'POST' && url.pathname === '/broadcasting/user-auth') {
        const answer = channels.userAuth(user, body.socket_id);
        if (answer.status !== 200) console.log('user sign-in refused');
        return json(answer.status, answer.body);
      }
      const route = routes[key] || guest[key];
      if (!route) return json(404, { message: 'Not found.' });
      if (!user && !guest[key]) return json(401, { message: 'Unauthenticated.' });
      const socket = req.headers['x-socket-id'];
      const out = (await route({ user, body, socket, req, url })) || {};
      return json(out.status || 200, out.json || {});
    } catch (err) {
      console.error(err);
      return json(500, { message: String(err.message || err) });
    }
  });
  const host = process.env.HOST || '127.0.0.1';
  server.listen(port, host, () => {
    console.log(`listening on http://${host === '127.0.0.1' ? 'localhost' : host}:${server.address().port}/`);
    console.log(`broadcasting to herald at ${env.scheme}://${env.host}:${env.port} (app ${env.appId})`);
  });
  return server;
}
