// Example 1 (multi-tenant notifications) as four people see it: Alice and Bob at Acme, Carol at
// Globex, Sam the system admin. A toast shows each Laravel event; a user sees only the events of
// their own tenant and their own private channel; `->toOthers()` skips the tab that acted.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let server, app, chrome;
const pages = {};
const all = () => Object.values(pages);

before(h.logged(all, async () => {
  server = await h.herald();
  app = await h.example('1-notifications', server.port);
  chrome = await h.browser();
  for (const name of ['Alice', 'Bob', 'Carol', 'Sam']) {
    pages[name] = await h.open(chrome, app.url);
    await h.signIn(pages[name], name);
  }
  for (const [name, id] of [['Alice', 1], ['Bob', 2], ['Carol', 3], ['Sam', 9]]) {
    await h.channelState(pages[name], `private-user.${id}`);
  }
  await h.channelState(pages.Sam, 'private-system.admin');
  await h.channelState(pages.Carol, 'tenant.2');
  await h.channelState(pages.Bob, 'tenant.1');
}));

after(async () => {
  await chrome?.close();
  await app?.stop();
  await server?.stop();
});

const toast = (page, text) => page.locator('#toasts .toast', { hasText: text }).first().waitFor({ timeout: 10000 });

test("a tenant's event reaches its other users as a toast, not the other tenant, not the tab that acted", h.logged(all, async () => {
  await pages.Alice.getByRole('button', { name: 'Add a user to my tenant' }).click();
  await toast(pages.Bob, 'Alice added');
  const [bob] = await h.toasts(pages.Bob);
  assert.match(bob, /New user/);
  assert.match(bob, /Alice added \w+ to Acme Networks/);
  assert.match(bob, /tenant\.1 · App\\Events\\UserCreated/);

  // Carol's tenant gets an event of its own; once it shows, Acme's would have arrived before it.
  await pages.Carol.getByRole('button', { name: 'Expire a hotspot user' }).click();
  await toast(pages.Carol, 'Hotspot user expired');
  assert.match((await h.toasts(pages.Carol)).join('\n'), /guest-\d+ \(Globex ISP\) can no longer connect/);
  assert.doesNotMatch((await h.toasts(pages.Carol)).join('\n'), /Alice added/, 'Carol (Globex) saw an Acme event');
  assert.doesNotMatch((await h.toasts(pages.Bob)).join('\n'), /Globex/, 'Bob (Acme) saw a Globex event');
  // toOthers(): Alice's own tab is excluded by its socket id
  await pages.Alice.getByRole('button', { name: 'Expire a hotspot user' }).click();
  await toast(pages.Alice, 'Hotspot user expired');
  assert.doesNotMatch((await h.toasts(pages.Alice)).join('\n'), /Alice added/, "toOthers() did not skip Alice's tab");
}));

test('a payment reaches only the payer and the system admin', h.logged(all, async () => {
  await pages.Bob.getByRole('button', { name: 'Pay €49' }).click();
  await toast(pages.Bob, 'Payment completed');
  assert.match((await h.toasts(pages.Bob))[0], /€49\.00 received, thank you Bob/);
  await toast(pages.Sam, 'Payment in');
  assert.match((await h.toasts(pages.Sam)).join('\n'), /Bob \(Acme Networks\) paid €49\.00/);
  // Alice's own payment arrives after Bob's would have: she sees hers only.
  await pages.Alice.getByRole('button', { name: 'Pay €49' }).click();
  await toast(pages.Alice, 'Payment completed');
  const alice = (await h.toasts(pages.Alice)).join('\n');
  assert.match(alice, /thank you Alice/);
  assert.doesNotMatch(alice, /thank you Bob/, "Alice saw Bob's payment");
}));

test("a Laravel notification ($user->notify) reaches that user's page", h.logged(all, async () => {
  await h.channelState(pages.Carol, 'private-App.Models.User.3');
  await pages.Carol.getByRole('button', { name: /Send me an invoice/ }).click();
  await toast(pages.Carol, 'Invoice ready');
  const [carol] = await h.toasts(pages.Carol);
  assert.match(carol, /Invoice INV-\d+ \(€49\.00\) is ready/);
  assert.match(carol, /private-App\.Models\.User\.3 · Illuminate\\Notifications\\Events\\BroadcastNotificationCreated/);
}));

test('only the system admin hears of a new tenant and system alerts', h.logged(all, async () => {
  await pages.Sam.getByRole('button', { name: 'Create a tenant' }).click();
  await toast(pages.Sam, 'Tenant created');
  assert.match((await h.toasts(pages.Sam)).join('\n'), /Initech Wireless \(#\d+\) by Sam/);
  await pages.Sam.getByRole('button', { name: 'Raise a system alert' }).click();
  await toast(pages.Sam, 'System alert');
  // Each of the others gets an event of their own after that; none shows the admin's.
  for (const name of ['Alice', 'Bob', 'Carol']) {
    await pages[name].getByRole('button', { name: 'Pay €49' }).click();
    await toast(pages[name], `thank you ${name}`);
    const seen = (await h.toasts(pages[name])).join('\n');
    assert.doesNotMatch(seen, /Tenant created|System alert/, `${name} saw an admin event`);
  }
  await h.screenshot(pages.Sam, 'examples-notifications.png', { readme: true });
}));

test('a user channel of somebody else is refused by the auth endpoint', h.logged(all, async () => {
  // What a curious Carol could type in her browser's console: Echo.private('user.1')
  await pages.Carol.evaluate(() => App.track(Echo.private('user.1')));
  await h.channelState(pages.Carol, 'private-user.1', 'refused');
  const text = await pages.Carol.locator('#channels li[data-channel="private-user.1"]').innerText();
  assert.match(text, /refused \(403\)/);
}));
