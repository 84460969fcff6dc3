// The fallback suite's pieces: nginx set up the way a WebSocket-hostile proxy is, serving the
// page and proxying herald's HTTP transports, and a page server whose auth endpoint signs
// presence for the user the page names.
import crypto from 'node:crypto';
import http from 'node:http';
import { APP, pageServer as harnessPageServer, runNginx, sign } from './harness.mjs';

/**
 * nginx on `port`: the page from `pagePort`, everything else to herald on `heraldPort` over
 * HTTP/1.0 (nginx's default) without the `Upgrade` and `Connection` headers, so a WebSocket
 * handshake reaches herald as a plain GET and fails, as behind a proxy that does not know them.
 */
export function hostileProxy(port, heraldPort, pagePort) {
  return runNginx(
    `nginx-hostile-${port}`,
    () => `server {
        listen 127.0.0.1:${port};
        location /app/ { proxy_pass http://127.0.0.1:${heraldPort}; proxy_http_version 1.0; }
        location /pusher/ { proxy_pass http://127.0.0.1:${heraldPort}; proxy_http_version 1.0; }
        location / { proxy_pass http://127.0.0.1:${pagePort}; }
    }`,
  );
}

/** Serves lib/fallback.html, pusher-js and Echo, and a /broadcasting/auth for the page's `user`. */
export function pageServer() {
  const user = (form) => ({ user_id: form.get('user'), user_info: { name: form.get('user') } });
  return harnessPageServer('lib/fallback.html', user);
}

/** POST a `toast` event to the `toasts` channel, signed as Laravel does; resolves with the status. */
export function toast(port, text) {
  const body = JSON.stringify({ name: 'toast', channel: 'toasts', data: JSON.stringify({ text }) });
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
      { host: '127.0.0.1', port, method: 'POST', path: `${pathname}?${query}`, agent: false, timeout: 5000,
        headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => { res.resume(); res.on('end', () => resolve(res.statusCode)); },
    );
    req.on('error', () => resolve(0));
    req.end(body);
  });
}
