// Missed events recovered after a reconnect (issue 26), with stock Laravel Echo 2 + pusher-js 8
// (default transports) in Debian's headless Chromium. The page's network is cut the way a real
// one is (lib/relay.mjs): first its bytes are lost both ways for 2 s (herald's writes succeed but
// never arrive), then the browser goes offline (DevTools emulation: navigator.onLine, failing
// connects) and the relay resets the page's connection and every new one, until the network
// comes back. Meanwhile a backend publishes 50 numbered events over two channels through the
// HTTP API, one after another. After pusher-js reconnects by itself, each channel must show
// exactly what was published to it, in publish order, once each, replayed after its
// subscription_succeeded; a cut longer than the max age (120 s) must be told with
// `pusher:recovery_failed` on each channel instead. Then the same across two nodes (Redis, NATS)
// behind nginx with the page coming back on the other node, and a presence channel whose
// members changed during the cut. The cases run concurrently (the 150 s one sets the wall time).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as h from '../lib/harness.mjs';
import { relay } from '../lib/relay.mjs';

const RECOVERY = { SOKETI_DEFAULT_APP_RECOVERY_CHANNELS: 'chat.*,private-chat.*,presence-room.*' };
const CHAT = ['chat.1', 'private-chat.1'];
// After the page showed the events published before the cut, the cut starts this much later:
// herald must have learned (ping/pong) that they arrived by then, or it would send them again.
const QUIET_MS = Number(process.env.RECOVERY_QUIET_MS || 1500);
const SWALLOW_MS = 2000; // bytes lost both ways before the connection is reset
const GAP_EVENTS = 50;
const EVERY_MS = 150; // one publish every 150 ms: the 50 take 7.5 s of the cut
const CASE = { timeout: 120000 }; // each 10 s case (they run side by side)
const figures = [];
let chrome;
let pages;

before(async () => {
  chrome = await h.browser();
  const user = (form) => ({ user_id: form.get('user'), user_info: { name: form.get('user') } });
  pages = await h.pageServer('lib/recovery.html', user);
});

after(async () => {
  await chrome?.close();
  pages?.server.close();
  console.log(`\nrecovery figures:\n${figures.map((f) => JSON.stringify(f)).join('\n')}`);
  const out = path.resolve(h.SUITE, '../target/browser-recovery.json');
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(figures, null, 1));
});

// ---------------------------------------------------------------- servers

async function singleNode(name, env = RECOVERY) {
  const [port, metrics] = [await h.freePort(), await h.freePort()];
  const node = h.herald(name, port, metrics, { ...env, SOKETI_METRICS_ENABLED: 'true' });
  await h.ready(metrics);
  return {
    entry: port,
    api: [port],
    metrics: [metrics],
    onCut: () => {},
    stop: async () => {
      node.kill('SIGTERM');
      await node.exited;
    },
  };
}

/** Two nodes on `bus` ('redis' or 'nats') behind nginx, which routes to node 1 until the cut. */
async function twoNodes(name, bus) {
  const server = bus === 'redis' ? await h.redis() : await h.nats();
  const env = {
    ...RECOVERY,
    SOKETI_METRICS_ENABLED: 'true',
    HERALD_TRUSTED_PROXIES: '127.0.0.1',
    ...(bus === 'redis'
      ? { SOKETI_ADAPTER_DRIVER: 'redis', SOKETI_DB_REDIS_HOST: '127.0.0.1', SOKETI_DB_REDIS_PORT: String(server.port) }
      : { SOKETI_ADAPTER_DRIVER: 'nats', SOKETI_ADAPTER_NATS_SERVERS: `["127.0.0.1:${server.port}"]` }),
  };
  const ports = [await h.freePort(), await h.freePort()];
  const metrics = [await h.freePort(), await h.freePort()];
  const nodes = [0, 1].map((i) => h.herald(`${name}-node-${i + 1}`, ports[i], metrics[i], env));
  await Promise.all(metrics.map((m) => h.ready(m)));
  const proxy = await h.freePort();
  const nginx = h.nginx(proxy, ports, [1]);
  await h.ready(proxy);
  return {
    entry: proxy,
    api: ports, // the backend publishes to either node, in turn
    metrics,
    nodes,
    onCut: () => nginx.route([0]), // the page's reconnect can only reach node 2
    stop: async () => {
      for (const c of [...nodes, nginx, server.child]) c.kill('SIGTERM');
      await Promise.all([...nodes, nginx, server.child].map((c) => c.exited));
    },
  };
}

/** Sockets each node accepted so far (soketi_new_connections_total). */
async function connectionsPerNode(metrics) {
  return Promise.all(
    metrics.map(async (m) => {
      const text = await (await fetch(`http://127.0.0.1:${m}/metrics`)).text();
      const line = text.split('\n').find((l) => l.startsWith('soketi_new_connections_total'));
      return line ? Number(line.split(' ').pop()) : 0;
    }),
  );
}

// ---------------------------------------------------------------- the page and the backend

async function openPage(port, query, context = null) {
  context ??= await chrome.newContext(); // its own cookie jar unless told
  const page = await context.newPage();
  await page.goto(`http://127.0.0.1:${pages.port}/?port=${port}&${query}`);
  await page.waitForFunction(() => window.subscribedOn(window.socketId()), null, { timeout: 15000 });
  return page;
}

const view = (page) =>
  page.evaluate(() => ({
    seen: window.seen,
    subs: window.subs,
    failed: window.failed,
    states: window.states,
    frames: window.frames,
    socket: window.socketId(),
  }));

/** Publish `items` ({seq, ch}) one after another through the API of `api` (in turn); logs each. */
async function publishAll(api, items, log, every = 0) {
  for (const item of items) {
    const port = api[item.seq % api.length];
    const sent = Date.now();
    const status = await h.publish(port, { seq: item.seq }, { channels: [item.ch], name: 'msg' });
    log.push({ ...item, sent, status });
    if (every) await h.sleep(every);
  }
}

/** Events `from`.. numbered on; with two channels, every third goes to the second one. */
const numbered = (from, count, channels) =>
  Array.from({ length: count }, (_, i) => from + i).map((seq) => ({
    seq,
    ch: channels.length > 1 && seq % 3 === 0 ? channels[1] : channels[0],
  }));

const waitFor = (page, fn, arg, ms) => page.waitForFunction(fn, arg, { timeout: ms, polling: 50 }).catch(() => {});

/**
 * Cut `page`'s network (through `net`) for `cutMs` while the backend publishes the gap events;
 * `onCut` runs when the connection is reset. Returns the times of the cut and of its end.
 */
async function cutWhilePublishing(page, net, cutMs, publishing, onCut) {
  const devtools = await page.context().newCDPSession(page); // this tab only, not its context
  const conditions = { latency: 0, downloadThroughput: -1, uploadThroughput: -1 };
  const offline = (on) => devtools.send('Network.emulateNetworkConditions', { ...conditions, offline: on });
  await devtools.send('Network.enable');
  const start = Date.now();
  net.swallow();
  const gap = publishing();
  await h.sleep(SWALLOW_MS);
  await offline(true);
  net.cut();
  onCut();
  await h.sleep(cutMs - SWALLOW_MS);
  await gap;
  net.restore();
  await offline(false);
  return { start, end: Date.now() };
}

// ---------------------------------------------------------------- what the page shows

/**
 * Per channel: what the page showed against what was published to it (in publish order), the
 * duplicates, the published events it never showed, and whether the new socket's first event
 * came after that socket's subscription_succeeded frame.
 */
function compare(v, log, old, channels) {
  const out = {};
  for (const ch of channels) {
    const published = log.filter((p) => p.ch === ch).map((p) => p.seq);
    const shown = v.seen.filter((e) => e.ch === ch).map((e) => e.seq);
    const counts = new Map();
    for (const s of shown) counts.set(s, (counts.get(s) || 0) + 1);
    const fresh = v.frames.filter((f) => f.socket !== old && f.channel === ch);
    const subAt = fresh.findIndex((f) => f.event === 'pusher_internal:subscription_succeeded');
    const firstMsg = fresh.findIndex((f) => f.event === 'msg');
    out[ch] = {
      published,
      shown,
      duplicates: [...counts].filter(([, n]) => n > 1).map(([s]) => s),
      missing: published.filter((s) => !counts.has(s)),
      eventBeforeSubscribed: firstMsg >= 0 && (subAt < 0 || firstMsg < subAt),
    };
  }
  return out;
}

/** The new socket's frames per channel, compactly: S subscription_succeeded, F recovery_failed, seqs. */
function trace(v, old, channels) {
  const short = { 'pusher_internal:subscription_succeeded': 'S', 'pusher:recovery_failed': 'F' };
  const code = (f) => short[f.event] ?? f.seq ?? f.event;
  return Object.fromEntries(
    channels.map((ch) => [ch, v.frames.filter((f) => f.socket !== old && f.channel === ch).map(code).join(' ')]),
  );
}

/** Names of the cookies the page's browser context holds for 127.0.0.1 (herald's, if it set one). */
const cookies = async (page) =>
  (await page.context().cookies('http://127.0.0.1')).map((c) => `${c.name}${c.httpOnly ? ' (HttpOnly)' : ''}`);

/** Figures: events the new socket showed that were published before it subscribed, and when. */
function replayFigures(v, log, old, cut) {
  const back = v.states.find((s) => s.t > cut.end && s.state === 'connected');
  const subscribed = Math.max(...v.subs.filter((s) => s.socket !== old).map((s) => s.t));
  const bySeq = new Map(log.map((p) => [p.seq, p]));
  const replayed = v.seen.filter((e) => e.socket !== old && bySeq.get(e.seq)?.sent < subscribed);
  const last = Math.max(...replayed.map((e) => e.t));
  return {
    transport: back?.transport,
    backAfterMs: back ? back.t - cut.end : null,
    replayed: replayed.length,
    lastReplayedAfterReconnectMs: replayed.length && back ? last - back.t : null,
  };
}

function assertRecovered(label, cmp) {
  for (const [ch, c] of Object.entries(cmp)) {
    const where = `${label}, ${ch}`;
    assert.deepEqual(c.duplicates, [], `${where}: events shown twice: ${c.duplicates}`);
    assert.deepEqual(c.missing, [], `${where}: ${c.missing.length} published events never shown: ${c.missing}`);
    assert.deepEqual(c.shown, c.published, `${where}: shown in another order than published`);
    assert.equal(c.eventBeforeSubscribed, false, `${where}: an event came before subscription_succeeded`);
  }
}

/** `ch` got pusher:recovery_failed once on the page's new socket, with a reason, after subscribing. */
function assertToldFailed(v, ch) {
  const told = v.failed.filter((x) => x.ch === ch && x.socket === v.socket);
  const all = JSON.stringify(v.failed);
  assert.equal(told.length, 1, `${ch}: pusher:recovery_failed once on the new socket (all: ${all})`);
  assert.equal(typeof told[0].reason, 'string', `${ch}: recovery_failed carries a reason`);
  const frames = v.frames.filter((x) => x.socket === v.socket && x.channel === ch).map((x) => x.event);
  const sub = frames.indexOf('pusher_internal:subscription_succeeded');
  const failed = frames.indexOf('pusher:recovery_failed');
  assert.ok(sub >= 0 && sub < failed, `${ch}: recovery_failed after subscription_succeeded (${frames})`);
}

/** Each channel either shows every event once, in order, or was told (recovery_failed) and shows none twice. */
function assertRecoveredOrTold(label, v, cmp) {
  for (const [ch, c] of Object.entries(cmp)) {
    if (v.failed.some((x) => x.ch === ch && x.socket === v.socket)) {
      assert.deepEqual(c.duplicates, [], `${label}, ${ch}: told, yet events shown twice: ${c.duplicates}`);
    } else {
      assertRecovered(`${label} (not told)`, { [ch]: c });
    }
  }
}

// ---------------------------------------------------------------- the scenarios

/** 4 events before the cut, shown by `page`, then QUIET_MS; the page's socket id. */
async function beforeCut(servers, page, log) {
  await publishAll(servers.api, numbered(1, 4, CHAT), log);
  await waitFor(page, (n) => window.seen.length >= n, 4, 5000);
  await h.sleep(QUIET_MS);
  return page.evaluate(() => window.socketId());
}

/** The 50 events of the cut, from 100 ms into it, one every EVERY_MS. */
const gapEvents = (servers, log) => () =>
  h.sleep(100).then(() => publishAll(servers.api, numbered(5, GAP_EVENTS, CHAT), log, EVERY_MS));

/**
 * The 10 s case on `servers`: the page subscribed to chat.1 and private-chat.1 through a relay,
 * 4 events before the cut, 50 during it, 10 from its end on (racing the replay), 1 s more.
 */
async function recovers(label, servers, { beside = () => null } = {}) {
  const net = await relay(servers.entry);
  const page = await openPage(net.port, `channels=${CHAT.join(',')}`);
  const other = await beside(page);
  const log = [];
  try {
    const old = await beforeCut(servers, page, log);
    const before = await connectionsPerNode(servers.metrics);
    const cut = await cutWhilePublishing(page, net, 10000, gapEvents(servers, log), servers.onCut);
    await publishAll(servers.api, numbered(5 + GAP_EVENTS, 10, CHAT), log, 100);
    await waitFor(page, ([old, n]) => window.socketId() !== old && window.seen.length >= n, [old, log.length], 20000);
    await h.sleep(1000); // room for a late duplicate
    const v = await view(page);
    const cmp = compare(v, log, old, CHAT);
    const moved = (await connectionsPerNode(servers.metrics)).map((n, i) => n - before[i]);
    const f = { case: label, ...replayFigures(v, log, old, cut), newSocketsPerNode: moved,
      missing: Object.values(cmp).reduce((n, c) => n + c.missing.length, 0),
      duplicates: Object.values(cmp).reduce((n, c) => n + c.duplicates.length, 0),
      cookies: await cookies(page) };
    figures.push(f);
    console.log(`${label}: ${JSON.stringify({ ...f, newSocket: trace(v, old, CHAT) })}`);
    assert.deepEqual(log.filter((p) => p.status !== 200), [], 'every publish answered 200');
    assert.notEqual(v.socket, old, 'pusher-js reconnected on a new socket');
    return { cmp, moved, v, old, log, other: other && (await view(other)) };
  } finally {
    await page.context().close();
    await net.close();
  }
}

describe('recovery of missed events (issue 26)', { concurrency: true, timeout: 300000 }, () => {
  const long = 'a 150 s cut (max age 120 s): pusher:recovery_failed on each channel, nothing replayed';
  test(long, { timeout: 300000 }, async () => {
    const servers = await singleNode('recovery-150s');
    const net = await relay(servers.entry);
    const page = await openPage(net.port, `channels=${CHAT.join(',')}`);
    const log = [];
    try {
      const old = await beforeCut(servers, page, log);
      const cut = await cutWhilePublishing(page, net, 150000, gapEvents(servers, log), () => {});
      const back = (old) => window.socketId() !== old && window.subscribedOn(window.socketId());
      await waitFor(page, back, old, 30000);
      const told = ([old, n]) => window.failed.filter((f) => f.socket !== old).length >= n;
      await waitFor(page, told, [old, CHAT.length], 5000);
      const afterCut = [];
      await publishAll(servers.api, numbered(5 + GAP_EVENTS, 4, CHAT), afterCut);
      await h.sleep(1000);
      const v = await view(page);
      const gap = new Set(log.filter((p) => p.seq >= 5).map((p) => p.seq));
      const replayed = v.seen.filter((e) => gap.has(e.seq));
      const f = { case: '150 s cut, single node', ...replayFigures(v, log, old, cut),
        failed: v.failed.map((x) => [x.ch, x.reason]), cookies: await cookies(page) };
      figures.push(f);
      console.log(JSON.stringify({ ...f, newSocket: trace(v, old, CHAT) }));
      assert.deepEqual([...log, ...afterCut].filter((p) => p.status !== 200), [], 'every publish answered 200');
      assert.notEqual(v.socket, old, 'pusher-js reconnected on a new socket');
      assert.deepEqual(replayed.map((e) => e.seq), [], 'events older than the max age were replayed');
      for (const ch of CHAT) assertToldFailed(v, ch);
      for (const [ch, c] of Object.entries(compare(v, afterCut, old, CHAT))) {
        const after = c.shown.filter((s) => s > 4);
        assert.deepEqual(after, c.published, `${ch}: events published after the reconnect shown once, in order`);
      }
    } finally {
      await page.context().close();
      await net.close();
      await servers.stop();
    }
  });

  test('single node, a 10 s cut: all 50 missed events shown once each, in order', CASE, async () => {
    const servers = await singleNode('recovery-10s');
    try {
      const { cmp, v } = await recovers('10 s cut, single node', servers);
      assert.deepEqual(v.failed, [], 'recovery_failed though the gap was short');
      assertRecovered('single node', cmp);
    } finally {
      await servers.stop();
    }
  });

  for (const bus of ['redis', 'nats']) {
    const title = `two nodes on ${bus} behind nginx, the page comes back on the other node: all 50 once, in order`;
    test(title, CASE, async () => {
      const servers = await twoNodes(`recovery-${bus}`, bus);
      try {
        const { cmp, moved, v } = await recovers(`10 s cut, two nodes on ${bus}`, servers);
        assert.ok(moved[0] === 0 && moved[1] >= 1, `the page came back on node 2 (new sockets per node: ${moved})`);
        assert.deepEqual(v.failed, [], 'recovery_failed though the gap was short');
        assertRecovered(`two nodes on ${bus}`, cmp);
      } finally {
        await servers.stop();
      }
    });
  }

  const trimmed = 'history trimmed (max 25 events): recovery_failed on the channel that lost more, the other recovers';
  test(trimmed, CASE, async () => {
    const env = { ...RECOVERY, SOKETI_DEFAULT_APP_RECOVERY_MAX_EVENTS: '25' };
    const servers = await singleNode('recovery-trimmed', env);
    try {
      // chat.1 gets 34 of the 50 (37 with those before the cut), private-chat.1 17 (18)
      const { cmp, v, log } = await recovers('10 s cut, max 25 events kept', servers);
      const [chat, priv] = CHAT;
      const whole = v.failed.filter((x) => x.ch === priv);
      assert.deepEqual(whole, [], `${priv}: recovery_failed though its history was whole`);
      assertRecovered('max 25 events', { [priv]: cmp[priv] });
      assertToldFailed(v, chat);
      assert.deepEqual(cmp[chat].duplicates, [], `${chat}: events shown twice: ${cmp[chat].duplicates}`);
      const subscribed = v.subs.find((x) => x.ch === chat && x.socket === v.socket).t;
      const later = log.filter((p) => p.ch === chat && p.sent > subscribed).map((p) => p.seq);
      const shown = new Set(cmp[chat].shown);
      assert.deepEqual(later.filter((s) => !shown.has(s)), [], `${chat}: events published after the reconnect shown`);
    } finally {
      await servers.stop();
    }
  });

  const tabs = 'two tabs of one browser (one cookie), only one cut: it recovers, the other sees each event once';
  test(tabs, CASE, async () => {
    const servers = await singleNode('recovery-tabs');
    try {
      const beside = (page) => openPage(servers.entry, `channels=${CHAT.join(',')}`, page.context());
      const { cmp, v, other, log } = await recovers('10 s cut, a second tab stays', servers, { beside });
      assert.deepEqual(v.failed, [], 'recovery_failed though the gap was short');
      assertRecovered('the tab that was cut', cmp);
      assert.deepEqual(other.failed, [], 'the tab that stayed: recovery_failed');
      const stayed = compare(other, log, null, CHAT);
      assertRecovered('the tab that stayed', stayed);
    } finally {
      await servers.stop();
    }
  });

  test('presence: members who came and went during a 10 s cut are reconciled, its events recovered', CASE, async () => {
    const servers = await singleNode('recovery-presence');
    const room = 'presence-room.1';
    const net = await relay(servers.entry);
    const direct = (user) => openPage(servers.entry, `channels=${room}&user=${user}`);
    const members = (page) => page.evaluate(() => [...window.members].sort());
    const until = (page, list) =>
      waitFor(page, (list) => JSON.stringify([...window.members].sort()) === JSON.stringify(list), list, 10000);
    const wes = await direct('Wes');
    const cy = await direct('Cy');
    const ada = await openPage(net.port, `channels=${room}&user=Ada`);
    const others = [wes];
    const log = [];
    try {
      await until(ada, ['Ada', 'Cy', 'Wes']);
      assert.deepEqual(await members(ada), ['Ada', 'Cy', 'Wes'], 'before the cut');
      await publishAll(servers.api, numbered(1, 2, [room]), log);
      await waitFor(ada, (n) => window.seen.length >= n, 2, 5000);
      await h.sleep(QUIET_MS);
      const old = await ada.evaluate(() => window.socketId());
      const cut = await cutWhilePublishing(ada, net, 10000, async () => {
        await h.sleep(100);
        await publishAll(servers.api, numbered(3, 20, [room]), log, EVERY_MS);
        await cy.context().close(); // Cy leaves during the gap
        await waitFor(wes, () => !window.members.includes('Cy'), null, 5000);
        others.push(await direct('Bea')); // and Bea joins
        await waitFor(wes, () => window.members.includes('Bea'), null, 5000);
      }, () => {});
      await waitFor(ada, ([old, n]) => window.socketId() !== old && window.subscribedOn(window.socketId()) &&
        window.seen.length >= n, [old, log.length], 20000);
      await until(ada, ['Ada', 'Bea', 'Wes']);
      await h.sleep(1000);
      const v = await view(ada);
      const f = { case: 'presence, 10 s cut', ...replayFigures(v, log, old, cut), members: await members(ada),
        cookies: await cookies(ada) };
      figures.push(f);
      console.log(JSON.stringify({ ...f, newSocket: trace(v, old, [room]) }));
      const truth = ['Ada', 'Bea', 'Wes'];
      assert.deepEqual(await members(wes), truth, 'the watcher that stayed connected');
      assert.deepEqual(await members(ada), truth, "the Echo page's list (here/joining/leaving) after the reconnect");
      const held = await ada.evaluate((r) => window.pusherMembers(r), room);
      assert.deepEqual(held.sort(), truth, 'pusher-js channel.members');
      assert.deepEqual(log.filter((p) => p.status !== 200), [], 'every publish answered 200');
      assertRecovered('presence', compare(v, log, old, [room]));
      others.push(await direct('Dee')); // live presence still works after the recovery
      await until(ada, ['Ada', 'Bea', 'Dee', 'Wes']);
      assert.deepEqual(await members(ada), ['Ada', 'Bea', 'Dee', 'Wes'], 'a member joining after the recovery');
    } finally {
      for (const p of [ada, ...others]) await p.context().close();
      await net.close();
      await servers.stop();
    }
  });

  // The node under the page dies without a goodbye: where its socket stood died with it. The page
  // comes back on the other node, which asks the dead node (its marks name it), hears nothing, and
  // tells the page (pusher:recovery_failed, node_lost) on each channel that had events since the
  // old socket joined: never a silent gap, never an event twice.
  const kill = 'the node under the page is killed (SIGKILL): the page is told node_lost on the other node';
  test(kill, CASE, async () => {
    const servers = await twoNodes('recovery-kill', 'redis');
    const page = await openPage(servers.entry, `channels=${CHAT.join(',')}`);
    const survivor = { ...servers, api: [servers.api[1]] };
    const log = [];
    try {
      const old = await beforeCut(survivor, page, log);
      const gap = publishAll(survivor.api, numbered(5, 30, CHAT), log, 100);
      await h.sleep(500);
      servers.onCut();
      servers.nodes[0].kill('SIGKILL');
      const t = Date.now();
      await gap;
      await waitFor(page, (old) => window.socketId() !== old && window.subscribedOn(window.socketId()), old, 20000);
      await publishAll(survivor.api, numbered(35, 6, CHAT), log, 100);
      await h.sleep(1000);
      const v = await view(page);
      const cmp = compare(v, log, old, CHAT);
      console.log(`SIGKILL: ${JSON.stringify({ ...replayFigures(v, log, old, { end: t }), failed: v.failed,
        missing: Object.values(cmp).flatMap((c) => c.missing), newSocket: trace(v, old, CHAT) })}`);
      assertRecoveredOrTold('node killed', v, cmp);
      for (const ch of CHAT) {
        assertToldFailed(v, ch);
        const reason = v.failed.find((x) => x.ch === ch && x.socket === v.socket).reason;
        assert.equal(reason, 'node_lost', `${ch}: the reason`);
        const later = log.filter((p) => p.ch === ch && p.seq >= 35).map((p) => p.seq);
        assert.deepEqual(cmp[ch].shown.filter((s) => s >= 35), later, `${ch}: events after the return shown once`);
      }
    } finally {
      await page.context().close();
      await servers.stop();
    }
  });

  // Two tabs share one cookie: when they left different places, each is told (ambiguous).
  const staggered = 'two tabs (one cookie) cut at different times, the later back first: each recovers or is told';
  test(staggered, CASE, async () => {
    const servers = await singleNode('recovery-staggered');
    const nets = [await relay(servers.entry), await relay(servers.entry)];
    const a = await openPage(nets[0].port, 'channels=chat.1');
    const b = await openPage(nets[1].port, 'channels=chat.1', a.context());
    const only = (from, n) => numbered(from, n, ['chat.1']);
    const log = [];
    try {
      const oldA = await beforeCut(servers, a, log);
      const oldB = await b.evaluate(() => window.socketId());
      const twenty = () => publishAll(servers.api, only(5, 20), log, 150);
      const cutA = cutWhilePublishing(a, nets[0], 12000, twenty, () => {});
      await h.sleep(4000); // b gets the 20 events, then is cut for 6 s and comes back 2 s before a
      await cutWhilePublishing(b, nets[1], 6000, async () => {}, () => {});
      await cutA;
      await waitFor(a, (old) => window.socketId() !== old && window.subscribedOn(window.socketId()), oldA, 20000);
      await publishAll(servers.api, only(25, 3), log);
      await h.sleep(1000);
      const [va, vb] = [await view(a), await view(b)];
      const [ca, cb] = [compare(va, log, oldA, ['chat.1']), compare(vb, log, oldB, ['chat.1'])];
      console.log(`staggered tabs: ${JSON.stringify({ a: trace(va, oldA, ['chat.1']), b: trace(vb, oldB, ['chat.1']),
        aMissing: ca['chat.1'].missing, bDuplicates: cb['chat.1'].duplicates })}`);
      assertRecoveredOrTold('tab cut first, back last', va, ca);
      assertRecoveredOrTold('tab cut last, back first', vb, cb);
    } finally {
      await a.context().close();
      for (const n of nets) await n.close();
      await servers.stop();
    }
  });
});
