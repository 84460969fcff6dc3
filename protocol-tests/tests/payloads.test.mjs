// Event data and names must survive byte for byte: the raw `data` string a
// ws client receives equals the string that was published.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Scope, sharedServer, subscribed, waitFor } from '../lib/harness.mjs';

const uniq = (p) => `${p}${Date.now().toString(36)}${Math.random().toString(36).slice(2, 7)}`;

const CASES = [
  ['unicode', '{"text":"héllo wörld — 日本語 🚀 \u2028 ok"}'],
  ['PHP-escaped slashes and \\u escapes', '{"url":"https:\\/\\/example.com\\/a\\/b","name":"caf\\u00e9","emoji":"\\ud83d\\ude80"}'],
  ['backslashes and quotes', '{"path":"C:\\\\Users\\\\x","q":"say \\"hi\\""}'],
  ['not JSON', 'plain text, not json: {'],
  ['JSON with odd spacing and key order', '{ "b" : 1 ,"a":[ 1,2 ,3 ] }'],
  ['empty array (PHP empty payload)', '[]'],
  ['numbers that do not round-trip', '{"big":12345678901234567890,"f":1.10,"e":1E3}'],
];

describe('payloads', () => {
  let srv;
  before(async () => {
    srv = await sharedServer('payloads');
  });
  after(() => srv.stop());

  async function roundTrip(t, eventName, data) {
    const s = new Scope(t, srv);
    const raw = await s.raw();
    await raw.established();
    const name = uniq('bytes-');
    await raw.subscribe(name);
    const res = await s.sdk().trigger(name, eventName, data);
    assert.equal(res.status, 200);
    const m = await raw.next((x) => x && x.channel === name && x.event === eventName, 5000, eventName);
    return m;
  }

  for (const [label, data] of CASES) {
    it(`data survives: ${label}`, async (t) => {
      const m = await roundTrip(t, 'payload', data);
      assert.equal(typeof m.data, 'string', 'channel event data must be a string');
      assert.equal(m.data, data);
    });
  }

  it('event names with backslashes (App\\Events\\X) survive', async (t) => {
    const m = await roundTrip(t, 'App\\Events\\Deeply\\Nested\\X', '{"a":1}');
    assert.equal(m.event, 'App\\Events\\Deeply\\Nested\\X');
  });

  it('a payload just under 100 KB survives', async (t) => {
    // 100 KB = 102400 bytes; leave room for nothing but the data itself
    const multi = 'ÄÖÜ日本🚀'.repeat(400);
    const overhead = Buffer.byteLength(JSON.stringify({ blob: multi }));
    const data = JSON.stringify({ blob: multi + 'x'.repeat(102000 - overhead) });
    const bytes = Buffer.byteLength(data);
    assert.ok(bytes > 101000 && bytes <= 102400, `payload size ${bytes}`);
    const m = await roundTrip(t, 'big', data);
    assert.equal(m.data.length, data.length);
    assert.ok(m.data === data, 'large payload altered');
  });

  it('pusher-js hands JSON data to listeners as parsed objects, escapes resolved', async (t) => {
    const s = new Scope(t, srv);
    const p = await s.connected();
    const name = uniq('parsed-');
    const ch = await subscribed(p.subscribe(name));
    const got = waitFor(ch, 'ev', 3000);
    await s.sdk().trigger(name, 'ev', '{"url":"https:\\/\\/x.test\\/","n":"caf\\u00e9"}');
    assert.deepEqual(await got, { url: 'https://x.test/', n: 'café' });
  });
});
