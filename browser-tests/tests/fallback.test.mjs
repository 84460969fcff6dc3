// Pages behind a WebSocket-hostile proxy (issue 27): Echo + pusher-js 8 with default transports in
// headless Chromium, loaded through nginx that forwards no Upgrade and speaks HTTP/1.0 to herald.
// The page must connect over xhr_streaming (or xhr_polling when streaming is disabled), show
// toasts, see the other page in a presence channel, get its whispers, and come back after herald
// restarts. With herald's fallback off (as on main) the same page gets nothing.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from '../lib/harness.mjs';
import * as f from '../lib/fallback.mjs';

let chrome;
let pages;

before(async () => {
  chrome = await h.browser();
  pages = await f.pageServer();
});

after(async () => {
  await chrome?.close();
  pages?.server.close();
});

/** herald on `port` (and its metrics port), started fresh with `env`. */
async function startHerald(name, port, env = {}) {
  const metrics = await h.freePort();
  const child = h.herald(name, port, metrics, {
    HERALD_SHUTDOWN_RECONNECT_WINDOW: '0',
    SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES: 'true',
    ...env,
  });
  await h.ready(metrics);
  return child;
}

async function setup(env = {}) {
  const [port, proxy] = [await h.freePort(), await h.freePort()];
  let herald = await startHerald(`fallback-${port}`, port, env);
  const nginx = f.hostileProxy(proxy, port, pages.port);
  await h.sleep(300);
  const context = await chrome.newContext(); // no transport cached from another test
  return {
    port,
    context,
    open: async (query) => {
      const page = await context.newPage();
      await page.goto(`http://127.0.0.1:${proxy}/?${query}`);
      return page;
    },
    restart: async () => {
      herald.kill('SIGTERM');
      await herald.exited;
      herald = await startHerald(`fallback-${port}-again`, port, env);
    },
    stop: async () => {
      await context.close();
      herald.kill('SIGTERM');
      nginx.kill('SIGTERM');
      await Promise.all([herald.exited, nginx.exited]);
    },
  };
}

const text = (page, id) => page.textContent(`#${id}`);
const connected = (page, ms = 20000) =>
  page.waitForFunction(() => window.ready(), null, { timeout: ms, polling: 50 });

async function everything(transportName, query) {
  const s = await setup();
  try {
    const ada = await s.open(`user=Ada&${query}`);
    await connected(ada);
    assert.equal(await text(ada, 'transport'), transportName);
    const bea = await s.open(`user=Bea&${query}`);
    await connected(bea);
    assert.equal(await text(bea, 'transport'), transportName);
    await ada
      .waitForFunction(() => document.querySelector('#members').textContent === 'AdaBea', null, { timeout: 5000 })
      .catch(async (e) => {
        throw new Error(`members seen: ${await text(ada, 'members')} / ${await text(bea, 'members')}: ${e}`);
      });

    assert.equal(await f.toast(s.port, 'Saved!'), 200);
    await ada.waitForFunction(() => document.querySelector('#toasts').textContent.includes('Saved!'), null, { timeout: 5000 }).catch(async (e) => { throw new Error(JSON.stringify(await ada.evaluate(() => window.all))); });
    await bea.waitForFunction(() => document.querySelector('#toasts').textContent.includes('Saved!'), null, { timeout: 5000 });

    await bea.evaluate(() => window.whisper('Bea'));
    await ada.waitForFunction(() => document.querySelector('#typing').textContent === 'Bea is typing', null, { timeout: 5000 });

    const before = await ada.evaluate(() => window.socketId());
    await s.restart();
    await ada.waitForFunction((old) => window.socketId() !== old && window.ready(), before, { timeout: 30000, polling: 50 });
    assert.equal(await text(ada, 'transport'), transportName);
    assert.equal(await f.toast(s.port, 'Back again'), 200);
    await ada.waitForFunction(() => document.querySelector('#toasts').textContent.includes('Back again'), null, { timeout: 5000 });
  } finally {
    await s.stop();
  }
}

test('behind a WebSocket-hostile proxy, a page with default transports works over xhr_streaming', () =>
  everything('xhr_streaming', ''));

test('with xhr_streaming disabled in Echo, the same page works over xhr_polling', () =>
  everything('xhr_polling', 'disable=xhr_streaming'));

test('without the fallback (as on main) the page behind that proxy gets nothing', async () => {
  const s = await setup({ HERALD_HTTP_FALLBACK: 'false' });
  try {
    const ada = await s.open('user=Ada');
    await h.sleep(9000); // past pusher-js's 5 s delay before it tries HTTP
    assert.equal(await f.toast(s.port, 'Saved!'), 200);
    await h.sleep(500);
    assert.notEqual(await text(ada, 'state'), 'connected');
    assert.equal(await text(ada, 'toasts'), '');
  } finally {
    await s.stop();
  }
});
