// Example 3 (admin support chat): Ada answers from /admin; Vera and Victor write from the widget on
// the shop page. Ada's sidebar lists both with unread counts; her reply reaches only the visitor
// she picked: the other visitor's page never shows it. Closing a chat goes to the signed-in visitor
// (pusher-js signin(), Laravel's /broadcasting/user-auth) as a server-to-user event.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let server, app, chrome;
const pages = {};
const all = () => Object.values(pages);

async function visitor(name) {
  const page = await h.open(chrome, app.url);
  await page.getByPlaceholder('Your name').fill(name);
  await page.getByRole('button', { name: 'Start chat' }).click();
  await page.locator('#widget[data-ready="true"][data-signed-in="true"]').waitFor({ timeout: 10000 });
  return page;
}

async function say(page, text) {
  await page.getByPlaceholder('Type a message…').fill(text);
  await page.getByRole('button', { name: 'Send' }).click();
  await page.locator('#thread li.mine', { hasText: text }).waitFor({ timeout: 10000 });
}

const sidebar = (name) => pages.Ada.locator('#visitors li', { hasText: name });

before(h.logged(all, async () => {
  server = await h.herald();
  app = await h.example('3-support-chat', server.port);
  chrome = await h.browser();
  pages.Ada = await h.open(chrome, `${app.url}/admin`);
  await h.signIn(pages.Ada, 'Ada');
  await pages.Ada.locator('#app[data-ready="true"]').waitFor({ timeout: 10000 });
  pages.Vera = await visitor('Vera');
  pages.Victor = await visitor('Victor');
}));

after(async () => {
  await chrome?.close();
  await app?.stop();
  await server?.stop();
});

test('visitors see that an agent is online; the agent sees them online with unread counts', h.logged(all, async () => {
  for (const v of ['Vera', 'Victor']) {
    await pages[v].locator('#agent[data-online="true"]').waitFor({ timeout: 10000 });
    assert.equal(await pages[v].locator('#agent').innerText(), 'an agent is online');
  }
  await say(pages.Vera, 'Hello, my router blinks red');
  await say(pages.Victor, 'Where is my invoice?');
  await say(pages.Victor, 'It was due on Monday');
  await sidebar('Victor').locator('.unread[data-count="2"]').waitFor({ timeout: 10000 });
  await sidebar('Vera').locator('.unread[data-count="1"]').waitFor({ timeout: 10000 });
  assert.equal(await sidebar('Vera').getAttribute('data-online'), 'true');
  assert.equal(await sidebar('Victor').getAttribute('data-online'), 'true');
}));

test('a reply reaches only the visitor it was meant for', h.logged(all, async () => {
  await sidebar('Vera').click();
  assert.equal(await sidebar('Vera').locator('.unread').getAttribute('data-count'), '0');
  assert.equal(await sidebar('Vera').locator('.unread').isVisible(), false, 'the unread badge still shows');
  assert.match(await pages.Ada.locator('#thread').innerText(), /Vera Hello, my router blinks red/);
  await pages.Ada.getByPlaceholder('Reply…').fill('Unplug it for ten seconds, Vera');
  await pages.Ada.getByRole('button', { name: 'Reply' }).click();
  await pages.Vera.locator('#thread li.theirs', { hasText: 'Unplug it for ten seconds, Vera' }).waitFor({ timeout: 10000 });
  assert.match(await pages.Vera.locator('#thread li.theirs').innerText(), /^Ada Unplug it/);

  // Victor's reply goes out after Vera's: once it shows on his page, Vera's would have too.
  await sidebar('Victor').click();
  await pages.Ada.getByPlaceholder('Reply…').fill('Your invoice is on its way, Victor');
  await pages.Ada.getByRole('button', { name: 'Reply' }).click();
  await pages.Victor.locator('#thread li.theirs', { hasText: 'on its way, Victor' }).waitFor({ timeout: 10000 });
  assert.doesNotMatch(await pages.Victor.locator('#thread').innerText(), /Unplug it/, "Victor got Vera's reply");
  await say(pages.Vera, 'Thanks, it works!');
  await sidebar('Vera').locator('.unread[data-count="1"]').waitFor({ timeout: 10000 });
  assert.doesNotMatch(await pages.Vera.locator('#thread').innerText(), /on its way/, "Vera got Victor's reply");
  await h.screenshot(pages.Ada, 'examples-support-chat.png', { readme: true });
}));

test('closing a chat reaches only that visitor, as a server-to-user event after sign-in', h.logged(all, async () => {
  await sidebar('Vera').click();
  await pages.Ada.getByRole('button', { name: 'Close chat' }).click();
  await pages.Vera.locator('#thread li.closed', { hasText: 'Ada closed the chat. Thank you!' }).waitFor({ timeout: 10000 });
  assert.equal(await pages.Vera.getByPlaceholder('Type a message…').isVisible(), false);
  // Victor's chat is closed after Vera's: once his page shows it, hers would have reached him before.
  await sidebar('Victor').click();
  await pages.Ada.getByRole('button', { name: 'Close chat' }).click();
  await pages.Victor.locator('#thread li.closed').waitFor({ timeout: 10000 });
  assert.equal(await pages.Victor.locator('#thread li.closed').count(), 1, "Victor got Vera's closing too");
  assert.equal(await pages.Vera.locator('#thread li.closed').count(), 1, "Vera got Victor's closing too");
}));

test("a visitor cannot listen on another visitor's chat channel", h.logged(all, async () => {
  const refused = await pages.Victor.evaluate(() => new Promise((resolve) => {
    Echo.private('chat.v1').error((e) => resolve(e.status)).subscribed(() => resolve('subscribed'));
  }));
  assert.equal(refused, 403);
}));
