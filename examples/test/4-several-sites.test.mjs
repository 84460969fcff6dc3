// Example 4 (one herald for several sites): the admin dashboard, the lawyers' portal and the
// clients' portal are three origins of one backend, sharing one herald and one app. herald's
// allowed_origins (the committed examples/herald.toml) admits the first two: an admin's action
// reaches the lawyers' portal; the clients' portal is refused and says so.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let server, app, chrome;
const pages = {};
const all = () => Object.values(pages);
const site = (name) => `http://${name}.localhost:${app.port}/`;

before(h.logged(all, async () => {
  server = await h.herald();
  app = await h.example('4-several-sites', server.port);
  chrome = await h.browser();
}));

after(async () => {
  await chrome?.close();
  await app?.stop();
  await server?.stop();
});

test("an admin finishing a workflow notifies the lawyers' portal, another origin", h.logged(all, async () => {
  pages.Ada = await h.open(chrome, site('admin'));
  assert.equal(await pages.Ada.locator('#site').innerText(), 'Admin dashboard');
  await h.signIn(pages.Ada, 'Ada');
  pages.Lena = await h.open(chrome, site('lawyers'));
  assert.equal(await pages.Lena.locator('#site').innerText(), "Lawyers' portal");
  await h.signIn(pages.Lena, 'Lena');
  await h.channelState(pages.Ada, 'private-role.admins');
  await h.channelState(pages.Lena, 'private-role.lawyers');
  await pages.Ada.getByRole('button', { name: 'Finish the workflow' }).click();
  await pages.Lena.locator('#toasts .toast', { hasText: 'Workflow completed' }).waitFor({ timeout: 10000 });
  assert.match((await h.toasts(pages.Lena))[0], /Case #12 \(Smith v\. Jones\) finished by Ada/);
  await pages.Ada.locator('#toasts .toast', { hasText: 'Workflow completed' }).waitFor({ timeout: 10000 });
}));

test("the third origin, not in allowed_origins, is refused and the page says so", h.logged(all, async () => {
  pages.Carl = await h.open(chrome, site('clients'));
  assert.equal(await pages.Carl.locator('#site').innerText(), "Clients' portal");
  await pages.Carl.getByRole('button', { name: /^Sign in as Carl/ }).click();
  await pages.Carl.locator('#connection-error', { hasText: 'refused' }).waitFor({ timeout: 10000 });
  assert.equal(await pages.Carl.locator('#connection-error').innerText(),
    'herald refused the connection: Origin not allowed (4009)');
  await pages.Carl.locator('#connection[data-state="disconnected"]').waitFor({ timeout: 10000 });
  // The lawyers' request reaches the admins but never the refused portal.
  await pages.Lena.getByRole('button', { name: 'Ask the client for documents' }).click();
  await pages.Ada.locator('#toasts .toast', { hasText: 'Lena needs documents for case #12' }).waitFor({ timeout: 10000 });
  assert.deepEqual(await h.toasts(pages.Carl), []);
  assert.equal(await pages.Carl.locator('#connection').innerText(), 'disconnected');
  await h.screenshot(pages.Carl, 'examples-several-sites-refused.png');
}));
