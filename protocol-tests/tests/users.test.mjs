// User authentication: pusher.signin(), sendToUser, terminateUserConnections,
// and the sign-in timeout of apps with enable_user_authentication.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, serverFor, waitFor, waitState, sleep, closedWithin, frameData } from '../lib/harness.mjs';

const USERS = {
  'tok-1': { id: '1', info: { name: 'One' } },
  'tok-2': { id: '2', info: { name: 'Two' } },
};

// Pusher semantics: pusher:signin, server-to-user and terminate work for every
// app; enable_user_authentication only adds the sign-in deadline (last case).
// (Soketi ignored pusher:signin unless enableUserAuthentication was on.)
const SIGNIN = {};

async function signedIn(s, auth, token) {
  const p = await s.connected(auth.clientOptions(token));
  const ok = waitFor(p, 'pusher:signin_success', 3000);
  p.signin();
  await ok;
  await p.user.signinDonePromise;
  assert.equal(p.user.user_data?.id, USERS[token].id, 'pusher-js accepted the signin');
  // pusher-js subscribes to #server-to-user-<id> right after signin_success
  await waitFor(p.user.serverToUserChannel, 'pusher:subscription_succeeded', 3000).catch(() => {});
  return p;
}

async function rawSignedIn(s, target, userId) {
  const raw = await s.raw();
  const { socket_id } = await raw.established();
  const { auth, user_data } = s.sdk().authenticateUser(socket_id, { id: userId });
  raw.send({ event: 'pusher:signin', data: { auth, user_data } });
  const ok = await raw.next('pusher:signin_success');
  return { raw, ok };
}

describe('user authentication', () => {
  it('pusher.signin() through the user-auth endpoint -> pusher:signin_success', async (t) => {
    const target = await serverFor(t, SIGNIN);
    if (!target) return;
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    const p = await signedIn(s, auth, 'tok-1');
    const req = auth.requests.find((r) => r.path === '/broadcasting/user-auth');
    assert.equal(req.params.socket_id, p.connection.socket_id);
    assert.deepEqual(p.user.user_data, { id: '1', user_info: { name: 'One' } });
  });

  it('raw: signin_success data carries the signed user_data string', async (t) => {
    const target = await serverFor(t, SIGNIN);
    if (!target) return;
    const s = new Scope(t, target);
    const { ok } = await rawSignedIn(s, target, '77');
    const d = frameData(ok);
    assert.equal(typeof d.user_data, 'string');
    assert.equal(JSON.parse(d.user_data).id, '77');
  });

  it('signin with a bad signature is refused (pusher:error, no signin_success)', async (t) => {
    const target = await serverFor(t, SIGNIN);
    if (!target) return;
    const s = new Scope(t, target);
    const raw = await s.raw();
    await raw.established();
    raw.send({ event: 'pusher:signin', data: { auth: `${target.key}:${'0'.repeat(64)}`, user_data: '{"id":"1"}' } });
    const err = await raw.next('pusher:error', 3000);
    assert.equal(frameData(err).code, 4009, err.__raw);
    assert.equal(raw.matching((m) => m && m.event === 'pusher:signin_success').length, 0);
  });

  it('sendToUser reaches every socket signed in as that user, and only those', async (t) => {
    const target = await serverFor(t, SIGNIN);
    if (!target) return;
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    const tab1 = await signedIn(s, auth, 'tok-1');
    const tab2 = await signedIn(s, auth, 'tok-1');
    const other = await signedIn(s, auth, 'tok-2');
    const otherGot = [];
    other.user.bind('notice', (d) => otherGot.push(d));
    const g1 = waitFor(tab1.user, 'notice', 3000);
    const g2 = waitFor(tab2.user, 'notice', 3000);
    await s.sdk().sendToUser('1', 'notice', { text: 'for user 1' });
    assert.deepEqual(await g1, { text: 'for user 1' });
    assert.deepEqual(await g2, { text: 'for user 1' });
    await sleep(300);
    assert.equal(otherGot.length, 0, 'user 2 received user 1 event');
  });

  it('terminateUserConnections closes the user sockets with pusher:error 4009 + close 4009', async (t) => {
    const target = await serverFor(t, SIGNIN);
    if (!target) return;
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    const { raw } = await rawSignedIn(s, target, '1');
    const p = await signedIn(s, auth, 'tok-1');
    const bystander = await signedIn(s, auth, 'tok-2');
    const states = [];
    p.connection.bind('state_change', (st) => states.push(st.current));
    await s.sdk().terminateUserConnections('1');
    const err = await raw.next('pusher:error', 3000);
    assert.equal(frameData(err).code, 4009, err.__raw);
    assert.equal((await closedWithin(raw, 3000)).code, 4009);
    await waitState(p, ['disconnected', 'failed'], 3000);
    await sleep(1500);
    assert.ok(!states.includes('connecting'), `pusher-js reconnected after 4009: ${states}`);
    assert.equal(bystander.connection.state, 'connected');
  });

  it('terminateUserConnections leaves presence-only (not signed in) connections of that user open', async (t) => {
    const target = await serverFor(t, SIGNIN);
    if (!target) return;
    const s = new Scope(t, target);
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const name = `presence-term-${Date.now()}`;
    const cd = JSON.stringify({ user_id: '1' });
    const { auth } = s.sdk().authorizeChannel(socket_id, name, { user_id: '1' });
    const r = await raw.subscribe(name, { auth, channel_data: cd });
    assert.equal(r.event, 'pusher_internal:subscription_succeeded', r.__raw);
    await s.sdk().terminateUserConnections('1');
    await sleep(500);
    assert.ok(raw.isOpen, 'a connection that never signed in was terminated');
  });

  it('sign-in timeout (user_authentication_timeout_ms=500): a socket that does not sign in is closed with 4009', async (t) => {
    const target = await serverFor(t, { app: { enable_user_authentication: true, user_authentication_timeout_ms: 500 } });
    if (!target) return;
    const s = new Scope(t, target);
    const lazy = await s.raw();
    await lazy.established();
    const t0 = Date.now();
    const { raw: diligent } = await rawSignedIn(s, target, '5');
    // Pusher "authorized connections" / Soketi: a private subscription also counts
    const member = await s.raw();
    const mid = (await member.established()).socket_id;
    const pname = `private-authorized-${Date.now()}`;
    const { auth } = s.sdk().authorizeChannel(mid, pname);
    assert.equal((await member.subscribe(pname, { auth })).event, 'pusher_internal:subscription_succeeded');
    const closed = await closedWithin(lazy, 3000);
    assert.equal(closed.code, 4009);
    assert.ok(Date.now() - t0 >= 300, 'closed before the timeout');
    const err = lazy.matching((m) => m && m.event === 'pusher:error');
    assert.equal(err.length, 1, 'a pusher:error precedes the close');
    assert.equal(frameData(err[0].msg).code, 4009);
    await sleep(800);
    assert.ok(diligent.isOpen, 'a signed-in socket was closed by the sign-in timeout');
    assert.ok(member.isOpen, 'a socket with a private subscription was closed by the sign-in timeout');
  });
});
