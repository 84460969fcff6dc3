// Watchlist events (apps with enable_watchlist_events): a signed-in user whose
// user_data has a `watchlist` gets pusher_internal:watchlist_events, which
// pusher-js emits on pusher.user.watchlist as `online` / `offline` with
// {name, user_ids}: first the status of the watched ids, then each change as a
// watched user signs in on its first socket or leaves its last. Pusher's limit:
// 100 ids (the first 100 are kept, pusher:error 4302). One node and two nodes.
//
// Target mode: set PUSHER_WATCHLIST=1 when the server has the feature enabled
// for the app (else these cases are skipped as needing server config).
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
  killNode,
  subscribed,
  waitFor,
  waitState,
  until,
  sleep,
} from '../lib/harness.mjs';

const APP = { enable_watchlist_events: true };
const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

async function watchServer(t) {
  if (TARGET && process.env.PUSHER_WATCHLIST) return remoteTarget();
  return serverFor(t, { app: APP });
}

/** A user-auth endpoint whose users (token -> {id, watchlist}) sign their watchlist. */
async function watchAuth(s, users) {
  return s.authServer({
    users,
    override: ({ path, params, user }) => {
      if (!user || !path.startsWith('/broadcasting/user-auth')) return null;
      const data = { id: user.id, ...(user.watchlist ? { watchlist: user.watchlist } : {}) };
      return { body: s.sdk().authenticateUser(params.socket_id, data) };
    },
  });
}

/** pusher-js signed in as the user behind `token`; `events` collects its watchlist events. */
async function signedIn(s, auth, token) {
  const p = await s.connected(auth.clientOptions(token));
  const events = [];
  for (const name of ['online', 'offline']) p.user.watchlist.bind(name, (e) => events.push(e));
  const ok = waitFor(p, 'pusher:signin_success', 3000);
  p.signin();
  await ok;
  return { p, events };
}

const has = (events, name, id) => events.some((e) => e.name === name && e.user_ids.includes(id));

describe('watchlist events', () => {
  it('pusher-js: the watched ids status on signin, then online/offline as users come and go', async (t) => {
    const target = await watchServer(t);
    if (!target) return;
    const s = new Scope(t, target);
    const [w, a, b] = [uniq('w'), uniq('a'), uniq('b')];
    const auth = await watchAuth(s, { tw: { id: w, watchlist: [a, b] }, ta: { id: a }, tb: { id: b } });
    await signedIn(s, auth, 'tb');
    const { events } = await signedIn(s, auth, 'tw');
    await until(() => has(events, 'online', b) && has(events, 'offline', a), 3000, 'the initial status');
    assert.deepEqual(events.map((e) => e.name).sort(), ['offline', 'online']);
    assert.deepEqual(events.find((e) => e.name === 'online'), { name: 'online', user_ids: [b] });
    assert.deepEqual(events.find((e) => e.name === 'offline'), { name: 'offline', user_ids: [a] });
    events.length = 0;
    const tab1 = await signedIn(s, auth, 'ta');
    await until(() => has(events, 'online', a), 3000, `online for ${a}`);
    const tab2 = await signedIn(s, auth, 'ta');
    tab1.p.disconnect();
    await sleep(400);
    assert.ok(!has(events, 'offline', a), 'offline while another tab is signed in');
    assert.equal(events.filter((e) => e.name === 'online').length, 1, 'one online for two tabs');
    tab2.p.disconnect();
    await until(() => has(events, 'offline', a), 3000, `offline for ${a} after the last tab`);
  });

  it('more than 100 ids: signin succeeds, pusher:error 4302, the first 100 are watched', async (t) => {
    const target = await watchServer(t);
    if (!target) return;
    const s = new Scope(t, target);
    const ids = Array.from({ length: 101 }, (_, i) => uniq(`u${i}-`));
    const raw = await s.raw();
    const { socket_id } = await raw.established();
    const { auth, user_data } = s.sdk().authenticateUser(socket_id, { id: uniq('w'), watchlist: ids });
    raw.send({ event: 'pusher:signin', data: { auth, user_data } });
    await raw.next('pusher:signin_success', 3000);
    const err = await raw.next('pusher:error', 3000);
    assert.equal(err.data.code, 4302, err.__raw);
    const status = await raw.next('pusher_internal:watchlist_events', 3000);
    assert.equal(typeof status.data, 'object', 'data is an object, not a string');
    const watched = status.data.events.flatMap((e) => e.user_ids);
    assert.deepEqual(watched.sort(), ids.slice(0, 100).sort());
  });

  it('two nodes over Redis: online/offline follow users signed in on the other node', { skip: TARGET || !redisAvailable() ? 'needs a local cluster (redis-server)' : false }, async (t) => {
    const redis = await startRedis();
    const nodes = await startNodes(2, { name: 'watch-cluster', app: APP, server: clusterServer(redis, uniq('ptw')) });
    const targets = nodes.map((h) => new Target({ host: h.host, port: h.port, app: h.app, herald: h }));
    t.after(async () => {
      for (const tg of targets) await tg.stop();
      await redis.stop();
    });
    const [sa, sb] = targets.map((tg) => new Scope(t, tg));
    const [w, a, b] = ['w', 'a', 'b'];
    const users = { tw: { id: w, watchlist: [a, b] }, ta: { id: a }, tb: { id: b } };
    const authA = await watchAuth(sa, users);
    const authB = await watchAuth(sb, users);
    await signedIn(sb, authB, 'tb');
    const { events } = await signedIn(sa, authA, 'tw');
    await until(() => has(events, 'online', b) && has(events, 'offline', a), 3000, 'the initial status across nodes');
    events.length = 0;
    const onB = await signedIn(sb, authB, 'ta');
    await until(() => has(events, 'online', a), 3000, 'online from the other node');
    const onA = await signedIn(sa, authA, 'ta');
    onB.p.disconnect();
    await sleep(400);
    assert.ok(!has(events, 'offline', a), 'offline while the user is signed in on the other node');
    onA.p.disconnect();
    await until(() => has(events, 'offline', a), 3000, 'offline after the last socket anywhere');
    await waitState(onA.p, ['disconnected', 'failed']);
  });

  it('kill -9 of a node: its users go offline and its subscribers leave the count on the other node', { skip: TARGET || !redisAvailable() ? 'needs a local cluster (redis-server)' : false }, async (t) => {
    const redis = await startRedis();
    const app = { ...APP, enable_subscription_count: true };
    const nodes = await startNodes(2, { name: 'watch-kill', app, server: clusterServer(redis, uniq('ptk')) });
    const targets = nodes.map((h) => new Target({ host: h.host, port: h.port, app: h.app, herald: h }));
    t.after(async () => {
      for (const tg of targets) await tg.stop();
      await redis.stop();
    });
    const [sa, sb] = targets.map((tg) => new Scope(t, tg));
    const users = { tw: { id: 'w', watchlist: ['gone'] }, tg: { id: 'gone' } };
    const authA = await watchAuth(sa, users);
    const authB = await watchAuth(sb, users);
    const { p: watcher, events } = await signedIn(sa, authA, 'tw');
    const counts = [];
    const ch = watcher.subscribe('room');
    ch.bind('pusher:subscription_count', (d) => counts.push(d.subscription_count));
    await subscribed(ch);
    const victim = await signedIn(sb, authB, 'tg');
    await subscribed(victim.p.subscribe('room'));
    await until(() => has(events, 'online', 'gone') && counts[counts.length - 1] === 2, 5000, 'online and count 2');
    const t0 = Date.now();
    await killNode(nodes[1]);
    await until(() => has(events, 'offline', 'gone'), 12000, 'offline after the kill');
    await until(() => counts[counts.length - 1] === 1, 12000, 'count 1 after the kill');
    t.diagnostic(`offline and count 1 on the live node ${Date.now() - t0} ms after kill -9`);
  });
});
