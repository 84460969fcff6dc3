// TLS on the main port (SOKETI_SSL_CERT / tls_cert): pusher-js with forceTLS over wss://
// and the pusher server SDK over https://, both verifying a certificate that openssl
// makes for the test (CN and SAN localhost).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import PusherJs from 'pusher-js';
import { Scope, serverFor, waitFor, waitState, subscribed } from '../lib/harness.mjs';

/** A self-signed certificate for localhost, or null when openssl is missing. */
function makeCert() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-pt-tls-'));
  const cert = path.join(dir, 'cert.pem');
  const key = path.join(dir, 'key.pem');
  const args = ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes',
    '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost'];
  const r = spawnSync('openssl', args, { stdio: 'pipe' });
  if (r.error || r.status !== 0) return null;
  return { dir, cert, key, ca: fs.readFileSync(cert) };
}

/** pusher-js's Node transport (faye-websocket) takes TLS options: hand it the test CA. */
function trustInPusherJs(t, ca) {
  const original = PusherJs.Runtime.getWebSocketAPI;
  const Faye = original.call(PusherJs.Runtime);
  PusherJs.Runtime.getWebSocketAPI = () =>
    function TrustingClient(url, protocols, options) {
      return new Faye(url, protocols, { ...options, tls: { ca } });
    };
  t.after(() => {
    PusherJs.Runtime.getWebSocketAPI = original;
  });
}

describe('tls', () => {
  it('pusher-js with forceTLS gets an event the server SDK published over https', async (t) => {
    const certs = makeCert();
    if (!certs) return t.skip('openssl is not installed');
    t.after(() => fs.rmSync(certs.dir, { recursive: true, force: true }));
    const srv = await serverFor(t, { server: { tls_cert: certs.cert, tls_key: certs.key } });
    if (!srv) return;
    trustInPusherJs(t, certs.ca);
    const s = new Scope(t, srv);
    const p = s.pusher({ wsHost: 'localhost', forceTLS: true, enabledTransports: ['ws', 'wss'] });
    await waitState(p, 'connected');
    assert.match(p.connection.socket_id, /^\d+\.\d+$/);
    const channel = await subscribed(p.subscribe('secure-news'));
    const got = waitFor(channel, 'flash');
    const sdk = s.sdk({ host: 'localhost', useTLS: true, agent: new https.Agent({ ca: certs.ca }) });
    const res = await sdk.trigger('secure-news', 'flash', { n: 1 });
    assert.equal(res.status, 200);
    assert.deepEqual(await got, { n: 1 });
  });

  it('the TLS port refuses plain ws:// clients', async (t) => {
    const certs = makeCert();
    if (!certs) return t.skip('openssl is not installed');
    t.after(() => fs.rmSync(certs.dir, { recursive: true, force: true }));
    const srv = await serverFor(t, { server: { tls_cert: certs.cert, tls_key: certs.key } });
    if (!srv) return;
    const s = new Scope(t, srv);
    await assert.rejects(s.raw());
  });
});
