// Laravel Echo 2 on pusher-js, authorizing through a local Laravel-style
// /broadcasting/auth endpoint signed with the server SDK.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, sharedServer, serverFor, sleep, until } from '../lib/harness.mjs';

const USERS = {
  'token-1': { id: '1', info: { id: 1, name: 'Taylor' } },
  'token-2': { id: '2', info: { id: 2, name: 'Abigail' } },
  'token-3': { id: '3', info: { id: 3, name: 'Jess' } },
};

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/** Resolve with the first value passed to an Echo callback registration. */
function echoWait(register, ms = 3000, what = 'echo callback') {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    register((v) => {
      clearTimeout(timer);
      resolve(v);
    });
  });
}

/** Resolve once an Echo channel is subscribed (also when that already happened). */
function echoSubscribed(ch, ms = 3000) {
  if (ch.subscription?.subscribed) return Promise.resolve();
  return echoWait((cb) => ch.subscribed(cb), ms, `subscription to ${ch.name}`);
}

describe('laravel-echo', () => {
  let srv;
  before(async () => {
    srv = await sharedServer('echo');
  });
  after(() => srv.stop());

  async function setup(t, target = srv) {
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    return { s, auth, echoFor: (token) => s.echo(auth.echoOptions(token)) };
  }

  it('listen() binds App\\Events\\<Name> (default namespace)', async (t) => {
    const { s, echoFor } = await setup(t);
    const echo = await echoFor('token-1');
    const name = uniq('orders.');
    const ch = echo.channel(name);
    await echoSubscribed(ch);
    const got = echoWait((cb) => ch.listen('OrderShipped', cb), 3000, 'OrderShipped');
    await s.sdk().trigger(name, 'App\\Events\\OrderShipped', { order: { id: 5 } });
    assert.deepEqual(await got, { order: { id: 5 } });
  });

  it('listen() with a leading dot binds the raw broadcastAs name', async (t) => {
    const { s, echoFor } = await setup(t);
    const echo = await echoFor('token-1');
    const name = uniq('orders.');
    const ch = echo.channel(name);
    await echoSubscribed(ch);
    const got = echoWait((cb) => ch.listen('.order.shipped', cb), 3000, '.order.shipped');
    await s.sdk().trigger(name, 'order.shipped', { id: 9 });
    assert.deepEqual(await got, { id: 9 });
  });

  it('private() authorizes via /broadcasting/auth (form-urlencoded, bearer token)', async (t) => {
    const { s, auth, echoFor } = await setup(t);
    const echo = await echoFor('token-1');
    const name = uniq('App.Models.User.');
    const ch = echo.private(name);
    await echoSubscribed(ch);
    const req = auth.requests.find((r) => r.path === '/broadcasting/auth');
    assert.ok(req, 'auth endpoint was called');
    assert.equal(req.params.channel_name, `private-${name}`);
    assert.equal(req.token, 'token-1');
    assert.match(req.headers['content-type'], /application\/x-www-form-urlencoded/);
    const got = echoWait((cb) => ch.listen('UserUpdated', cb));
    await s.sdk().trigger(`private-${name}`, 'App\\Events\\UserUpdated', { user: 1 });
    assert.deepEqual(await got, { user: 1 });
  });

  it('join(): here, joining, leaving', async (t) => {
    const { echoFor } = await setup(t);
    const name = uniq('chat.');
    const e1 = await echoFor('token-1');
    const ch1 = e1.join(name);
    const here1 = await echoWait((cb) => ch1.here(cb), 3000, 'here (1)');
    assert.deepEqual(here1, [{ id: 1, name: 'Taylor' }]);
    const joining = echoWait((cb) => ch1.joining(cb), 3000, 'joining');

    const e2 = await echoFor('token-2');
    const ch2 = e2.join(name);
    const here2 = await echoWait((cb) => ch2.here(cb), 3000, 'here (2)');
    assert.deepEqual(
      here2.map((u) => u.id).sort(),
      [1, 2],
      `here() must list both users once: ${JSON.stringify(here2)}`,
    );
    assert.deepEqual(await joining, { id: 2, name: 'Abigail' });

    const leaving = echoWait((cb) => ch1.leaving(cb), 3000, 'leaving');
    e2.leave(name);
    assert.deepEqual(await leaving, { id: 2, name: 'Abigail' });
  });

  it('join(): the same user in two tabs is listed once and leaves once', async (t) => {
    const { echoFor } = await setup(t);
    const name = uniq('chat.');
    const watcher = await echoFor('token-3');
    const chw = watcher.join(name);
    await echoWait((cb) => chw.here(cb));
    const joins = [];
    const leaves = [];
    chw.joining((u) => joins.push(u));
    chw.leaving((u) => leaves.push(u));

    const tabA = await echoFor('token-1');
    tabA.join(name);
    await until(() => joins.length === 1, 3000, 'joining');
    const tabB = await echoFor('token-1');
    const here = await echoWait((cb) => tabB.join(name).here(cb));
    assert.equal(here.length, 2, `here() in the second tab: ${JSON.stringify(here)}`);
    await sleep(300);
    assert.equal(joins.length, 1, 'joining fired again for a second tab of the same user');

    tabA.leave(name);
    await sleep(400);
    assert.equal(leaves.length, 0, 'leaving fired while the user still has a tab open');
    tabB.disconnect();
    await until(() => leaves.length === 1, 3000, 'leaving after the last tab');
    assert.deepEqual(leaves[0], { id: 1, name: 'Taylor' });
  });

  it('encryptedPrivate(): events are decrypted for Echo listeners', async (t) => {
    const { s, echoFor } = await setup(t);
    const echo = await echoFor('token-1');
    const name = uniq('secrets.');
    const ch = echo.encryptedPrivate(name);
    await echoSubscribed(ch);
    const got = echoWait((cb) => ch.listen('SecretMessage', cb));
    await s.sdk().trigger(`private-encrypted-${name}`, 'App\\Events\\SecretMessage', { body: 'psst' });
    assert.deepEqual(await got, { body: 'psst' });
  });

  it('whisper() / listenForWhisper() between two users (client events enabled)', async (t) => {
    const target = await serverFor(t, { app: { enable_client_messages: true } });
    if (!target) return;
    const { echoFor } = await setup(t, target);
    const name = uniq('chat.');
    const e1 = await echoFor('token-1');
    const e2 = await echoFor('token-2');
    const ch1 = e1.join(name);
    const ch2 = e2.join(name);
    await Promise.all([echoWait((cb) => ch1.here(cb)), echoWait((cb) => ch2.here(cb))]);
    const got = echoWait((cb) => ch2.listenForWhisper('typing', cb), 3000, 'whisper');
    const echoed = [];
    ch1.listenForWhisper('typing', (d) => echoed.push(d));
    ch1.whisper('typing', { name: 'Taylor' });
    assert.deepEqual(await got, { name: 'Taylor' });
    await sleep(300);
    assert.equal(echoed.length, 0, 'whisper echoed back to the sender');
  });

  it('notification() receives BroadcastNotificationCreated on the private user channel', async (t) => {
    const { s, echoFor } = await setup(t);
    const echo = await echoFor('token-1');
    const name = uniq('App.Models.User.');
    const ch = echo.private(name);
    await echoSubscribed(ch);
    const got = echoWait((cb) => ch.notification(cb), 3000, 'notification');
    const payload = { id: 'b3b9', type: 'App\\Notifications\\InvoicePaid', amount: 12 };
    await s
      .sdk()
      .trigger(`private-${name}`, 'Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', payload);
    assert.deepEqual(await got, payload);
  });

  it('toOthers(): socket_id from Echo.socketId() excludes the sender only', async (t) => {
    const { s, echoFor } = await setup(t);
    const name = uniq('orders.');
    const sender = await echoFor('token-1');
    const other = await echoFor('token-2');
    const chS = sender.channel(name);
    const chO = other.channel(name);
    await echoSubscribed(chS);
    await echoSubscribed(chO);
    const senderGot = [];
    chS.listen('OrderShipped', (d) => senderGot.push(d));
    const got = echoWait((cb) => chO.listen('OrderShipped', cb));
    const socketId = sender.socketId();
    assert.match(socketId, /^\d+\.\d+$/);
    await s.sdk().trigger(name, 'App\\Events\\OrderShipped', { id: 1 }, { socket_id: socketId });
    assert.deepEqual(await got, { id: 1 });
    await sleep(300);
    assert.equal(senderGot.length, 0, 'the socket named in socket_id received its own broadcast');
  });

  it('leave(): unsubscribes (no more events) and the others see leaving', async (t) => {
    const { s, echoFor } = await setup(t);
    const name = uniq('room.');
    const e1 = await echoFor('token-1');
    const e2 = await echoFor('token-2');
    const p1 = e1.join(name);
    await echoWait((cb) => p1.here(cb));
    const p2 = e2.join(name);
    await echoWait((cb) => p2.here(cb));
    const pub = e2.channel(name);
    await echoSubscribed(pub);
    const after = [];
    pub.listen('Ping', (d) => after.push(d));
    const leaving = echoWait((cb) => p1.leaving(cb), 3000, 'leaving');
    e2.leave(name); // leaves name, private-name and presence-name
    assert.deepEqual(await leaving, { id: 2, name: 'Abigail' });
    await sleep(200);
    await s.sdk().trigger(name, 'App\\Events\\Ping', { n: 1 });
    await sleep(400);
    assert.equal(after.length, 0, 'events still delivered after leave()');
    assert.equal(e2.connector.pusher.channel(name), undefined);
  });
});
