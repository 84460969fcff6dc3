// Connection lifecycle: handshake, socket id, activity timeout, ping/pong,
// reconnect after 4200, connection refusals (4001, 4003, 4004).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  Scope,
  serverFor,
  sharedServer,
  waitFor,
  waitState,
  sleep,
  frameData,
  closedWithin,
  restartWatch,
  subscribed,
  until,
} from '../lib/harness.mjs';

describe('connection', () => {
  let shared;
  before(async () => {
    shared = await sharedServer('connection');
  });
  after(() => shared.stop());

  it('pusher-js connects and gets a socket id like 123.456', async (t) => {
    const s = new Scope(t, shared);
    const p = await s.connected();
    assert.equal(p.connection.state, 'connected');
    assert.match(p.connection.socket_id, /^\d+\.\d+$/);
  });

  it('connection_established is the first frame, data is a JSON string with socket_id and activity_timeout', async (t) => {
    const s = new Scope(t, shared);
    const raw = await s.raw();
    const first = await raw.next(() => true, 3000, 'first frame');
    assert.equal(first.event, 'pusher:connection_established');
    assert.equal(typeof first.data, 'string', 'data must be a JSON-encoded string');
    const data = JSON.parse(first.data);
    assert.match(data.socket_id, /^\d+\.\d+$/);
    assert.equal(typeof data.activity_timeout, 'number');
    assert.ok(data.activity_timeout > 0);
  });

  it('socket ids are unique per connection', async (t) => {
    const s = new Scope(t, shared);
    const ids = new Set();
    for (let i = 0; i < 5; i++) {
      const raw = await s.raw();
      ids.add((await raw.established()).socket_id);
    }
    assert.equal(ids.size, 5);
  });

  it('advertises the configured activity_timeout and pusher-js uses it', async (t) => {
    const srv = await serverFor(t, { server: { activity_timeout: 7 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const raw = await s.raw();
    const conn = await raw.established();
    assert.equal(conn.activity_timeout, 7);
    const p = await s.connected();
    assert.equal(p.connection.activityTimeout, 7000);
  });

  it('answers the pusher:ping that pusher-js sends when idle with pusher:pong', async (t) => {
    const s = new Scope(t, shared);
    // client-side activity timeout 500 ms: pusher-js sends {"event":"pusher:ping","data":{}} after 0.5 s of silence
    const p = await s.connected({ activityTimeout: 500, pongTimeout: 2000 });
    await waitFor(p, 'pusher:pong', 3000);
    // and the connection survives the activity check
    await sleep(1200);
    assert.equal(p.connection.state, 'connected');
  });

  it('raw client: pusher:ping -> pusher:pong', async (t) => {
    const s = new Scope(t, shared);
    const raw = await s.raw();
    await raw.established();
    raw.send({ event: 'pusher:ping', data: {} });
    await raw.next('pusher:pong', 2000);
  });

  it('server sends pusher:ping to a silent client after activity_timeout', async (t) => {
    const srv = await serverFor(t, { server: { activity_timeout: 1, pong_timeout: 30 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    const t0 = Date.now();
    await raw.next('pusher:ping', 4000);
    const waited = Date.now() - t0;
    assert.ok(waited >= 500, `ping came too early (${waited} ms)`);
    raw.send({ event: 'pusher:pong', data: {} });
    await sleep(300);
    assert.ok(raw.isOpen, 'socket closed after answering the ping');
  });

  it('pusher-js stays connected through server pings (activity_timeout=1)', async (t) => {
    const srv = await serverFor(t, { server: { activity_timeout: 1, pong_timeout: 2 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const p = await s.connected();
    const id = p.connection.socket_id;
    const states = [];
    p.connection.bind('state_change', (st) => states.push(st.current));
    await sleep(4500);
    assert.equal(p.connection.state, 'connected');
    assert.equal(p.connection.socket_id, id, 'pusher-js had to reconnect');
    assert.deepEqual(states, []);
  });

  it('closes a client that never answers the server ping with 4201', async (t) => {
    const srv = await serverFor(t, { server: { activity_timeout: 1, pong_timeout: 1 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    await raw.next('pusher:ping', 4000);
    const { code } = await closedWithin(raw, 5000);
    assert.equal(code, 4201);
  });

  it('pusher-js reconnects after the server closes with 4200 on graceful shutdown', async (t) => {
    const srv = await serverFor(t, { local: true, server: { shutdown_grace_period_ms: 200 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    const p = await s.connected();
    const ch = await subscribed(p.subscribe('survives-restart'));
    const restarted = restartWatch(p);
    const herald = srv.herald;
    const stopping = herald.stop();
    const closed = await closedWithin(raw, 5000);
    assert.equal(closed.code, 4200, 'graceful shutdown must close sockets with 4200');
    await stopping;
    await herald.start(); // same port
    await restarted(s, ch);
  });

  it('unknown app key: pusher:error 4001, close 4001, pusher-js does not reconnect', async (t) => {
    const s = new Scope(t, shared);
    const raw = await s.raw('no-such-key');
    const err = await raw.next('pusher:error', 3000);
    assert.equal(frameData(err).code, 4001);
    const { code } = await closedWithin(raw, 3000);
    assert.equal(code, 4001);

    const p = s.pusher({}, 'no-such-key');
    const states = [];
    p.connection.bind('state_change', (st) => states.push(st.current));
    const e = await waitFor(p.connection, 'error', 5000, (e) => (e?.error?.data?.code ?? e?.data?.code) === 4001);
    assert.ok(e);
    await waitState(p, ['disconnected', 'failed', 'unavailable'], 5000);
    await sleep(2000);
    assert.ok(['disconnected', 'failed', 'unavailable'].includes(p.connection.state), p.connection.state);
    assert.ok(!states.includes('connected'), `states: ${states}`);
    assert.equal(states.filter((x) => x === 'connecting').length, 0, `pusher-js retried: ${states}`);
  });

  it('disabled app: pusher:error 4003 and close 4003', async (t) => {
    const srv = await serverFor(t, { app: { enabled: false } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const raw = await s.raw();
    const err = await raw.next('pusher:error', 3000);
    assert.equal(frameData(err).code, 4003);
    assert.equal((await closedWithin(raw, 3000)).code, 4003);
    const p = s.pusher();
    await waitFor(p.connection, 'error', 5000, (e) => (e?.error?.data?.code ?? e?.data?.code) === 4003);
    await waitState(p, ['disconnected', 'failed', 'unavailable'], 5000);
  });

  it('connection quota: with max_connections=1 the second connection gets 4004', async (t) => {
    const srv = await serverFor(t, { app: { max_connections: 1 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const first = await s.connected();
    const raw = await s.raw();
    const err = await raw.next('pusher:error', 3000);
    assert.equal(frameData(err).code, 4004);
    assert.equal((await closedWithin(raw, 3000)).code, 4004);
    const p2 = s.pusher();
    await waitFor(p2.connection, 'error', 5000, (e) => (e?.error?.data?.code ?? e?.data?.code) === 4004);
    await waitState(p2, ['disconnected', 'failed', 'unavailable'], 5000);
    assert.equal(first.connection.state, 'connected');
    // a slot frees up when the first client leaves
    first.disconnect();
    await sleep(300);
    const again = await s.raw();
    await again.established();
  });

  it('a subscriber that stops reading is closed with 4100; the others get every event', async (t) => {
    const srv = await serverFor(t, { server: { socket_queue: 8 } });
    if (!srv) return;
    const s = new Scope(t, srv);
    const slow = await s.raw();
    const fast = await s.raw();
    for (const c of [slow, fast]) {
      await c.established();
      await c.subscribe('firehose');
    }
    slow.ws._socket.pause(); // stop reading: the kernel buffers fill, then herald's queue
    const data = 'x'.repeat(90 * 1024);
    const sdk = s.sdk();
    for (let i = 0; i < 200; i++) await sdk.trigger('firehose', 'big', data); // paced: one at a time
    await until(() => fast.matching((m) => m && m.event === 'big').length === 200, 10000, 'all 200 events on the fast subscriber');
    slow.ws._socket.resume();
    const closed = await closedWithin(slow, 10000);
    assert.equal(closed.code, 4100);
    assert.ok(slow.matching((m) => m && m.event === 'big').length < 200);
    assert.ok(fast.isOpen);
  });

  it('fan-out: 200 raw connections on one channel all receive one publish', async (t) => {
    const s = new Scope(t, shared);
    const name = `fanout-${Date.now()}`;
    const clients = [];
    for (let i = 0; i < 200; i++) clients.push(s.raw());
    const all = await Promise.all(clients);
    await Promise.all(all.map((c) => c.established()));
    await Promise.all(all.map((c) => c.subscribe(name, {}, 10000)));
    await s.sdk().trigger(name, 'hello-all', '{"n":1}');
    await Promise.all(all.map((c) => c.next('hello-all', 5000)));
    const info = await (await s.sdk().get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })).json();
    assert.equal(info.subscription_count, 200);
    for (const c of all.slice(0, 50)) c.close();
    await until(
      async () =>
        (await (await s.sdk().get({ path: `/channels/${name}`, params: { info: 'subscription_count' } })).json())
          .subscription_count === 150,
      3000,
      'subscription_count to drop to 150 after 50 disconnects',
    );
  });

  it('keeps the socket open on malformed JSON and unknown events', async (t) => {
    const s = new Scope(t, shared);
    const raw = await s.raw();
    await raw.established();
    raw.send('this is not json');
    raw.send({ event: 'pusher:no-such-event', data: {} });
    await sleep(300);
    raw.send({ event: 'pusher:ping', data: {} });
    await raw.next('pusher:pong', 2000);
    assert.ok(raw.isOpen);
  });
});

