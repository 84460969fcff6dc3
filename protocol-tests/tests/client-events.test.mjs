// Client events (client-*): relay, no echo, user_id on presence, refusals, rate limit.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, serverFor, waitFor, subscribed, sleep, collect, until, signChannel, frameData } from '../lib/harness.mjs';

const USERS = {
  ann: { id: 'ann', info: { name: 'Ann' } },
  ben: { id: 'ben', info: { name: 'Ben' } },
  num: { id: 42, info: { name: 'Forty-two' } },
};

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;
const ENABLED = { app: { enable_client_messages: true } };

async function pair(t, target, name) {
  const s = new Scope(t, target);
  const auth = await s.authServer({ users: USERS });
  const a = await s.connected(auth.clientOptions('ann'));
  const b = await s.connected(auth.clientOptions('ben'));
  const cha = await subscribed(a.subscribe(name));
  const chb = await subscribed(b.subscribe(name));
  return { s, auth, a, b, cha, chb };
}

/** The channel-level pusher:error pusher-js emits when the error frame carries `channel`. */
function channelError(ch, ms = 3000) {
  return waitFor(ch, 'pusher:error', ms);
}

describe('client events', () => {
  it('private channel: relayed to the other subscriber, not echoed to the sender', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const { cha, chb } = await pair(t, target, uniq('private-chat.'));
    const echoed = collect(cha, 'client-typing');
    const got = waitFor(chb, 'client-typing', 3000);
    assert.ok(cha.trigger('client-typing', { name: 'Ann', n: 1 }));
    assert.deepEqual(await got, { name: 'Ann', n: 1 });
    await sleep(300);
    assert.equal(echoed.length, 0, 'client event echoed to its sender');
  });

  it('presence channel: relayed frame carries user_id (pusher-js metadata.user_id)', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const name = uniq('presence-chat.');
    const { cha, chb } = await pair(t, target, name);
    const got = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no client event')), 3000);
      chb.bind('client-hello', (data, meta) => {
        clearTimeout(timer);
        resolve({ data, meta });
      });
    });
    cha.trigger('client-hello', { hi: true });
    const { data, meta } = await got;
    assert.deepEqual(data, { hi: true });
    assert.equal(meta?.user_id, 'ann');
  });

  it('presence channel: numeric user ids come back in user_id', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const s = new Scope(t, target);
    const auth = await s.authServer({ users: USERS });
    const name = uniq('presence-num.');
    const a = await s.connected(auth.clientOptions('num'));
    const b = await s.connected(auth.clientOptions('ben'));
    const cha = await subscribed(a.subscribe(name));
    const chb = await subscribed(b.subscribe(name));
    const got = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no client event')), 3000);
      chb.bind('client-n', (data, meta) => {
        clearTimeout(timer);
        resolve(meta);
      });
    });
    cha.trigger('client-n', {});
    assert.equal(String((await got)?.user_id), '42');
  });

  it('raw: relayed frame is {event, channel, data} with the data as sent', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('private-raw.');
    const a = await s.raw();
    const b = await s.raw();
    const ida = (await a.established()).socket_id;
    const idb = (await b.established()).socket_id;
    await a.subscribe(name, { auth: signChannel(target.app, ida, name) });
    await b.subscribe(name, { auth: signChannel(target.app, idb, name) });
    a.send({ event: 'client-x', channel: name, data: { text: 'héllo', list: [1, 2] } });
    const m = await b.next('client-x');
    assert.equal(m.channel, name);
    assert.deepEqual(frameData(m), { text: 'héllo', list: [1, 2] });
    assert.equal(m.user_id, undefined, 'user_id must only be set on presence channels');
  });

  it('refused on public channels: pusher:error 4301 with the channel, nothing relayed', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const { cha, chb } = await pair(t, target, uniq('public-chat.'));
    const relayed = collect(chb, 'client-typing');
    const err = channelError(cha);
    cha.trigger('client-typing', { x: 1 });
    const e = await err;
    assert.equal(e.code, 4301, JSON.stringify(e));
    await sleep(300);
    assert.equal(relayed.length, 0, 'client event on a public channel was relayed');
  });

  it('refused when the app has client messages disabled: pusher:error 4301, socket kept', async (t) => {
    const target = await serverFor(t); // herald default: enable_client_messages = false
    if (!target) return;
    const { s, a, cha, chb } = await pair(t, target, uniq('private-off.'));
    const relayed = collect(chb, 'client-typing');
    const err = channelError(cha);
    cha.trigger('client-typing', { x: 1 });
    const e = await err;
    assert.equal(e.code, 4301, JSON.stringify(e));
    assert.equal(typeof e.message, 'string');
    await sleep(300);
    assert.equal(relayed.length, 0);
    assert.equal(a.connection.state, 'connected');
    // still usable
    const got = waitFor(cha, 'server-event', 3000);
    await s.sdk().trigger(cha.name, 'server-event', { ok: 1 });
    await got;
  });

  it('dropped when the sender is not subscribed to the channel', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('private-member.');
    const a = await s.raw();
    const b = await s.raw();
    await a.established();
    const idb = (await b.established()).socket_id;
    await b.subscribe(name, { auth: signChannel(target.app, idb, name) });
    a.send({ event: 'client-sneak', channel: name, data: {} });
    await sleep(500);
    assert.equal(b.matching((m) => m && m.event === 'client-sneak').length, 0, 'non-member client event relayed');
    assert.ok(a.isOpen);
  });

  it('refused when the data is over max_event_payload_kb or the name over 200 chars: 4301', async (t) => {
    const target = await serverFor(t, { app: { enable_client_messages: true, max_event_payload_kb: 1 } });
    if (!target) return;
    const { cha, chb } = await pair(t, target, uniq('private-size.'));
    const relayed = collect(chb, 'client-big');
    const err = channelError(cha);
    cha.trigger('client-big', { blob: 'x'.repeat(2048) });
    assert.equal((await err).code, 4301);
    const err2 = channelError(cha);
    cha.trigger(`client-${'n'.repeat(200)}`, {});
    assert.equal((await err2).code, 4301);
    await sleep(300);
    assert.equal(relayed.length, 0);
    const ok = waitFor(chb, 'client-small', 3000);
    cha.trigger('client-small', { blob: 'x'.repeat(100) });
    await ok;
  });

  it('client events are not cached on cache channels', async (t) => {
    const target = await serverFor(t, ENABLED);
    if (!target) return;
    const name = uniq('private-cache-whisper.');
    const { s, auth, cha, chb } = await pair(t, target, name);
    const got = waitFor(chb, 'client-note', 3000);
    cha.trigger('client-note', { x: 1 });
    await got;
    const late = await s.connected(auth.clientOptions('num'));
    const chl = late.subscribe(name);
    await waitFor(chl, 'pusher:cache_miss', 3000);
  });

  it('rate limited (max_client_events_per_sec=3): 4301 after the limit, socket kept', async (t) => {
    const target = await serverFor(t, { app: { enable_client_messages: true, max_client_events_per_sec: 3 } });
    if (!target) return;
    const { a, cha, chb } = await pair(t, target, uniq('private-flood.'));
    const relayed = collect(chb, 'client-burst');
    const errors = collect(cha, 'pusher:error');
    for (let i = 0; i < 10; i++) cha.trigger('client-burst', { i });
    await until(() => errors.length > 0, 3000, 'rate-limit error');
    await sleep(500);
    assert.ok(errors.every((e) => e.data.code === 4301), JSON.stringify(errors.map((e) => e.data)));
    assert.ok(relayed.length >= 3 && relayed.length <= 6, `relayed ${relayed.length} of 10 with a limit of 3/s`);
    assert.ok(errors.length >= 4, `only ${errors.length} rate-limit errors for 10 events at 3/s`);
    assert.equal(a.connection.state, 'connected');
    // after a second the budget is back
    await sleep(1100);
    const n = relayed.length;
    cha.trigger('client-burst', { i: 'later' });
    await until(() => relayed.length === n + 1, 3000, 'event after the window');
  });
});
