// Channel types through pusher-js: public, private, private-encrypted,
// presence and the four cache variants.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, sharedServer, serverFor, waitFor, subscribed, sleep, collect, until, signChannel, frameData } from '../lib/harness.mjs';

const USERS = {
  alice: { id: 'alice', info: { name: 'Alice' } },
  bob: { id: 'bob', info: { name: 'Bob' } },
  seven: { id: 7, info: { name: 'Numeric Seven' } },
  carol: { id: 'carol', info: { name: 'Carol' } },
};

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

describe('channels', () => {
  let srv;
  before(async () => {
    srv = await sharedServer('channels');
  });
  after(() => srv.stop());

  it('public channel: subscribe and receive an event published with the server SDK', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected();
    const name = uniq('public-');
    const ch = await subscribed(p.subscribe(name));
    const got = waitFor(ch, 'my-event', 3000);
    await s.sdk().trigger(name, 'my-event', { hello: 'world' });
    assert.deepEqual(await got, { hello: 'world' });
  });

  it('public channel: unsubscribe stops delivery', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected();
    const name = uniq('gone-');
    const ch = await subscribed(p.subscribe(name));
    const seen = collect(ch, 'ev');
    p.unsubscribe(name);
    await sleep(300);
    await s.sdk().trigger(name, 'ev', { n: 1 });
    const other = await s.connected();
    const ch2 = await subscribed(other.subscribe(name));
    const got = waitFor(ch2, 'ev', 3000);
    await s.sdk().trigger(name, 'ev', { n: 2 });
    await got;
    await sleep(200);
    assert.equal(seen.length, 0);
  });

  it('private channel: authorized through a Laravel-style HTTP endpoint', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const p = await s.connected(auth.clientOptions('alice'));
    const name = uniq('private-orders.');
    const ch = await subscribed(p.subscribe(name));
    assert.equal(auth.requests.length, 1);
    assert.equal(auth.requests[0].params.channel_name, name);
    assert.equal(auth.requests[0].params.socket_id, p.connection.socket_id);
    const got = waitFor(ch, 'App\\Events\\OrderShipped', 3000);
    await s.sdk().trigger(name, 'App\\Events\\OrderShipped', { order: { id: 1 } });
    assert.deepEqual(await got, { order: { id: 1 } });
  });

  it('private-encrypted channel: pusher-js decrypts what the SDK encrypted', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const p = await s.connected(auth.clientOptions('alice'));
    const name = uniq('private-encrypted-vault.');
    const ch = await subscribed(p.subscribe(name));
    const got = waitFor(ch, 'secret', 3000);
    const payload = { msg: 'top secret ✓', n: 42 };
    await s.sdk().trigger(name, 'secret', payload);
    assert.deepEqual(await got, payload);
  });

  it('private-encrypted channel: the server relays ciphertext only (raw subscriber sees nonce/ciphertext)', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('private-encrypted-raw.');
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const { auth } = s.sdk().authorizeChannel(socket_id, name);
    const res = await raw.subscribe(name, { auth });
    assert.equal(res.event, 'pusher_internal:subscription_succeeded');
    await s.sdk().trigger(name, 'secret', { msg: 'hidden' });
    const m = await raw.next('secret');
    const data = JSON.parse(m.data);
    assert.deepEqual(Object.keys(data).sort(), ['ciphertext', 'nonce']);
    assert.ok(!m.__raw.includes('hidden'));
  });

  it('presence channel: members, me, member_added and member_removed (pusher-js)', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-room.');
    const a = await s.connected(auth.clientOptions('alice'));
    const cha = await subscribed(a.subscribe(name));
    assert.equal(cha.members.count, 1);
    assert.equal(cha.members.me.id, 'alice');
    assert.deepEqual(cha.members.me.info, { name: 'Alice' });

    const added = waitFor(cha, 'pusher:member_added', 3000);
    const b = await s.connected(auth.clientOptions('bob'));
    const chb = await subscribed(b.subscribe(name));
    const m = await added;
    assert.equal(m.id, 'bob');
    assert.deepEqual(m.info, { name: 'Bob' });
    assert.equal(chb.members.count, 2);
    assert.deepEqual(chb.members.get('alice').info, { name: 'Alice' });
    assert.equal(cha.members.count, 2);

    const removed = waitFor(cha, 'pusher:member_removed', 3000);
    b.disconnect();
    assert.equal((await removed).id, 'bob');
    assert.equal(cha.members.count, 1);
  });

  it('presence channel: a user with two connections is one member (added once, removed after the last)', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-tabs.');
    const watcher = await s.connected(auth.clientOptions('carol'));
    const chw = await subscribed(watcher.subscribe(name));
    const added = collect(chw, 'pusher:member_added');
    const removed = collect(chw, 'pusher:member_removed');

    const tab1 = await s.connected(auth.clientOptions('alice'));
    await subscribed(tab1.subscribe(name));
    const tab2 = await s.connected(auth.clientOptions('alice'));
    const ch2 = await subscribed(tab2.subscribe(name));
    await until(() => added.length >= 1, 2000, 'member_added');
    await sleep(300);
    assert.equal(added.length, 1, 'member_added must be sent once per user');
    assert.equal(chw.members.count, 2);
    assert.equal(ch2.members.count, 2, 'second tab sees 2 unique users (carol, alice)');

    tab1.disconnect();
    await sleep(400);
    assert.equal(removed.length, 0, 'member_removed must wait for the last connection of the user');
    tab2.disconnect();
    await until(() => removed.length === 1, 3000, 'member_removed');
    assert.equal(removed[0].data.id, 'alice');
    assert.equal(chw.members.count, 1);
  });

  it('presence channel: numeric and string user ids', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-ids.');
    const a = await s.connected(auth.clientOptions('seven'));
    const cha = await subscribed(a.subscribe(name));
    assert.equal(cha.members.count, 1);
    assert.equal(String(cha.members.me.id), '7');
    const added = waitFor(cha, 'pusher:member_added', 3000);
    const b = await s.connected(auth.clientOptions('bob'));
    const chb = await subscribed(b.subscribe(name));
    assert.equal((await added).id, 'bob');
    assert.equal(chb.members.count, 2);
    assert.deepEqual(chb.members.get('7')?.info, { name: 'Numeric Seven' });
    const removed = waitFor(chb, 'pusher:member_removed', 3000);
    a.disconnect();
    assert.equal(String((await removed).id), '7');
    assert.equal(chb.members.count, 1);
  });

  it('per-channel order is kept for 200 events from one publisher', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('order-');
    const raw = await s.raw();
    await raw.established();
    await raw.subscribe(name);
    const sdk = s.sdk();
    // 20 requests of 10-event batches, sent back to back without waiting
    const reqs = [];
    for (let r = 0; r < 20; r++) {
      reqs.push(sdk.triggerBatch(Array.from({ length: 10 }, (_, i) => ({ channel: name, name: 'seq', data: String(r * 10 + i) }))));
      await sleep(2);
    }
    await Promise.all(reqs);
    await until(() => raw.matching((m) => m && m.event === 'seq').length === 200, 5000, '200 events');
    const seq = raw.matching((m) => m && m.event === 'seq').map((f) => Number(f.msg.data));
    for (let r = 0; r < 20; r++) {
      const batch = seq.filter((n) => Math.floor(n / 10) === r);
      assert.deepEqual(batch, [...batch].sort((a, b) => a - b), `batch ${r} reordered`);
    }
    // sequential publishes (each awaited) arrive in publish order
    const seq2 = [];
    for (let i = 0; i < 30; i++) {
      await sdk.trigger(name, 'seq2', String(i));
      seq2.push(String(i));
    }
    await until(() => raw.matching((m) => m && m.event === 'seq2').length === 30, 5000, '30 events');
    assert.deepEqual(raw.matching((m) => m && m.event === 'seq2').map((f) => f.msg.data), seq2);
  });

  it('cache channel: the cached event expires after cache_ttl', async (t) => {
    const target = await serverFor(t, { server: { cache_ttl: 1 } });
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('cache-ttl.');
    await s.sdk().trigger(name, 'state', { v: 1 });
    const fresh = await s.raw();
    await fresh.established();
    await fresh.subscribe(name);
    await fresh.next('state');
    await sleep(2200);
    const late = await s.raw();
    await late.established();
    await late.subscribe(name);
    await late.next('pusher:cache_miss');
    assert.equal(late.matching((m) => m && m.event === 'state').length, 0);
  });

  it('presence channel (raw): numeric user_id is echoed as sent in member_added/member_removed', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('presence-rawnum.');
    const a = await s.raw();
    const b = await s.raw();
    const ida = (await a.established()).socket_id;
    const idb = (await b.established()).socket_id;
    const cda = JSON.stringify({ user_id: 'a', user_info: { n: 'a' } });
    const cdb = JSON.stringify({ user_id: 7, user_info: { n: 7 } });
    await a.subscribe(name, { auth: signChannel(srv.app, ida, name, cda), channel_data: cda });
    const sub = await b.subscribe(name, { auth: signChannel(srv.app, idb, name, cdb), channel_data: cdb });
    assert.equal(sub.event, 'pusher_internal:subscription_succeeded', sub.__raw);
    const presence = frameData(sub).presence;
    assert.equal(presence.count, 2);
    assert.deepEqual(Object.keys(presence.hash).sort(), ['7', 'a']);
    const added = await a.next('pusher_internal:member_added');
    assert.equal(typeof added.data, 'string', 'member_added data must be a JSON string');
    assert.deepEqual(JSON.parse(added.data), { user_id: 7, user_info: { n: 7 } });
    b.close();
    const removed = await a.next('pusher_internal:member_removed');
    assert.deepEqual(JSON.parse(removed.data), { user_id: 7 });
  });

  it('presence channel: user_id 7 and "7" are the same member', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('presence-same.');
    const w = await s.raw();
    const idw = (await w.established()).socket_id;
    const cdw = JSON.stringify({ user_id: 'watcher' });
    await w.subscribe(name, { auth: signChannel(srv.app, idw, name, cdw), channel_data: cdw });
    for (const id of [7, '7']) {
      const c = await s.raw();
      const sid = (await c.established()).socket_id;
      const cd = JSON.stringify({ user_id: id });
      const r = await c.subscribe(name, { auth: signChannel(srv.app, sid, name, cd), channel_data: cd });
      assert.equal(r.event, 'pusher_internal:subscription_succeeded', r.__raw);
      assert.equal(frameData(r).presence.count, 2, r.__raw);
    }
    await sleep(300);
    assert.equal(w.matching((m) => m && m.event === 'pusher_internal:member_added').length, 1);
  });

  it('private channel: auth signed over socket_id:channel:channel_data (pusher-http-php style) is accepted', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('private-withdata.');
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const cd = JSON.stringify({ user_id: '1', extra: true });
    const res = await raw.subscribe(name, { auth: signChannel(srv.app, socket_id, name, cd), channel_data: cd });
    assert.equal(res.event, 'pusher_internal:subscription_succeeded', res.__raw);
  });

  it('cache channel: an event published while nobody is subscribed is still cached', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('cache-empty.');
    await s.sdk().trigger(name, 'state', { v: 'before anyone came' });
    const raw = await s.raw();
    await raw.established();
    const r = await raw.subscribe(name);
    assert.equal(r.event, 'pusher_internal:subscription_succeeded');
    const m = await raw.next((x) => x && x.channel === name && x.event !== 'pusher_internal:subscription_succeeded');
    assert.equal(m.event, 'state', m.__raw);
    assert.equal(m.data, '{"v":"before anyone came"}');
  });

  for (const prefix of ['cache-', 'private-cache-', 'private-encrypted-cache-', 'presence-cache-']) {
    it(`${prefix} channel: cache_miss first, later subscriber gets the last event right after subscribing`, async (t) => {
      const s = new Scope(t, srv);
      const auth = await s.authServer({ users: USERS });
      const name = uniq(prefix);
      const a = await s.connected(auth.clientOptions('alice'));
      const cha = a.subscribe(name);
      const miss = waitFor(cha, 'pusher:cache_miss', 3000);
      await subscribed(cha);
      await miss;

      const live = waitFor(cha, 'price', 3000);
      await s.sdk().trigger(name, 'price', { v: 1 });
      await live;
      const live2 = waitFor(cha, 'price', 3000);
      await s.sdk().trigger(name, 'price', { v: 2 });
      assert.deepEqual(await live2, { v: 2 });

      const b = await s.connected(auth.clientOptions('bob'));
      const chb = b.subscribe(name);
      const order = [];
      chb.bind_global((event, data) => order.push({ event, data }));
      await until(() => order.some((o) => o.event === 'price'), 3000, 'cached event on the new subscriber');
      await sleep(200);
      const names = order.map((o) => o.event);
      assert.ok(!names.includes('pusher:cache_miss'), `unexpected cache_miss: ${names}`);
      const iSub = names.indexOf('pusher:subscription_succeeded');
      const iPrice = names.indexOf('price');
      assert.ok(iSub >= 0 && iPrice === iSub + 1, `expected the cached event right after subscription_succeeded: ${names}`);
      assert.deepEqual(order[iPrice].data, { v: 2 }, 'the cache holds the LAST event');
      assert.equal(names.filter((n) => n === 'price').length, 1);
    });
  }
});
