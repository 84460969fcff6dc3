// HTTP API through the official `pusher` SDK, plus raw signed requests for the
// error statuses.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, sharedServer, serverFor, waitFor, subscribed, sleep, until, apiRequest, signChannel } from '../lib/harness.mjs';

const USERS = {
  u1: { id: 'u1', info: { n: 1 } },
  u2: { id: 'u2', info: { n: 2 } },
};

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

async function json(res) {
  assert.equal(res.status, 200);
  const text = await res.text();
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`success body is not JSON: ${text}`);
  }
}

function assertJsonError(res, status) {
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${res.text}`);
  assert.ok(res.json && typeof res.json.error === 'string' && res.json.error.length > 0, `body must be {"error": "..."}: ${res.text}`);
}

describe('http api', () => {
  let srv;
  before(async () => {
    srv = await sharedServer('http-api');
  });
  after(() => srv.stop());

  it('trigger to one channel: 200 {} and the subscriber receives it', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected();
    const name = uniq('api-one-');
    const ch = await subscribed(p.subscribe(name));
    const got = waitFor(ch, 'ev', 3000);
    const body = await json(await s.sdk().trigger(name, 'ev', { a: 1 }));
    assert.deepEqual(body, {});
    assert.deepEqual(await got, { a: 1 });
  });

  it('trigger to 100 channels at once reaches all of them', async (t) => {
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    const base = uniq('api-many-');
    const names = Array.from({ length: 100 }, (_, i) => `${base}-${i}`);
    for (const n of names) raw.send({ event: 'pusher:subscribe', data: { auth: '', channel: n } });
    await until(
      () => raw.matching((m) => m && m.event === 'pusher_internal:subscription_succeeded').length === 100,
      5000,
      '100 subscriptions',
    );
    await json(await s.sdk().trigger(names, 'fanout', { x: 'y' }));
    await until(() => raw.matching((m) => m && m.event === 'fanout').length === 100, 5000, '100 deliveries');
    const channels = new Set(raw.matching((m) => m && m.event === 'fanout').map((f) => f.msg.channel));
    assert.equal(channels.size, 100);
  });

  it('triggerBatch delivers every item in order', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected();
    const a = uniq('batch-a-');
    const b = uniq('batch-b-');
    const cha = await subscribed(p.subscribe(a));
    const chb = await subscribed(p.subscribe(b));
    const seen = [];
    cha.bind_global((e, d) => !e.startsWith('pusher') && seen.push(`${a}:${e}:${d.i}`));
    chb.bind_global((e, d) => !e.startsWith('pusher') && seen.push(`${b}:${e}:${d.i}`));
    const body = await json(
      await s.sdk().triggerBatch([
        { channel: a, name: 'one', data: { i: 1 } },
        { channel: b, name: 'two', data: { i: 2 } },
        { channel: a, name: 'three', data: { i: 3 } },
      ]),
    );
    assert.equal(typeof body, 'object');
    await until(() => seen.length === 3, 3000, 'batch deliveries');
    assert.deepEqual(seen, [`${a}:one:1`, `${b}:two:2`, `${a}:three:3`]);
  });

  it('trigger with info=subscription_count returns the channel counts', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('api-info-');
    const p1 = await s.connected();
    const p2 = await s.connected();
    await subscribed(p1.subscribe(name));
    await subscribed(p2.subscribe(name));
    const body = await json(await s.sdk().trigger(name, 'ev', {}, { info: 'subscription_count' }));
    assert.deepEqual(body, { channels: { [name]: { subscription_count: 2 } } });
  });

  it('trigger with info=user_count on a presence channel counts distinct users', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-api-');
    for (const tok of ['u1', 'u1', 'u2']) {
      const p = await s.connected(auth.clientOptions(tok));
      await subscribed(p.subscribe(name));
    }
    const body = await json(await s.sdk().trigger(name, 'ev', {}, { info: 'user_count' }));
    assert.equal(body.channels?.[name]?.user_count, 2, JSON.stringify(body));
  });

  it('GET /channels with filter_by_prefix lists only matching occupied channels', async (t) => {
    const s = new Scope(t, srv);
    const prefix = uniq('lst') + '-';
    const p = await s.connected();
    await subscribed(p.subscribe(`${prefix}a`));
    await subscribed(p.subscribe(`${prefix}b`));
    await subscribed(p.subscribe(uniq('other-')));
    const body = await json(await s.sdk().get({ path: '/channels', params: { filter_by_prefix: prefix } }));
    assert.deepEqual(Object.keys(body.channels).sort(), [`${prefix}a`, `${prefix}b`]);
    p.unsubscribe(`${prefix}b`);
    await sleep(300);
    const after = await json(await s.sdk().get({ path: '/channels', params: { filter_by_prefix: prefix } }));
    assert.deepEqual(Object.keys(after.channels), [`${prefix}a`], 'unsubscribed channel still listed');
  });

  it('GET /channels?filter_by_prefix=presence-&info=user_count', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-list-');
    for (const tok of ['u1', 'u2', 'u2']) {
      const p = await s.connected(auth.clientOptions(tok));
      await subscribed(p.subscribe(name));
    }
    const body = await json(
      await s.sdk().get({ path: '/channels', params: { filter_by_prefix: 'presence-', info: 'user_count' } }),
    );
    assert.equal(body.channels?.[name]?.user_count, 2, JSON.stringify(body));
  });

  it('GET /channels/{name}: occupied and subscription_count', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('api-chan-');
    const p1 = await s.connected();
    const p2 = await s.connected();
    await subscribed(p1.subscribe(name));
    await subscribed(p2.subscribe(name));
    const body = await json(await s.sdk().get({ path: `/channels/${name}`, params: { info: 'subscription_count' } }));
    assert.equal(body.occupied, true);
    assert.equal(body.subscription_count, 2);
    const empty = await json(await s.sdk().get({ path: `/channels/${uniq('nobody-')}` }));
    assert.equal(empty.occupied, false);
  });

  it('GET /channels/presence-…: user_count counts users, not connections', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-info-');
    for (const tok of ['u1', 'u1', 'u2']) {
      const p = await s.connected(auth.clientOptions(tok));
      await subscribed(p.subscribe(name));
    }
    const body = await json(await s.sdk().get({ path: `/channels/${name}`, params: { info: 'user_count' } }));
    assert.equal(body.occupied, true);
    assert.equal(body.user_count, 2, JSON.stringify(body));
  });

  it('GET /channels/presence-…/users lists each user once', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-users-');
    for (const tok of ['u1', 'u2', 'u2']) {
      const p = await s.connected(auth.clientOptions(tok));
      await subscribed(p.subscribe(name));
    }
    const body = await json(await s.sdk().get({ path: `/channels/${name}/users` }));
    assert.deepEqual(body.users.map((u) => String(u.id)).sort(), ['u1', 'u2'], JSON.stringify(body));
  });

  it('socket_id excludes exactly that connection', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('api-except-');
    const a = await s.raw();
    const b = await s.raw();
    const ida = (await a.established()).socket_id;
    await b.established();
    await a.subscribe(name);
    await b.subscribe(name);
    await json(await s.sdk().trigger(name, 'ev', 'x', { socket_id: ida }));
    await b.next('ev');
    await sleep(300);
    assert.equal(a.matching((m) => m && m.event === 'ev').length, 0);
  });

  it('PHP-style body ("channel" singular) is accepted and delivered', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('php-');
    const raw = await s.raw();
    await raw.established();
    await raw.subscribe(name);
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'App\\Events\\OrderShipped', data: '{"order":{"id":1}}', channel: name },
    });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json, {});
    const m = await raw.next('App\\Events\\OrderShipped');
    assert.equal(m.data, '{"order":{"id":1}}');
  });

  it('GET /channels/{presence}?info=user_count,subscription_count (comma sent as %2C like PHP)', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-both-');
    for (const tok of ['u1', 'u1']) {
      const p = await s.connected(auth.clientOptions(tok));
      await subscribed(p.subscribe(name));
    }
    const res = await apiRequest(srv, { path: `/channels/${name}`, params: { info: 'user_count,subscription_count' } });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json.occupied, true);
    assert.equal(res.json.user_count, 1, res.text);
  });

  it('triggerBatch with info returns one entry per item ({"batch": [...]})', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('batch-info-');
    const p = await s.connected();
    await subscribed(p.subscribe(name));
    const body = await json(
      await s.sdk().triggerBatch([
        { channel: name, name: 'a', data: '1', info: 'subscription_count' },
        { channel: uniq('batch-empty-'), name: 'b', data: '2' },
      ]),
    );
    assert.ok(Array.isArray(body.batch), JSON.stringify(body));
    assert.equal(body.batch.length, 2);
    assert.equal(body.batch[0].subscription_count, 1, JSON.stringify(body));
  });

  it('event name longer than 200 characters: 400', async (t) => {
    const res = await apiRequest(srv, { method: 'POST', path: '/events', body: { name: 'e'.repeat(201), channel: 'c', data: '{}' } });
    assertJsonError(res, 400);
  });

  it('GET /channels?info=user_count without filter_by_prefix=presence-: 400', async (t) => {
    const res = await apiRequest(srv, { path: '/channels', params: { info: 'user_count' } });
    assertJsonError(res, 400);
  });

  it('bad signature: 401 with {"error": ...}', async (t) => {
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: '{}' },
      signature: 'f'.repeat(64),
    });
    assertJsonError(res, 401);
  });

  it('wrong secret: 401', async (t) => {
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: '{}' },
      secret: 'not-the-secret',
    });
    assertJsonError(res, 401);
  });

  it('stale timestamp (older than 600 s): 401', async (t) => {
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: '{}' },
      timestamp: Math.floor(Date.now() / 1000) - 700,
    });
    assertJsonError(res, 401);
    const fresh = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: '{}' },
      timestamp: Math.floor(Date.now() / 1000) - 60,
    });
    assert.equal(fresh.status, 200, `a 60 s old timestamp must be accepted: ${fresh.text}`);
  });

  it('wrong body_md5: 401', async (t) => {
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: '{}' },
      bodyMd5: '0'.repeat(32),
    });
    assertJsonError(res, 401);
  });

  it('GET with body_md5 of the empty body is accepted', async (t) => {
    const res = await apiRequest(srv, { method: 'GET', path: '/channels', params: { body_md5: 'd41d8cd98f00b204e9800998ecf8427e' } });
    assert.equal(res.status, 200, res.text);
  });

  it('event data over 100 KB: 413', async (t) => {
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: 'x'.repeat(101 * 1024) },
    });
    assertJsonError(res, 413);
  });

  it('request body over max_request_size_kb: 413', async (t) => {
    const target = await serverFor(t, { server: { max_request_size_kb: 64 } });
    if (!target) return;
    const res = await apiRequest(target, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: 'x'.repeat(80 * 1024) },
    });
    assert.equal(res.status, 413, res.text);
  });

  it('more than 100 channels: 400', async (t) => {
    const channels = Array.from({ length: 101 }, (_, i) => `c-${i}`);
    const res = await apiRequest(srv, { method: 'POST', path: '/events', body: { name: 'e', channels, data: '{}' } });
    assertJsonError(res, 400);
  });

  it('more than 10 batch items: 400, nothing delivered', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('batch-over-');
    const raw = await s.raw();
    await raw.established();
    await raw.subscribe(name);
    const batch = Array.from({ length: 11 }, (_, i) => ({ name: 'e', channel: name, data: String(i) }));
    const res = await apiRequest(srv, { method: 'POST', path: '/batch_events', body: { batch } });
    assertJsonError(res, 400);
    await sleep(300);
    assert.equal(raw.matching((m) => m && m.event === 'e').length, 0);
  });

  it('unknown app id: 404', async (t) => {
    const res = await apiRequest(srv, {
      method: 'POST',
      path: '/events',
      body: { name: 'e', channel: 'c', data: '{}' },
      appId: 'no-such-app',
    });
    assertJsonError(res, 404);
  });

  it('missing name/data: 400', async (t) => {
    const res = await apiRequest(srv, { method: 'POST', path: '/events', body: { channel: 'c' } });
    assertJsonError(res, 400);
  });

  it('GET /channels/{public}/users: 400 (presence only)', async (t) => {
    const res = await apiRequest(srv, { method: 'GET', path: `/channels/${uniq('pub-')}/users` });
    assertJsonError(res, 400);
  });

  it('private channel subscriber gets events published with the SDK (signature path end to end)', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('private-api-');
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    await raw.subscribe(name, { auth: signChannel(srv.app, socket_id, name) });
    await json(await s.sdk().trigger(name, 'App\\Events\\Done', { ok: 1 }));
    const m = await raw.next('App\\Events\\Done');
    assert.equal(m.data, '{"ok":1}');
  });
});
