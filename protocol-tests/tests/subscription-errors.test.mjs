// Subscription refusals: what pusher-js / Echo report, and that the
// connection stays usable afterwards.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, sharedServer, serverFor, waitFor, subscribed, sleep, signChannel, frameData } from '../lib/harness.mjs';

const USERS = {
  good: { id: 'good', info: { name: 'Good' } },
  evil: { id: 'evil', info: { name: 'Evil' }, wrongSecret: true },
  second: { id: 'second', info: { name: 'Second' } },
  big: { id: 'big', info: { name: 'x'.repeat(12 * 1024) } },
};

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/** After a refusal the same connection must still subscribe and receive an event. */
async function assertStillUsable(s, pusher) {
  assert.equal(pusher.connection.state, 'connected', 'connection dropped after a subscription error');
  const name = uniq('after-error-');
  const ch = await subscribed(pusher.subscribe(name));
  const got = waitFor(ch, 'still-alive', 3000);
  await s.sdk().trigger(name, 'still-alive', { ok: true });
  assert.deepEqual(await got, { ok: true });
}

function errorOf(ch, ms = 3000) {
  return waitFor(ch, 'pusher:subscription_error', ms);
}

describe('subscription errors', () => {
  let srv;
  before(async () => {
    srv = await sharedServer('subscription-errors');
  });
  after(() => srv.stop());

  it('private channel with a bad signature: subscription_error AuthError 401, socket kept', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const p = await s.connected(auth.clientOptions('evil'));
    const ch = p.subscribe(uniq('private-bad.'));
    const err = await errorOf(ch);
    assert.equal(err.status, 401);
    assert.equal(err.type, 'AuthError');
    assert.equal(typeof err.error, 'string');
    assert.ok(!ch.subscribed);
    await assertStillUsable(s, p);
  });

  it('presence channel with a bad signature: Echo .error() gets status 401', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const echo = await s.echo(auth.echoOptions('evil'));
    const name = uniq('room.');
    const err = await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('Echo .error() not called')), 3000);
      echo.join(name).error((e) => {
        clearTimeout(timer);
        resolve(e);
      });
    });
    assert.equal(err.status, 401);
    assert.equal(err.type, 'AuthError');
    await assertStillUsable(s, echo.connector.pusher);
  });

  it('private channel with an empty auth (raw): subscription_error 401 on that channel', async (t) => {
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    const name = uniq('private-noauth.');
    const res = await raw.subscribe(name, { auth: '' });
    assert.equal(res.event, 'pusher:subscription_error', res.__raw);
    assert.equal(res.channel, name);
    const d = frameData(res);
    assert.equal(d.type, 'AuthError');
    assert.equal(d.status, 401);
    assert.ok(raw.isOpen);
  });

  it('private channel with another app key in auth: 401', async (t) => {
    const s = new Scope(t, srv);
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const name = uniq('private-otherkey.');
    const sig = signChannel(srv.app, socket_id, name).split(':')[1];
    const res = await raw.subscribe(name, { auth: `other-key:${sig}` });
    assert.equal(res.event, 'pusher:subscription_error', res.__raw);
    assert.equal(frameData(res).status, 401);
  });

  it('presence channel with tampered channel_data (signed for another user): 401', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected({
      channelAuthorization: {
        customHandler: ({ socketId, channelName }, cb) => {
          const signed = s.sdk().authorizeChannel(socketId, channelName, { user_id: 'good' });
          cb(null, { auth: signed.auth, channel_data: JSON.stringify({ user_id: 'admin' }) });
        },
      },
    });
    const err = await errorOf(p.subscribe(uniq('presence-tamper.')));
    assert.equal(err.status, 401);
    await assertStillUsable(s, p);
  });

  it('presence channel whose signed channel_data has no user_id: subscription_error, no member added', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('presence-nouser.');
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const channelData = JSON.stringify({ user_info: { name: 'nobody' } });
    const res = await raw.subscribe(name, { auth: signChannel(srv.app, socket_id, name, channelData), channel_data: channelData });
    assert.equal(res.event, 'pusher:subscription_error', res.__raw);
    const d = frameData(res);
    assert.equal(typeof d.status, 'number');
    assert.equal(typeof d.error, 'string');
    raw.send({ event: 'pusher:ping', data: {} });
    await raw.next('pusher:pong');
  });

  it('presence channel with channel_data that is not JSON: subscription_error, socket kept', async (t) => {
    const s = new Scope(t, srv);
    const name = uniq('presence-garbage.');
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const channelData = 'not json at all';
    const res = await raw.subscribe(name, { auth: signChannel(srv.app, socket_id, name, channelData), channel_data: channelData });
    assert.equal(res.event, 'pusher:subscription_error', res.__raw);
    raw.send({ event: 'pusher:ping', data: {} });
    await raw.next('pusher:pong');
  });

  for (const [label, bad] of [
    ['space', 'has space'],
    ['dollar', 'price$'],
    ['slash', 'a/b'],
    ['unicode', 'café'],
  ]) {
    it(`invalid channel name (${label}): subscription_error status 4009, socket kept`, async (t) => {
      const s = new Scope(t, srv);
      const p = await s.connected();
      const err = await errorOf(p.subscribe(`${bad}-${Date.now()}`));
      assert.equal(err.status, 4009, JSON.stringify(err));
      assert.equal(typeof err.error, 'string');
      await assertStillUsable(s, p);
    });
  }

  it('channel name longer than 200 characters: subscription_error 4009, socket kept', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected();
    const err = await errorOf(p.subscribe('a'.repeat(201)));
    assert.equal(err.status, 4009, JSON.stringify(err));
    await assertStillUsable(s, p);
    // exactly 200 is allowed
    await subscribed(p.subscribe('b'.repeat(200)));
  });

  it('presence member limit (max_presence_members=1): second user gets LimitReached 4100', async (t) => {
    const target = await serverFor(t, { app: { max_presence_members: 1 } });
    if (!target) return;
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-full.');
    const a = await s.connected(auth.clientOptions('good'));
    await subscribed(a.subscribe(name));
    const b = await s.connected(auth.clientOptions('second'));
    const err = await errorOf(b.subscribe(name));
    assert.equal(err.status, 4100, JSON.stringify(err));
    assert.equal(err.type, 'LimitReached');
    await assertStillUsable(s, b);
  });

  it('presence member limit counts users: a second tab of a member is not refused', async (t) => {
    const target = await serverFor(t, { app: { max_presence_members: 1 } });
    if (!target) return;
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-onefull.');
    const tab1 = await s.connected(auth.clientOptions('good'));
    await subscribed(tab1.subscribe(name));
    const tab2 = await s.connected(auth.clientOptions('good'));
    const ch2 = await subscribed(tab2.subscribe(name));
    assert.equal(ch2.members.count, 1);
  });

  it('presence member too big (user_info 12 KB > 2 KB default): subscription_error 4301', async (t) => {
    const s = new Scope(t, srv);
    const auth = await s.authServer({ users: USERS });
    const p = await s.connected(auth.clientOptions('big'));
    const err = await errorOf(p.subscribe(uniq('presence-big.')));
    assert.equal(err.status, 4301, JSON.stringify(err));
    assert.equal(err.type, 'LimitReached');
    await assertStillUsable(s, p);
  });

  it('subscribing twice to the same channel re-sends subscription_succeeded', async (t) => {
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    const name = uniq('twice-');
    assert.equal((await raw.subscribe(name)).event, 'pusher_internal:subscription_succeeded');
    assert.equal((await raw.subscribe(name)).event, 'pusher_internal:subscription_succeeded');
    await s.sdk().trigger(name, 'once', 'x');
    await raw.next('once');
    await sleep(300);
    assert.equal(raw.matching((m) => m && m.event === 'once').length, 1, 'event delivered twice after double subscribe');
  });
});
