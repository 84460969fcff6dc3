// Cluster cases: several herald nodes on the Redis adapter (`adapter = "redis"`)
// and one redis-server, all on free ports; pusher-js, Laravel Echo and the
// server SDK are spread across the nodes. Local mode only (target mode has a
// single server), and skipped when redis-server is not installed.
//
// Most cases share one 3-node cluster; the cases that kill or stop a node or
// Redis, or need a connection quota, start their own.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  TARGET,
  Target,
  Scope,
  redisAvailable,
  startRedis,
  startNodes,
  clusterServer,
  killNode,
  waitFor,
  waitState,
  subscribed,
  until,
  sleep,
  collect,
  signChannel,
  closedWithin,
  frameData,
} from '../lib/harness.mjs';

const SKIP = TARGET
  ? 'cluster cases start their own nodes and redis-server (local mode only)'
  : !redisAvailable()
    ? 'redis-server not installed (needed for the cluster cases; e.g. apt-get install redis-server)'
    : false;
const opt = { skip: SKIP };
// PT_CLUSTER_FAULT=split (self-check of the suite): the nodes share the
// redis-server but each uses its own key prefix, so they do not cluster;
// every case below except the first must then fail.
const SPLIT = process.env.PT_CLUSTER_FAULT === 'split';

const USERS = {
  'token-1': { id: '1', info: { id: 1, name: 'Taylor' } },
  'token-2': { id: '2', info: { id: 2, name: 'Abigail' } },
  'token-3': { id: '3', info: { id: 3, name: 'Jess' } },
  'token-4': { id: '4', info: { id: 4, name: 'Mo' } },
};
const TOK = { 'tok-1': { id: '1', info: { name: 'One' } }, 'tok-2': { id: '2', info: { name: 'Two' } } };

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

/** Redis + n nodes on one prefix; `targets[i]` is node i as a harness Target. */
async function startCluster(n, { name = 'cluster', app = {}, server = {} } = {}) {
  const redis = await startRedis();
  let nodes = [];
  try {
    const prefix = uniq('pt-');
    const nodeOpts = (p) => ({
      name,
      app: { enable_client_messages: true, ...app },
      server: { ...clusterServer(redis, p), ...server },
    });
    if (SPLIT) {
      // self-check: every node on its own prefix, i.e. n independent servers
      for (let i = 0; i < n; i++) nodes.push(...(await startNodes(1, nodeOpts(`${prefix}-${i}`))));
    } else nodes = await startNodes(n, nodeOpts(prefix));
  } catch (e) {
    for (const h of nodes) await h.stop();
    await redis.stop();
    throw e;
  }
  const targets = nodes.map((h) => new Target({ host: h.host, port: h.port, app: h.app, herald: h }));
  return {
    redis,
    nodes,
    targets,
    async stop() {
      for (const tg of targets) await tg.stop();
      await redis.stop();
    },
  };
}

/** A per-test cluster, stopped after the test. */
async function ownCluster(t, n, opts) {
  const cl = await startCluster(n, { name: t.name, ...opts });
  t.after(() => cl.stop());
  return cl;
}

const scopes = (t, cl) => cl.targets.map((tg) => new Scope(t, tg));

async function readyStatus(target) {
  try {
    const r = await fetch(`${target.httpBase}/ready`, { signal: AbortSignal.timeout(1000) });
    await r.text();
    return r.status;
  } catch {
    return 0;
  }
}

async function getJson(s, path, params) {
  const res = await s.sdk().get({ path, params });
  return res.json();
}

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

function echoSubscribed(ch, ms = 3000) {
  if (ch.subscription?.subscribed) return Promise.resolve();
  return echoWait((cb) => ch.subscribed(cb), ms, `subscription to ${ch.name}`);
}

/** pusher-js signed in through the user-auth endpoint, with its #server-to-user channel subscribed. */
async function signedIn(s, auth, token) {
  const p = await s.connected(auth.clientOptions(token));
  const ok = waitFor(p, 'pusher:signin_success', 3000);
  p.signin();
  await ok;
  await p.user.signinDonePromise;
  assert.equal(p.user.user_data?.id, TOK[token].id);
  await waitFor(p.user.serverToUserChannel, 'pusher:subscription_succeeded', 3000).catch(() => {});
  return p;
}

/** Kill Redis, wait for /ready 503 everywhere, start it again, wait for /ready 200 everywhere. */
async function redisBlip(t, own, whileDown = async () => {}) {
  let statuses;
  const tDown = Date.now();
  await own.redis.stop('SIGKILL');
  await until(
    async () => {
      statuses = await Promise.all(own.targets.map(readyStatus));
      return statuses.every((s) => s === 503);
    },
    8000,
    '/ready 503 on every node',
  ).catch((e) => {
    throw new Error(`${e.message}; /ready statuses ${statuses}`);
  });
  t.diagnostic(`/ready 503 on every node ${Date.now() - tDown} ms after Redis was killed`);
  await whileDown();
  await own.redis.start();
  const t0 = Date.now();
  await until(
    async () => {
      statuses = await Promise.all(own.targets.map(readyStatus));
      return statuses.every((s) => s === 200);
    },
    20000,
    '/ready 200 on every node after Redis returned',
  ).catch((e) => {
    throw new Error(`${e.message}; /ready statuses ${statuses}`);
  });
  t.diagnostic(`nodes ready again ${Date.now() - t0} ms after Redis restarted`);
}

describe('cluster (redis adapter)', () => {
  let cl = null;
  before(async () => {
    if (SKIP) return;
    cl = await startCluster(3, { name: 'cluster-shared' });
  });
  after(async () => {
    if (cl) await cl.stop();
  });

  it('all nodes report ready with Redis up', opt, async () => {
    for (const tg of cl.targets) assert.equal(await readyStatus(tg), 200, `node :${tg.port} /ready`);
  });

  it('publish via node A reaches subscribers on B and C, 50 events in order on each node', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const name = uniq('orders-');
    const clients = [await A.connected(), await B.connected(), await B.connected(), await C.connected()];
    const chans = clients.map((p) => p.subscribe(name));
    await Promise.all(chans.map((c) => subscribed(c)));
    const seen = chans.map((c) => collect(c, 'seq'));
    const sdk = A.sdk();
    for (let i = 0; i < 50; i++) await sdk.trigger(name, 'seq', { i });
    const where = ['A', 'B', 'B', 'C'];
    await until(() => seen.every((s) => s.length >= 50), 5000, '50 events on every subscriber').catch((e) => {
      throw new Error(`${e.message}; received: ${seen.map((s, k) => `${where[k]}=${s.length}`).join(' ')}`);
    });
    await sleep(200);
    const expected = Array.from({ length: 50 }, (_, i) => i);
    seen.forEach((s, k) =>
      assert.deepEqual(
        s.map((e) => e.data.i),
        expected,
        `subscriber on node ${where[k]} got the events out of order or duplicated`,
      ),
    );
  });

  it('toOthers: socket_id of a socket on node B excludes only that socket (publish via A)', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const name = uniq('orders.');
    const sender = await B.echo();
    const others = [await A.echo(), await B.echo(), await C.echo()];
    const chS = sender.channel(name);
    const chO = others.map((e) => e.channel(name));
    await Promise.all([chS, ...chO].map((c) => echoSubscribed(c)));
    const senderGot = [];
    chS.listen('OrderShipped', (d) => senderGot.push(d));
    const got = chO.map((c, k) => echoWait((cb) => c.listen('OrderShipped', cb), 3000, `OrderShipped on ${'ABC'[k]}`));
    await A.sdk().trigger(name, 'App\\Events\\OrderShipped', { id: 7 }, { socket_id: sender.socketId() });
    for (const g of got) assert.deepEqual(await g, { id: 7 });
    await sleep(400);
    assert.equal(senderGot.length, 0, 'the socket named in socket_id (on another node) received its own broadcast');
  });

  it('whispers (client events) cross nodes and are not echoed to the sender', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const auth = await A.authServer({ users: USERS });
    const name = uniq('typing.');
    const eA = await A.echo(auth.echoOptions('token-1'));
    const eB = await B.echo(auth.echoOptions('token-2'));
    const eC = await C.echo(auth.echoOptions('token-3'));
    const [cA, cB, cC] = [eA, eB, eC].map((e) => e.private(name));
    await Promise.all([cA, cB, cC].map((c) => echoSubscribed(c)));
    const seen = [cA, cB, cC].map((c) => {
      const arr = [];
      c.listenForWhisper('typing', (d) => arr.push(d));
      return arr;
    });
    cA.whisper('typing', { from: 'A' });
    await until(() => seen[1].length === 1 && seen[2].length === 1, 3000, 'whisper from A on B and C').catch((e) => {
      throw new Error(`${e.message}; B=${JSON.stringify(seen[1])} C=${JSON.stringify(seen[2])}`);
    });
    cC.whisper('typing', { from: 'C' });
    await until(() => seen[0].length === 1 && seen[1].length === 2, 3000, 'whisper from C on A and B').catch((e) => {
      throw new Error(`${e.message}; A=${JSON.stringify(seen[0])} B=${JSON.stringify(seen[1])}`);
    });
    await sleep(300);
    assert.deepEqual(seen[0], [{ from: 'C' }], 'node A socket');
    assert.deepEqual(seen[1], [{ from: 'A' }, { from: 'C' }], 'node B socket');
    assert.deepEqual(seen[2], [{ from: 'A' }], 'node C socket (its own whisper must not come back)');
  });

  it('Echo join(): here/joining/leaving across nodes, one user in two tabs on two nodes', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const auth = await A.authServer({ users: USERS });
    const name = uniq('chat.');
    const watcher = await C.echo(auth.echoOptions('token-3'));
    const chw = watcher.join(name);
    assert.deepEqual(await echoWait((cb) => chw.here(cb), 3000, 'here (watcher)'), [{ id: 3, name: 'Jess' }]);
    const joins = [];
    const leaves = [];
    chw.joining((u) => joins.push(u));
    chw.leaving((u) => leaves.push(u));

    const tabA = await A.echo(auth.echoOptions('token-1'));
    const hereA = await echoWait((cb) => tabA.join(name).here(cb), 3000, 'here (tab on A)');
    assert.deepEqual(hereA.map((u) => u.id).sort(), [1, 3], `here() on A: ${JSON.stringify(hereA)}`);
    await until(() => joins.length === 1, 3000, 'joining on C for the tab on A');
    assert.deepEqual(joins[0], { id: 1, name: 'Taylor' });

    const tabB = await B.echo(auth.echoOptions('token-1'));
    const hereB = await echoWait((cb) => tabB.join(name).here(cb), 3000, 'here (tab on B)');
    assert.deepEqual(
      hereB.map((u) => u.id).sort(),
      [1, 3],
      `here() on B must list each user once: ${JSON.stringify(hereB)}`,
    );
    await sleep(400);
    assert.equal(joins.length, 1, `joining fired again for the second tab (other node): ${JSON.stringify(joins)}`);

    tabA.leave(name);
    await sleep(500);
    assert.equal(leaves.length, 0, 'leaving fired while the user still has a tab open on another node');
    tabB.disconnect();
    await until(() => leaves.length === 1, 3000, 'leaving after the last tab');
    assert.deepEqual(leaves[0], { id: 1, name: 'Taylor' });
    await sleep(300);
    assert.equal(leaves.length, 1, 'leaving fired more than once');
  });

  it('presence user_count and /users through the SDK count a user once, on every node', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const auth = await A.authServer({ users: USERS });
    const name = uniq('presence-room-');
    const u1a = await A.connected(auth.clientOptions('token-1'));
    const u1b = await B.connected(auth.clientOptions('token-1'));
    const u2c = await C.connected(auth.clientOptions('token-2'));
    await Promise.all([u1a, u1b, u2c].map((p) => subscribed(p.subscribe(name))));

    const state = async (s) => ({
      info: await getJson(s, `/channels/${name}`, { info: 'user_count' }),
      users: (await getJson(s, `/channels/${name}/users`)).users.map((u) => String(u.id)).sort(),
      list: (await getJson(s, '/channels', { filter_by_prefix: 'presence-room-', info: 'user_count' })).channels[name],
    });
    const expectEverywhere = async (userIds, what) => {
      let last;
      await until(
        async () => {
          last = await Promise.all([A, B, C].map(state));
          return last.every(
            (st) =>
              st.info.user_count === userIds.length &&
              JSON.stringify(st.users) === JSON.stringify(userIds) &&
              (userIds.length ? st.list?.user_count === userIds.length : st.list === undefined),
          );
        },
        2000,
        what,
      ).catch((e) => {
        throw new Error(`${e.message}; per node A,B,C: ${JSON.stringify(last)}`);
      });
    };
    await expectEverywhere(['1', '2'], 'user_count 2 and users [1,2] on every node');
    u1a.disconnect();
    await sleep(200);
    await expectEverywhere(['1', '2'], 'user 1 still present after closing one of two tabs');
    u1b.disconnect();
    await expectEverywhere(['2'], 'user 1 gone after the last tab');
  });

  it('channel list and subscription_count are summed across nodes', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const prefix = uniq('sum-');
    const name = `${prefix}-x`;
    const a1 = await A.connected();
    const b1 = await B.connected();
    const b2 = await B.connected();
    await Promise.all([a1, b1, b2].map((p) => subscribed(p.subscribe(name))));
    const view = async (s) => ({
      info: await getJson(s, `/channels/${name}`, { info: 'subscription_count' }),
      listed: Object.keys((await getJson(s, '/channels', { filter_by_prefix: prefix })).channels),
    });
    const expect = async (count, what) => {
      let last;
      await until(
        async () => {
          last = await Promise.all([A, B, C].map(view));
          return last.every(
            (v) =>
              v.info.occupied === count > 0 &&
              (count === 0 ? !v.info.subscription_count : v.info.subscription_count === count) &&
              JSON.stringify(v.listed) === JSON.stringify(count ? [name] : []),
          );
        },
        2000,
        what,
      ).catch((e) => {
        throw new Error(`${e.message}; per node A,B,C: ${JSON.stringify(last)}`);
      });
    };
    await expect(3, 'subscription_count 3 (A:1 + B:2) and the channel listed on every node, C included');
    const trig = await (await C.sdk().trigger(name, 'ev', {}, { info: 'subscription_count' })).json();
    assert.deepEqual(trig, { channels: { [name]: { subscription_count: 3 } } }, 'trigger info via node C');
    b1.disconnect();
    b2.disconnect();
    await expect(1, 'subscription_count 1 after both B sockets left');
    a1.disconnect();
    await expect(0, 'channel vacated and unlisted everywhere');
  });

  it('sendToUser and terminateUserConnections via node A reach a user signed in on B and C', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const auth = await A.authServer({ users: TOK });
    const tabB = await signedIn(B, auth, 'tok-1');
    const tabC = await signedIn(C, auth, 'tok-1');
    const other = await signedIn(B, auth, 'tok-2');
    const raw = await C.raw();
    const { socket_id } = await raw.established();
    const ua = C.sdk().authenticateUser(socket_id, { id: '1' });
    raw.send({ event: 'pusher:signin', data: ua });
    await raw.next('pusher:signin_success');
    await raw.subscribe('#server-to-user-1');

    const otherGot = [];
    other.user.bind('notice', (d) => otherGot.push(d));
    const gB = waitFor(tabB.user, 'notice', 3000);
    const gC = waitFor(tabC.user, 'notice', 3000);
    await A.sdk().sendToUser('1', 'notice', { text: 'for user 1' });
    assert.deepEqual(await gB, { text: 'for user 1' }, 'tab on B');
    assert.deepEqual(await gC, { text: 'for user 1' }, 'tab on C');
    const rawNotice = await raw.next('notice', 3000);
    assert.equal(rawNotice.channel, '#server-to-user-1', rawNotice.__raw);
    await sleep(300);
    assert.equal(otherGot.length, 0, 'user 2 received user 1 event');

    const states = [];
    tabB.connection.bind('state_change', (st) => states.push(st.current));
    await A.sdk().terminateUserConnections('1');
    const err = await raw.next('pusher:error', 3000);
    assert.equal(frameData(err).code, 4009, err.__raw);
    assert.equal((await closedWithin(raw, 3000)).code, 4009);
    await waitState(tabB, ['disconnected', 'failed'], 3000);
    await waitState(tabC, ['disconnected', 'failed'], 3000);
    await sleep(1000);
    assert.ok(!states.includes('connecting'), `pusher-js reconnected after 4009: ${states}`);
    assert.equal(other.connection.state, 'connected', 'user 2 (same node B) was terminated too');
  });

  it('cache channel written via A is replayed to a subscriber on B (and a miss is a miss)', opt, async (t) => {
    const [A, B, C] = scopes(t, cl);
    const name = uniq('cache-prices-');
    const pc = await C.connected();
    const miss = pc.subscribe(uniq('cache-empty-'));
    await waitFor(miss, 'pusher:cache_miss', 3000);

    await A.sdk().trigger(name, 'price', { v: 1 });
    await A.sdk().trigger(name, 'price', { v: 2 });
    const pb = await B.connected();
    const ch = pb.subscribe(name);
    const got = collect(ch, 'price');
    const misses = collect(ch, 'pusher:cache_miss');
    await subscribed(ch);
    await until(() => got.length >= 1, 3000, 'cached event on B').catch((e) => {
      throw new Error(`${e.message}; cache_miss events: ${misses.length}`);
    });
    await sleep(300);
    assert.deepEqual(
      got.map((e) => e.data),
      [{ v: 2 }],
      'a cache channel replays exactly its last event',
    );
    assert.equal(misses.length, 0, 'pusher:cache_miss although the channel has a cached event');
  });

  it('connection quota is cluster-wide (max_connections = 2, counts exchanged ~1 s)', opt, async (t) => {
    const own = await ownCluster(t, 3, { app: { max_connections: 2 } });
    const [A, B, C] = scopes(t, own);
    const p1 = await A.connected();
    const p2 = await B.connected();
    const t0 = Date.now();
    // try a third connection on C until it is refused (allow ~2.5 s for the counts to travel)
    let refused = null;
    let accepted = 0;
    while (!refused && Date.now() - t0 < 4000) {
      const raw = await C.raw();
      const first = await raw.next((m) => m && ['pusher:connection_established', 'pusher:error'].includes(m.event), 3000);
      if (first.event === 'pusher:error') refused = { err: first, closed: await closedWithin(raw, 3000) };
      else {
        accepted++;
        raw.close();
        await sleep(250);
      }
    }
    assert.ok(refused, `a third connection on node C was still accepted after 4 s (${accepted} tries)`);
    t.diagnostic(`third connection refused on C ${Date.now() - t0} ms after two opened on A and B`);
    assert.equal(frameData(refused.err).code, 4004, refused.err.__raw);
    assert.equal(refused.closed.code, 4004);
    assert.equal(p1.connection.state, 'connected');
    assert.equal(p2.connection.state, 'connected');

    // a slot frees up cluster-wide when A's client leaves
    p1.disconnect();
    const t1 = Date.now();
    let ok = false;
    while (!ok && Date.now() - t1 < 4000) {
      const raw = await C.raw();
      const first = await raw.next((m) => m && ['pusher:connection_established', 'pusher:error'].includes(m.event), 3000);
      ok = first.event === 'pusher:connection_established';
      raw.close();
      if (!ok) await sleep(250);
    }
    assert.ok(ok, 'node C still refused connections 4 s after a client on A left');
  });

  it('kill -9 of a node: Echo leaving fires on the survivors within 10 s', opt, async (t) => {
    const own = await ownCluster(t, 3);
    const [A, B, C] = scopes(t, own);
    const auth = await B.authServer({ users: USERS });
    const name = uniq('room.');
    const wB = await B.echo(auth.echoOptions('token-3'));
    const wC = await C.echo(auth.echoOptions('token-4'));
    const chB = wB.join(name);
    const chC = wC.join(name);
    await Promise.all([echoWait((cb) => chB.here(cb)), echoWait((cb) => chC.here(cb))]);
    // user 1 only on A; user 2 on A and B (must survive)
    const v1 = await A.echo(auth.echoOptions('token-1'));
    const v2a = await A.echo(auth.echoOptions('token-2'));
    const v2b = await B.echo(auth.echoOptions('token-2'));
    await echoWait((cb) => v1.join(name).here(cb));
    await echoWait((cb) => v2a.join(name).here(cb));
    await echoWait((cb) => v2b.join(name).here(cb));
    const leavesB = [];
    const leavesC = [];
    chB.leaving((u) => leavesB.push({ u, at: Date.now() }));
    chC.leaving((u) => leavesC.push({ u, at: Date.now() }));
    await until(
      async () => (await getJson(C, `/channels/presence-${name}`, { info: 'user_count' })).user_count === 4,
      2000,
      'user_count 4 before the kill',
    );

    const t0 = Date.now();
    await killNode(own.nodes[0], 'SIGKILL');
    await until(() => leavesB.length >= 1 && leavesC.length >= 1, 12000, 'leaving on B and C after kill -9 of A').catch(
      (e) => {
        throw new Error(`${e.message}; B=${JSON.stringify(leavesB)} C=${JSON.stringify(leavesC)}`);
      },
    );
    const msB = leavesB[0].at - t0;
    const msC = leavesC[0].at - t0;
    t.diagnostic(`kill -9 cleanup: leaving seen on B after ${msB} ms, on C after ${msC} ms`);
    process.stderr.write(`[cluster] kill -9 cleanup: leaving on B after ${msB} ms, on C after ${msC} ms\n`);
    assert.ok(Math.max(msB, msC) <= 10000, `leaving took ${Math.max(msB, msC)} ms`);
    await sleep(1000);
    assert.deepEqual(
      leavesB.map((l) => l.u),
      [{ id: 1, name: 'Taylor' }],
      'only user 1 (no socket left anywhere) leaves, once; user 2 still has a tab on B',
    );
    assert.deepEqual(leavesC.map((l) => l.u), [{ id: 1, name: 'Taylor' }]);
    const users = (await getJson(C, `/channels/presence-${name}/users`)).users.map((u) => String(u.id)).sort();
    assert.deepEqual(users, ['2', '3', '4'], '/users via C after the purge');
  });

  it('graceful SIGTERM of a node: its clients get 4200, survivors see leaving at once', opt, async (t) => {
    const own = await ownCluster(t, 3);
    const [A, B, C] = scopes(t, own);
    const auth = await B.authServer({ users: USERS });
    const name = uniq('room.');
    const wB = await B.echo(auth.echoOptions('token-3'));
    const chB = wB.join(name);
    await echoWait((cb) => chB.here(cb));
    const wC = await C.echo(auth.echoOptions('token-4'));
    const chC = wC.join(name);
    await echoWait((cb) => chC.here(cb));
    const victim = await A.echo(auth.echoOptions('token-1'));
    await echoWait((cb) => victim.join(name).here(cb));
    const raw = await A.raw();
    await raw.established();
    const p = await A.connected();
    const errors = [];
    const states = [];
    p.connection.bind('error', (e) => errors.push(e));
    p.connection.bind('state_change', (s) => states.push(s.current));
    const leavingB = echoWait((cb) => chB.leaving(cb), 5000, 'leaving on B');
    const leavingC = echoWait((cb) => chC.leaving(cb), 5000, 'leaving on C');

    const t0 = Date.now();
    const stopping = own.nodes[0].stop();
    const closed = await closedWithin(raw, 5000);
    assert.equal(closed.code, 4200, 'graceful shutdown must close sockets with 4200');
    const [lb] = await Promise.all([leavingB.then((u) => [u, Date.now() - t0]), leavingC]);
    assert.deepEqual(lb[0], { id: 1, name: 'Taylor' });
    t.diagnostic(`graceful stop: leaving on B ${lb[1]} ms after SIGTERM`);
    assert.ok(lb[1] < 3000, `leaving took ${lb[1]} ms after SIGTERM`);
    await stopping;
    await until(() => states.includes('connecting'), 5000, 'pusher-js to try reconnecting').catch((e) => {
      throw new Error(`${e.message}; states ${states}`);
    });
    const codes = errors.map((e) => e?.error?.data?.code ?? e?.data?.code);
    assert.ok(codes.includes(4200), `pusher-js should report 4200, saw ${JSON.stringify(codes)}`);
    const users = (await getJson(B, `/channels/presence-${name}/users`)).users.map((u) => String(u.id)).sort();
    assert.deepEqual(users, ['3', '4'], '/users via B after the graceful stop');
  });

  it('Redis down: /ready 503 and SDK trigger rejects with 503; Redis back: ready and cross-node delivery resume', opt, async (t) => {
    const own = await ownCluster(t, 2);
    const [A, B] = scopes(t, own);
    const auth = await A.authServer({ users: USERS });
    const name = uniq('resume-');
    const pb = await B.connected();
    const ch = await subscribed(pb.subscribe(name));
    const got = collect(ch, 'ev');
    const member = await B.connected(auth.clientOptions('token-1'));
    await subscribed(member.subscribe(`presence-${name}`));
    await A.sdk().trigger(name, 'ev', { n: 0 });
    await until(() => got.length === 1, 3000, 'delivery before the outage');

    await redisBlip(t, own, async () => {
      await assert.rejects(A.sdk().trigger(name, 'ev', { n: 1 }), (e) => {
        assert.equal(e.status, 503, `trigger during the outage: status ${e.status} body ${e.body}`);
        return true;
      });
      assert.equal(pb.connection.state, 'connected', 'clients stay connected while Redis is down');
    });
    await A.sdk().trigger(name, 'ev', { n: 2 });
    await until(() => got.length >= 2, 3000, 'delivery A -> B after Redis returned').catch((e) => {
      throw new Error(`${e.message}; received ${JSON.stringify(got.map((g) => g.data))}`);
    });
    assert.deepEqual(
      got.map((g) => g.data),
      [{ n: 0 }, { n: 2 }],
      'the publish refused during the outage must not show up later',
    );
    // the nodes re-registered their subscriptions and presence members in the fresh Redis;
    // A learns that B is back on its next heartbeat (every second), so give it a few
    let info;
    await until(async () => {
      info = await getJson(A, `/channels/${name}`, { info: 'subscription_count' });
      return info.subscription_count === 1;
    }, 3000, 'subscription_count via A after resync').catch((e) => {
      throw new Error(`${e.message}: ${JSON.stringify(info)}`);
    });
    let users;
    await until(async () => {
      users = (await getJson(A, `/channels/presence-${name}/users`)).users.map((u) => String(u.id));
      return users.length === 1;
    }, 3000, '/users via A after resync').catch(() => {});
    assert.deepEqual(users, ['1'], '/users via A after resync');
  });
  it('Redis outage: members that stayed are not announced again (no member_added/member_removed on resync)', opt, async (t) => {
    const own = await ownCluster(t, 2);
    const [A, B] = scopes(t, own);
    const auth = await A.authServer({ users: USERS });
    const name = uniq('blip.');
    const chan = `presence-${name}`;
    const rawMember = async (s, uid) => {
      const c = await s.raw();
      await c.established();
      const cd = JSON.stringify({ user_id: uid, user_info: { id: Number(uid) } });
      const r = await c.subscribe(chan, { auth: signChannel(s.target.app, c.socketId, chan, cd), channel_data: cd });
      assert.equal(r.event, 'pusher_internal:subscription_succeeded', r.__raw);
      return c;
    };
    const rawA = await rawMember(A, '5'); // user 5 on node A
    const rawB = await rawMember(B, '6'); // user 6 on node B
    const watcher = await A.echo(auth.echoOptions('token-4'));
    const chw = watcher.join(name);
    const here = await echoWait((cb) => chw.here(cb), 3000, 'here (Echo on A)');
    assert.deepEqual(here.map((u) => u.id).sort(), [4, 5, 6]);
    const churn = [];
    chw.joining((u) => churn.push(['joining', u.id]));
    chw.leaving((u) => churn.push(['leaving', u.id]));
    await sleep(300);
    const [ma, mb] = [rawA.frames.length, rawB.frames.length];

    await redisBlip(t, own);
    await sleep(1500);
    const members = (c, from) =>
      c.frames
        .slice(from)
        .filter((f) => /member_(added|removed)/.test(f.msg?.event))
        .map((f) => f.raw);
    const seen = { rawA: members(rawA, ma), rawB: members(rawB, mb), echoOnA: churn };
    const users = (await getJson(B, `/channels/${chan}/users`)).users.map((u) => String(u.id)).sort();
    assert.deepEqual(users, ['4', '5', '6'], '/users via B after resync');
    assert.deepEqual(
      seen,
      { rawA: [], rawB: [], echoOnA: [] },
      'presence events for members that never left, sent after Redis came back',
    );
  });
});
