// pusher-js's HTTP fallback transports in Node: its node build carries
// xhr_streaming and xhr_polling (over the bundled node-XMLHttpRequest), not sockjs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, restartWatch, serverFor, waitFor, subscribed, until } from '../lib/harness.mjs';

const USERS = { ann: { id: 'ann', info: { name: 'Ann' } }, ben: { id: 'ben', info: { name: 'Ben' } } };
const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

function over(target, transport, extra = {}) {
  return {
    enabledTransports: [transport],
    httpHost: target.host,
    httpPort: target.port,
    httpsPort: target.port,
    httpPath: '/pusher',
    ...extra,
  };
}

for (const transport of ['xhr_streaming', 'xhr_polling']) {
  describe(`fallback over ${transport}`, () => {
    it('connects, joins presence, whispers and receives events like a WebSocket client', async (t) => {
      const target = await serverFor(t, { app: { enable_client_messages: true } });
      if (!target) return;
      const s = new Scope(t, target);
      const auth = await s.authServer({ users: USERS });
      const a = await s.connected(over(target, transport, auth.clientOptions('ann')));
      assert.equal(a.connection.connection.transport.name, transport);
      assert.match(a.connection.socket_id, /^\d+\.\d+$/);
      const b = await s.connected(auth.clientOptions('ben'));
      const name = uniq('presence-room.');
      const cha = await subscribed(a.subscribe(name));
      const chb = await subscribed(b.subscribe(name));
      await until(() => cha.members.count === 2, 3000, 'ben in ann\'s members');
      const whisper = waitFor(cha, 'client-typing', 3000);
      chb.trigger('client-typing', { who: 'ben' });
      assert.deepEqual(await whisper, { who: 'ben' });
      const back = waitFor(chb, 'client-typing', 3000);
      cha.trigger('client-typing', { who: 'ann' });
      assert.deepEqual(await back, { who: 'ann' });
      const toast = waitFor(cha, 'toast', 3000);
      await s.sdk().trigger(name, 'toast', { text: 'hello' });
      assert.deepEqual(await toast, { text: 'hello' });
    });
  });
}

it('a fallback client reconnects after a graceful restart (4200)', async (t) => {
  const srv = await serverFor(t, { local: true, server: { shutdown_grace_period_ms: 200 } });
  if (!srv) return;
  const s = new Scope(t, srv);
  const p = await s.connected(over(srv, 'xhr_streaming'));
  const ch = await subscribed(p.subscribe('survives-restart'));
  const restarted = restartWatch(p);
  await srv.herald.stop();
  await srv.herald.start(); // same port
  await restarted(s, ch);
});
