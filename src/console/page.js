// herald console: one app's live stream (Server-Sent Events), its occupied
// channels and connections (polled), filters, pause and a test-event form.
// Everything a stranger sent is shown with textContent, never as HTML.
(() => {
  'use strict';
  const body = document.body;
  const base = body.dataset.base + '/' + encodeURIComponent(body.dataset.app);
  const token = new URLSearchParams(location.search).get('token') || '';
  const auth = { Authorization: 'Bearer ' + token };
  const $ = (id) => document.getElementById(id);
  const MAX_ROWS = 500;
  const MAX_CONNS = 60;
  let paused = false;
  let held = [];
  let refusals = 0;
  let recent = [];

  const el = (tag, cls, text) => {
    const e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    return e;
  };

  const pad = (n, w = 2) => String(n).padStart(w, '0');
  const clock = (ms) => {
    const d = new Date(ms);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  };
  const ago = (ms) => {
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 5) return 'just now';
    if (s < 60) return s + 's ago';
    if (s < 3600) return Math.floor(s / 60) + 'm ago';
    return Math.floor(s / 3600) + 'h ago';
  };

  // What each kind of record says, in words.
  function describe(r) {
    const what = el('span', 'what');
    const add = (cls, text) => { if (text) { what.append(el('span', cls, text), ' '); } };
    const detail = el('div', 'detail');
    switch (r.kind) {
      case 'publish':
        add('ch', r.channel); add('ev', r.event);
        detail.textContent = `${r.size} bytes via HTTP API` + (r.except ? ` · excluding socket ${r.except}` : '');
        break;
      case 'client-event':
        add('ch', r.channel); add('ev', r.event); add('so', 'from ' + r.socket);
        detail.textContent = `${r.size} bytes, whispered by a client`;
        break;
      case 'subscribe': case 'unsubscribe':
        add('ch', r.channel); add('so', 'socket ' + r.socket);
        break;
      case 'member-added': case 'member-removed':
        add('ch', r.channel); add('ev', 'user ' + r.user); add('so', 'socket ' + r.socket);
        break;
      case 'connect':
        add('so', 'socket ' + r.socket); if (r.origin) add('', 'origin ' + r.origin); if (r.transport) add('', 'via ' + r.transport);
        break;
      case 'disconnect':
        add('so', 'socket ' + r.socket);
        detail.textContent = (r.code ? `close ${r.code} · ` : '') + r.reason;
        break;
      case 'webhook':
        add('ev', r.events); add('so', r.url);
        detail.textContent = r.status ? `HTTP ${r.status}` : `no answer: ${r.error}`;
        break;
      case 'recovery':
        add('ch', r.channel); add('so', 'socket ' + r.socket);
        detail.textContent = r.failed ? `not recovered: ${r.failed}` : `${r.replayed} missed events replayed`;
        break;
      case 'refusal':
        add('', r.stage); add('ch', r.channel); add('ev', r.event); add('so', r.socket ? 'socket ' + r.socket : '');
        refusalDetail(r, detail);
        break;
    }
    return [what, detail];
  }

  function refusalDetail(r, detail) {
    detail.append(el('span', 'reason', r.reason), r.code ? ` (${r.code})` : '');
    if (!r.signed) return;
    const dl = el('dl');
    dl.append(el('dt', '', 'server expected this string signed'), el('dd', '', r.signed.expected));
    dl.append(el('dt', '', 'signature that arrived'), el('dd', '', r.signed.received || '(none)'));
    detail.append(dl);
    const hint = r.stage === 'api'
      ? 'Check the app secret and the request the SDK signed.'
      : 'Check the app secret, the socket_id and the channel_data your auth endpoint signed.';
    detail.append(el('p', 'hint', hint));
  }

  function row(r) {
    const div = el('div', 'row kind-' + r.kind);
    div.dataset.kind = r.kind;
    div.dataset.channel = r.channel || '';
    div.dataset.event = r.event || (r.kind === 'webhook' ? r.events : '') || '';
    div.dataset.socket = r.socket || r.except || '';
    if (r.kind === 'refusal') div.dataset.reason = r.reason;
    const time = el('time', '', ago(r.time_ms));
    time.dataset.t = r.time_ms;
    time.title = new Date(r.time_ms).toISOString();
    time.append(el('span', 'abs', clock(r.time_ms)));
    const [what, detail] = describe(r);
    const kind = el('span', 'kind', r.kind);
    div.append(time, kind, what, el('span', 'node', r.node ? 'node ' + r.node : ''));
    if (detail.childNodes.length) div.append(detail);
    div.hidden = !matches(div);
    return div;
  }

  function matches(div) {
    const has = (v, f) => !f || v.toLowerCase().includes(f.toLowerCase());
    return has(div.dataset.channel, $('f-channel').value)
      && has(div.dataset.event, $('f-event').value)
      && has(div.dataset.socket, $('f-socket').value)
      && (!$('f-refusals').checked || div.dataset.kind === 'refusal');
  }

  function show(r) {
    const rows = $('rows');
    rows.prepend(row(r));
    while (rows.childElementCount > MAX_ROWS) rows.lastElementChild.remove();
    $('no-rows').hidden = true;
    if (r.kind === 'connect' || r.kind === 'disconnect') connection(r);
  }

  function connection(r) {
    const li = el('li');
    li.append(el('span', r.kind === 'connect' ? 'in' : 'out', r.kind === 'connect' ? '→ ' : '← '),
      clock(r.time_ms) + ' ' + r.socket + ' ');
    if (r.kind === 'disconnect') li.append(el('span', 'why', (r.code ? r.code + ' ' : '') + r.reason));
    const list = $('conns');
    list.prepend(li);
    while (list.childElementCount > MAX_CONNS) list.lastElementChild.remove();
    $('no-conns').hidden = true;
  }

  function receive(r) {
    recent.push(Date.now());
    if (r.kind === 'refusal') $('s-refusals').textContent = ++refusals;
    if (paused) {
      held.push(r);
      $('paused-note').textContent = `${held.length} new while paused`;
      return;
    }
    show(r);
  }

  function connect() {
    const es = new EventSource(base + '/stream?token=' + encodeURIComponent(token));
    es.addEventListener('hello', () => { $('link').textContent = 'live'; $('link').className = 'pill on'; });
    es.onmessage = (m) => { try { receive(JSON.parse(m.data)); } catch (e) { console.warn(e); } };
    es.addEventListener('dropped', (m) => {
      $('s-dropped-wrap').hidden = false;
      $('s-dropped').textContent = JSON.parse(m.data).dropped;
    });
    es.onerror = () => { $('link').textContent = 'reconnecting…'; $('link').className = 'pill off'; };
  }

  async function poll() {
    try {
      const res = await fetch(base + '/state', { headers: auth });
      if (!res.ok) throw new Error('state ' + res.status);
      const s = await res.json();
      $('s-conns').textContent = s.connections;
      $('s-chans').textContent = s.channels.length;
      const tbody = $('channels').tBodies[0];
      tbody.replaceChildren(...s.channels.sort((a, b) => a.name.localeCompare(b.name)).map((c) => {
        const tr = el('tr');
        tr.dataset.channel = c.name;
        tr.append(el('td', '', c.name), el('td', 'n', c.subscriptions), el('td', 'n', c.name.startsWith('presence-') ? c.users : ''));
        return tr;
      }));
      $('no-channels').hidden = s.channels.length > 0;
    } catch (e) { console.warn(e); }
  }

  function tick() {
    for (const t of document.querySelectorAll('#rows time')) {
      t.firstChild.textContent = ago(Number(t.dataset.t));
    }
    const now = Date.now();
    recent = recent.filter((t) => now - t < 5000);
    $('s-rate').textContent = (recent.length / 5).toFixed(1).replace(/\.0$/, '');
  }

  function refilter() {
    for (const div of $('rows').children) div.hidden = !matches(div);
  }

  $('pause').onclick = () => {
    paused = !paused;
    $('pause').textContent = paused ? 'Resume' : 'Pause';
    $('link').className = paused ? 'pill paused' : 'pill on';
    $('link').textContent = paused ? 'paused' : 'live';
    if (!paused) { held.forEach(show); held = []; }
    $('paused-note').hidden = !paused;
    $('paused-note').textContent = '';
  };
  $('clear').onclick = () => { $('rows').replaceChildren(); $('no-rows').hidden = false; };
  for (const id of ['f-channel', 'f-event', 'f-socket', 'f-refusals']) $(id).addEventListener('input', refilter);

  $('publish').onsubmit = async (ev) => {
    ev.preventDefault();
    const form = Object.fromEntries(new FormData(ev.target));
    const out = $('publish-result');
    try {
      const res = await fetch(base + '/publish', { method: 'POST', headers: { ...auth, 'Content-Type': 'application/json' }, body: JSON.stringify(form) });
      const answer = await res.json();
      out.className = res.ok ? 'ok' : 'bad';
      out.textContent = res.ok ? 'published' : `refused: ${answer.error}`;
    } catch (e) { out.className = 'bad'; out.textContent = String(e); }
  };

  connect();
  poll();
  setInterval(poll, 2000);
  setInterval(tick, 1000);
})();
