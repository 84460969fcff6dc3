// Example 5 (classroom rooms): Tess teaches Algebra and Biology at Northside, Sam takes Algebra,
// Sia takes Biology, Otto is at Lakeside. Presence shows who is online in a course; Echo whispers
// show "is typing…" on the other page; role and tenant channels keep teachers' and schools' events apart.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as h from './harness.mjs';

let server, app, chrome;
const pages = {};
const all = () => Object.values(pages);
const online = (page) => page.locator('#online li').evaluateAll((lis) => lis.map((li) => li.firstChild.textContent).sort());

before(h.logged(all, async () => {
  server = await h.herald();
  app = await h.example('5-classroom', server.port);
  chrome = await h.browser();
  for (const name of ['Tess', 'Sam', 'Sia', 'Otto']) {
    pages[name] = await h.open(chrome, app.url);
    await h.signIn(pages[name], name);
  }
  await h.channelState(pages.Tess, 'presence-course.101');
  await h.channelState(pages.Sam, 'presence-course.101');
  await h.channelState(pages.Sia, 'presence-course.102');
  await h.channelState(pages.Otto, 'presence-course.201');
  await h.channelState(pages.Tess, 'private-tenant.1.role.teacher');
  await h.channelState(pages.Sia, 'private-tenant.1');
}));

after(async () => {
  await chrome?.close();
  await app?.stop();
  await server?.stop();
});

test('presence shows who is online in a course, and only there', h.logged(all, async () => {
  await pages.Sam.locator('#online li[data-member="1"]').waitFor({ timeout: 10000 });
  await pages.Tess.locator('#online li[data-member="2"]').waitFor({ timeout: 10000 });
  // Her name travels as PHP encodes it ("Tess M\u00fcller") in the signed channel_data
  assert.deepEqual(await online(pages.Sam), ['Sam', 'Tess Müller']);
  assert.deepEqual(await online(pages.Sia), ['Sia']);
  // Tess opens Biology: she leaves Algebra's list and joins Sia's
  await pages.Tess.getByRole('button', { name: 'Open Biology' }).click();
  await pages.Sia.locator('#online li[data-member="1"]').waitFor({ timeout: 10000 });
  await pages.Sam.locator('#online li[data-member="1"]').waitFor({ state: 'detached', timeout: 10000 });
  assert.deepEqual(await online(pages.Sam), ['Sam']);
  await pages.Tess.getByRole('button', { name: 'Open Algebra' }).click();
  await pages.Sam.locator('#online li[data-member="1"]').waitFor({ timeout: 10000 });
}));

test('the typing indicator appears on the other page, and goes when the message arrives', h.logged(all, async () => {
  await h.channelState(pages.Tess, 'presence-course.101');
  await pages.Sam.getByPlaceholder('Write to the class…').pressSequentially('Is question 4 about', { delay: 20 });
  await pages.Tess.locator('#typing', { hasText: 'Sam is typing…' }).waitFor({ timeout: 10000 });
  assert.equal(await pages.Sia.locator('#typing').innerText(), '', 'Sia (Biology) saw Algebra typing');
  await pages.Sam.getByPlaceholder('Write to the class…').pressSequentially(' fractions?');
  await pages.Sam.getByRole('button', { name: 'Send' }).click();
  await pages.Tess.locator('#thread li', { hasText: 'Is question 4 about fractions?' }).waitFor({ timeout: 10000 });
  assert.equal(await pages.Tess.locator('#typing').innerText(), '');
  await h.screenshot(pages.Tess, 'examples-classroom.png');
}));

test("a student's progress reaches the school's teachers, not the other students", h.logged(all, async () => {
  await pages.Sam.getByRole('button', { name: 'Mark lesson 3 as done' }).click();
  await pages.Tess.locator('#toasts .toast', { hasText: 'Sam finished lesson 3 of Algebra' }).waitFor({ timeout: 10000 });
  // Tess's announcement to the school is published after it: Sia sees that, never the progress.
  await pages.Tess.getByRole('button', { name: 'Announce to my school' }).click();
  for (const name of ['Sam', 'Sia']) {
    await pages[name].locator('#toasts .toast', { hasText: 'Tess Müller: No school on Friday' }).waitFor({ timeout: 10000 });
  }
  assert.doesNotMatch((await h.toasts(pages.Sia)).join('\n'), /finished lesson/, "a student saw the teachers' channel");
  assert.deepEqual(await h.toasts(pages.Otto), [], "Lakeside got Northside's announcement");
}));

test("another school's course is refused", h.logged(all, async () => {
  const status = await pages.Otto.evaluate(() => new Promise((resolve) => {
    Echo.join('course.101').error((e) => resolve(e.status)).subscribed(() => resolve('subscribed'));
  }));
  assert.equal(status, 403);
}));
