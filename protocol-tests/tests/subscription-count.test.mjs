// Subscription counts (apps with enable_subscription_count, Pusher's opt-in
// "subscription count" feature): pusher_internal:subscription_count, which
// pusher-js re-emits on the channel as pusher:subscription_count and keeps in
// channel.subscriptionCount. One node, a join storm, and two nodes over Redis.
//
// Target mode: set PUSHER_SUBSCRIPTION_COUNT=1 when the server has the feature
// enabled for the app (else these cases are skipped as needing server config).
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  TARGET,
  Target,
  Scope,
  serverFor,
  remoteTarget,
  redisAvailable,
  startRedis,
  startNodes,
  clusterServer,
  subscribed,
  collect,
  until,
  sleep,
  frameData,
} from '../lib/harness.mjs';

const APP = { enable_subscription_count: true };
const uniq = (p) => `${p}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

async function countServer(t) {
  if (TARGET && process.env.PUSHER_SUBSCRIPTION_COUNT) return remoteTarget();
  return serverFor(t, { app: APP });
}

/** The counts pusher-js emitted on `channel` so far. */
const countsOf = (seen) => seen.map((e) => e.data.subscription_count);
const last = (a) => a[a.length - 1];

describe('subscription count', () => {
  it('pusher-js: pusher:subscription_count follows joins and leaves; channel.subscriptionCount', async (t) => {
    const target = await countServer(t);
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('count');
    const a = await s.connected();
    const chA = a.subscribe(name);
    const seenA = collect(chA, 'pusher:subscription_count');
    await subscribed(chA);
    await until(() => last(countsOf(seenA)) === 1, 3000, 'count 1 on the first subscriber');
    const b = await s.connected();
    const chB = b.subscribe(name);
    const seenB = collect(chB, 'pusher:subscription_count');
    await subscribed(chB);
    await until(() => last(countsOf(seenA)) === 2 && last(countsOf(seenB)) === 2, 3000, 'count 2 on both');
    assert.equal(chA.subscriptionCount, 2);
    b.unsubscribe(name);
    await until(() => last(countsOf(seenA)) === 1, 3000, 'count back to 1 after a leave');
    assert.equal(chA.subscriptionCount, 1);
  });

  it('raw: the frame is {"event":"pusher_internal:subscription_count","channel":…,"data":"{\\"subscription_count\\":N}"}', async (t) => {
    const target = await countServer(t);
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('count-raw');
    const raw = await s.raw();
    await raw.established();
    await raw.subscribe(name);
    const f = await raw.next('pusher_internal:subscription_count', 3000);
    assert.equal(f.channel, name);
    assert.equal(typeof f.data, 'string', 'data is a JSON-encoded string');
    assert.deepEqual(JSON.parse(f.data), { subscription_count: 1 });
  });

  it('presence channels get no subscription_count', async (t) => {
    const target = await countServer(t);
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('presence-count');
    for (const id of ['1', '2']) {
      const raw = await s.raw();
      const { socket_id } = await raw.established();
      const cd = JSON.stringify({ user_id: id });
      const { auth } = s.sdk().authorizeChannel(socket_id, name, { user_id: id });
      assert.equal((await raw.subscribe(name, { auth, channel_data: cd })).event, 'pusher_internal:subscription_succeeded');
      if (id === '2') {
        await sleep(400);
        assert.equal(raw.matching((m) => m && m.event === 'pusher_internal:subscription_count').length, 0);
      }
    }
  });

  it('a join storm (150 sockets) is coalesced: fewer counts than joins, the last one exact', async (t) => {
    const target = await countServer(t);
    if (!target) return;
    const s = new Scope(t, target);
    const name = uniq('count-storm');
    const first = await s.raw();
    await first.established();
    await first.subscribe(name);
    const others = [];
    for (let i = 0; i < 150; i++) others.push(s.raw());
    for (const p of await Promise.all(others)) {
      await p.established();
      p.send({ event: 'pusher:subscribe', data: { auth: '', channel: name } });
    }
    const counts = () =>
      first.matching((m) => m && m.event === 'pusher_internal:subscription_count').map((f) => frameData(f.msg).subscription_count);
    await until(() => last(counts()) === 151, 10000, 'the count of 151');
    const n = counts().length;
    t.diagnostic(`${n} subscription_count frames on the first socket for 150 joins`);
    assert.ok(n < 150, `${n} counts for 150 joins: not coalesced`);
  });

  it('two nodes over Redis: the count is the cluster-wide one', { skip: TARGET || !redisAvailable() ? 'needs a local cluster (redis-server)' : false }, async (t) => {
    const redis = await startRedis();
    const nodes = await startNodes(2, { name: 'count-cluster', app: APP, server: clusterServer(redis, uniq('ptc')) });
    const targets = nodes.map((h) => new Target({ host: h.host, port: h.port, app: h.app, herald: h }));
    t.after(async () => {
      for (const tg of targets) await tg.stop();
      await redis.stop();
    });
    const [sa, sb] = targets.map((tg) => new Scope(t, tg));
    const name = uniq('count-cl');
    const a = await sa.connected();
    const chA = a.subscribe(name);
    const seenA = collect(chA, 'pusher:subscription_count');
    await subscribed(chA);
    await until(() => last(countsOf(seenA)) === 1, 3000, 'count 1 on A');
    const b1 = await sb.connected();
    const b2 = await sb.connected();
    const chB1 = b1.subscribe(name);
    const seenB = collect(chB1, 'pusher:subscription_count');
    const chB2 = b2.subscribe(name);
    await subscribed(chB1);
    await subscribed(chB2);
    const both = async (n, what) => {
      try {
        await until(() => last(countsOf(seenA)) === n && last(countsOf(seenB)) === n, 5000, what);
      } catch (e) {
        throw new Error(`${e.message}; A saw ${countsOf(seenA)}, B saw ${countsOf(seenB)}`);
      }
    };
    await both(3, 'count 3 on A and B');
    b2.unsubscribe(name);
    await both(2, 'count 2 after a leave on B');
    b1.disconnect();
    await until(() => last(countsOf(seenA)) === 1, 5000, 'count 1 after B disconnects');
  });
});
