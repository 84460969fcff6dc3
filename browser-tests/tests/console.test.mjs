// The debug console (issue 13) in Debian's headless Chromium: a page with Laravel Echo and
// pusher-js joins three channels and a browser WebSocket sends a badly signed subscription;
// the console page lists each of these as it happens, with the refusal's reason in red, the
// string herald expected signed and the signature that arrived. It filters, pauses and
// publishes a test event that reaches the Echo page. SCREENSHOTS=1 writes docs/console.png.
import test from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as h from '../lib/harness.mjs';

const TOKEN = 'browser-console-token';

/** From inside a page: a raw WebSocket that subscribes with a made-up signature; its socket id. */
function refusedSubscription(port) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/app/app-key?protocol=7&client=js&version=8.4.0`);
    ws.onmessage = (m) => {
      const frame = JSON.parse(m.data);
      if (frame.event !== 'pusher:connection_established') return;
      const channel = 'private-orders';
      ws.send(JSON.stringify({ event: 'pusher:subscribe', data: { channel, auth: `app-key:${'f'.repeat(64)}` } }));
      resolve(JSON.parse(frame.data).socket_id);
    };
  });
}

test('the console lists what passes, explains a refusal, filters, pauses and publishes', async (t) => {
  const [port, metricsPort] = [await h.freePort(), await h.freePort()];
  const server = h.herald('herald-console', port, metricsPort, {
    HERALD_CONSOLE: 'true',
    HERALD_CONSOLE_TOKEN: TOKEN,
  });
  t.after(() => server.kill('SIGKILL'));
  await h.ready(metricsPort);
  const pages = await h.pageServer();
  t.after(() => pages.server.close());
  const chrome = await h.browser();
  t.after(() => chrome.close());

  const console_ = await chrome.newPage({ viewport: { width: 1440, height: 860 } });
  assert.equal(await h.get(metricsPort, `/console/app-id`), 401, 'the console opened without its token');
  await console_.goto(`http://127.0.0.1:${metricsPort}/console/app-id?token=${TOKEN}`);
  await console_.locator('#link', { hasText: 'live' }).waitFor({ timeout: 10000 });
  const row = (sel) => console_.locator(`#rows .row${sel}`);

  const app = await h.openPage(chrome, pages.port, port);
  await row('[data-kind="member-added"][data-channel="presence-deploy"]').waitFor({ timeout: 10000 });
  await row('[data-kind="subscribe"][data-channel="private-deploy"]').waitFor();
  assert.equal(await h.publish(port, { seq: 1 }), 200);
  await row('[data-kind="publish"][data-channel="private-deploy"][data-event="tick"]').waitFor();

  const socket = await app.evaluate(refusedSubscription, port);
  const refusal = row('[data-kind="refusal"][data-channel="private-orders"]');
  await refusal.waitFor({ timeout: 10000 });
  assert.match(await refusal.getAttribute('data-reason'), /unauthorized/i);
  const shown = await refusal.innerText();
  assert.ok(shown.includes(`${socket}:private-orders`), `no string to sign in:\n${shown}`);
  assert.ok(shown.includes('f'.repeat(64)), `no signature that arrived in:\n${shown}`);
  assert.ok(!shown.includes('app-secret'), 'the console shows the secret');
  const background = await refusal.evaluate((e) => getComputedStyle(e).backgroundColor);
  const plain = await row('[data-kind="publish"]').first().evaluate((e) => getComputedStyle(e).backgroundColor);
  assert.notEqual(background, plain, 'a refusal looks like any other row');
  await console_.locator('#channels tr[data-channel="presence-deploy"]').waitFor({ timeout: 5000 });

  await console_.fill('#f-channel', 'presence');
  assert.equal(await refusal.isVisible(), false, 'the channel filter kept another channel');
  assert.equal(await row('[data-channel="presence-deploy"]').first().isVisible(), true);
  await console_.fill('#f-channel', '');

  await console_.fill('#publish [name=channel]', 'deploy');
  await console_.fill('#publish [name=event]', 'tick');
  await console_.fill('#publish [name=data]', '{"seq":2}');
  await console_.click('#publish button');
  await console_.locator('#publish-result', { hasText: 'published' }).waitFor();
  await app.waitForFunction(() => window.seen.some((e) => e.ch === 'public' && e.seq === 2));

  const publishes = () => row('[data-kind="publish"]').count();
  await console_.click('#pause');
  const before = await publishes();
  assert.equal(await h.publish(port, { seq: 3 }), 200);
  await console_.locator('#paused-note', { hasText: '3 new while paused' }).waitFor();
  assert.equal(await publishes(), before, 'rows were added while paused');
  await console_.click('#pause');
  assert.equal(await publishes(), before + 3);

  if (process.env.SCREENSHOTS) {
    const file = path.resolve(h.SUITE, '../docs/console.png');
    await console_.screenshot({ path: file });
    console.log(`screenshot: ${file}`);
  }
});
