// Example 2 (users and workers): Uma is user 1 and Walt is worker 1, both in group 12; Wanda is
// worker 2 in group 14. The auth endpoint lets a user listen only on private-user.{id}, a worker
// only on private-worker.{id}, both on presence-group.{room}; every refusal is shown on the page,
// and a made-up signature is refused by herald itself (and listed by its debug console).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let server, app, chrome;
const pages = {};
const all = () => Object.values(pages);

before(h.logged(all, async () => {
  server = await h.herald();
  app = await h.example('2-users-workers', server.port);
  chrome = await h.browser();
  for (const name of ['Uma', 'Walt', 'Wanda']) {
    pages[name] = await h.open(chrome, app.url);
    await h.signIn(pages[name], name);
  }
  await h.channelState(pages.Uma, 'private-user.1');
  await h.channelState(pages.Walt, 'private-worker.1');
  await h.channelState(pages.Wanda, 'private-worker.2');
}));

after(async () => {
  await chrome?.close();
  await app?.stop();
  await server?.stop();
});

const members = (page) => page.locator('#members li').allInnerTexts();
const statusOf = (page, channel) => page.locator(`#channels li[data-channel="${channel}"]`).innerText();

test("a worker's attempt on a user channel shows the refusal; its own channels work", h.logged(all, async () => {
  await pages.Walt.getByRole('button', { name: 'Listen on private-user.1' }).click();
  await h.channelState(pages.Walt, 'private-user.1', 'refused');
  assert.match(await statusOf(pages.Walt, 'private-user.1'), /✗ refused \(403\)/);
  assert.match(await statusOf(pages.Walt, 'private-worker.1'), /✓ subscribed/);
  await h.channelState(pages.Walt, 'presence-group.12');
}));

test('a user may not listen on a worker channel, nor join another group', h.logged(all, async () => {
  await pages.Uma.getByRole('button', { name: 'Listen on private-worker.1' }).click();
  await h.channelState(pages.Uma, 'private-worker.1', 'refused');
  assert.match(await statusOf(pages.Uma, 'private-worker.1'), /refused \(403\)/);
  await pages.Uma.getByRole('button', { name: 'Listen on presence-group.14' }).click();
  await h.channelState(pages.Uma, 'presence-group.14', 'refused');
  assert.match(await statusOf(pages.Uma, 'presence-group.14'), /refused \(403\)/);
}));

test('users and workers of a group see each other online, not the other group', h.logged(all, async () => {
  await pages.Uma.locator('#members li[data-member="worker-1"]').waitFor({ timeout: 10000 });
  await pages.Walt.locator('#members li[data-member="user-1"]').waitFor({ timeout: 10000 });
  assert.deepEqual((await members(pages.Uma)).sort(), ['Umauser', 'Waltworker']);
  assert.deepEqual(await members(pages.Wanda), ['Wandaworker']);
}));

test("a user's help request reaches the worker's private channel, and the group", h.logged(all, async () => {
  await pages.Uma.getByRole('button', { name: 'Ask a worker of my group for help' }).click();
  await pages.Walt.locator('#toasts .toast', { hasText: 'Uma asks' }).waitFor({ timeout: 10000 });
  const walt = (await h.toasts(pages.Walt)).join('\n');
  assert.match(walt, /Help requested\s+Uma asks: The printer is on fire/);
  assert.match(walt, /private-worker\.1 · job\.requested/);
  await pages.Uma.locator('#toasts .toast', { hasText: 'Uma asked Walt for help' }).waitFor({ timeout: 10000 });
}));

test('a made-up signature is refused by herald itself, with its reason', h.logged(all, async () => {
  await pages.Walt.getByRole('button', { name: /made-up signature/ }).click();
  await h.channelState(pages.Walt, 'private-user.1', 'refused');
  const text = await statusOf(pages.Walt, 'private-user.1');
  assert.match(text, /refused \(401\): The connection is unauthorized/);
  // The socket stays open and its other channels keep working.
  assert.equal(await pages.Walt.locator('#connection').innerText(), 'connected');
  assert.match(await statusOf(pages.Walt, 'private-worker.1'), /✓ subscribed/);
  await h.screenshot(pages.Walt, 'examples-users-workers.png');
}));

test('the debug console lists the refused subscription with its reason', h.logged(all, async (t) => {
  const url = `/console/app-id?token=${h.CONSOLE_TOKEN}`;
  const probe = await h.get(server.metricsPort, url);
  if (probe.status === 404) {
    const why = `herald's debug console is not in this build (GET ${url} on the metrics port answered 404)`;
    console.log(`SKIPPED: ${why}`);
    t.skip(why);
    return;
  }
  assert.equal(probe.status, 200, `the console answered ${probe.status}`);
  const consolePage = await chrome.newPage();
  pages.console = consolePage;
  // The page's live stream (Server-Sent Events at /console/app-id/stream) is open before the refusal.
  const stream = consolePage.waitForResponse((r) => r.url().includes('/console/app-id/stream'), { timeout: 10000 });
  await consolePage.goto(`http://127.0.0.1:${server.metricsPort}${url}`);
  await stream.catch(() => h.sleep(1000));
  await pages.Walt.getByRole('button', { name: /made-up signature/ }).click();
  await h.channelState(pages.Walt, 'private-user.1', 'refused');
  const row = consolePage.locator('[data-kind="refusal"][data-channel="private-user.1"]').first();
  await row.waitFor({ timeout: 10000 });
  const reason = await row.getAttribute('data-reason');
  assert.ok(reason && reason.length > 0, 'the refusal has no reason');
  console.log(`console refusal reason: ${reason}`);
  // What herald expected to be signed (socket id and channel, never the secret) next to what arrived
  const socket = await pages.Walt.evaluate(() => Echo.socketId());
  const shown = await row.innerText();
  assert.ok(shown.includes(`${socket}:private-user.1`), `the row does not show the string to sign:\n${shown}`);
  assert.ok(shown.includes('0'.repeat(40)), `the row does not show the signature that arrived:\n${shown}`);
  assert.ok(!shown.includes('app-secret'), 'the console shows the app secret');
  await h.screenshot(consolePage, 'examples-console-refusal.png', { readme: true });
}));
