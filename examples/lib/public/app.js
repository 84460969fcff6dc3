// What every example page does, as a Laravel + Vite front end would: sign in (a Bearer token from
// the backend, as Sanctum gives), connect Laravel Echo on pusher-js to herald with the VITE_PUSHER_*
// values (served as /config.js), call the backend with `X-Socket-Id` so `->toOthers()` works, and
// show what arrives as toasts. Needs /vendor/pusher.min.js, /vendor/echo.iife.js and /config.js.
(function () {
  const $ = (sel) => document.querySelector(sel);

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs)) {
      if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(node.dataset, v);
      else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c);
    return node;
  }

  const App = {
    el,
    token: null,
    user: null,
    echo: null,

    /** POST /login; the token then signs every request and the Echo auth calls. */
    async login(id) {
      const res = await fetch('/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: id }),
      });
      if (!res.ok) throw new Error(`login failed: ${res.status}`);
      const { token, user } = await res.json();
      App.token = token;
      App.user = user;
      return user;
    },

    /** window.Echo as resources/js/echo.js sets it up, pointed at herald. */
    connect() {
      const c = window.HERALD;
      window.Pusher = Pusher;
      App.echo = window.Echo = new Echo.default({
        broadcaster: 'pusher',
        key: c.key,
        cluster: 'mt1',
        wsHost: c.wsHost,
        wsPort: c.wsPort,
        wssPort: c.wsPort,
        forceTLS: c.forceTLS,
        enabledTransports: ['ws', 'wss'],
        authEndpoint: '/broadcasting/auth',
        bearerToken: App.token,
      });
      const conn = App.echo.connector.pusher.connection;
      const show = () => {
        const s = $('#connection');
        if (s) {
          s.textContent = conn.state;
          s.dataset.state = conn.state;
        }
      };
      conn.bind('state_change', show);
      conn.bind('error', (e) => {
        // {type: 'PusherError', data} once connected; wrapped in {type: 'WebSocketError', error} in the handshake
        const d = (e && (e.data || (e.error && e.error.data))) || {};
        if (d.code) App.connectionError = `${d.message} (${d.code})`;
        const s = $('#connection-error');
        if (s && App.connectionError) s.textContent = `herald refused the connection: ${App.connectionError}`;
        if (App.connectionError) {
          document.querySelectorAll('#channels li[data-status="subscribing"] .status').forEach((n) => (n.textContent = 'not connected'));
        }
      });
      show();
      return App.echo;
    },

    /** A backend call as the signed-in user; X-Socket-Id makes `->toOthers()` skip this tab. */
    async api(path, body = {}) {
      const headers = { 'content-type': 'application/json', accept: 'application/json' };
      if (App.token) headers.authorization = `Bearer ${App.token}`;
      const socket = App.echo && App.echo.socketId();
      if (socket) headers['x-socket-id'] = socket;
      const res = await fetch(path, { method: 'POST', headers, body: JSON.stringify(body) });
      const json = await res.json().catch(() => ({}));
      if (!res.ok) throw new Error(json.message || `HTTP ${res.status}`);
      return json;
    },

    /** A toast in #toasts: title and text, `kind` sets its colour (info, success, warn, danger). */
    toast(title, text, { kind = 'info', event = '', channel = '' } = {}) {
      const box = $('#toasts');
      // The name on the wire: Echo prefixes its namespace App\Events unless the name starts with '.'
      const wire = event.startsWith('.') ? event.slice(1) : `App\\Events\\${event}`;
      const t = el(
        'div',
        { class: `toast ${kind}`, dataset: { event, channel } },
        el('strong', {}, title),
        el('span', {}, text),
        el('small', {}, `${channel} · ${wire}`),
      );
      box.prepend(t);
      return t;
    },

    /**
     * List an Echo channel in #channels with its state: subscribing, subscribed, or refused with
     * the reason pusher-js reports (the auth endpoint's HTTP status, or herald's own error).
     */
    track(channel) {
      const status = el('span', { class: 'status muted' }, 'subscribing…');
      const li = el('li', { dataset: { channel: channel.name, status: 'subscribing' } }, el('code', {}, channel.name), ' ', status);
      $('#channels').append(li);
      channel.subscribed(() => {
        li.dataset.status = 'subscribed';
        status.className = 'status ok';
        status.textContent = '✓ subscribed';
      });
      channel.error((e) => {
        li.dataset.status = 'refused';
        status.className = 'status refused';
        const why = (e && (e.error || e.type)) || 'refused';
        status.textContent = `✗ refused${e && e.status ? ` (${e.status})` : ''}: ${why}`;
      });
      return channel;
    },

    /** Wait until the pusher-js connection is `connected`. */
    connected() {
      const conn = App.echo.connector.pusher.connection;
      if (conn.state === 'connected') return Promise.resolve();
      return new Promise((resolve) => conn.bind('connected', resolve));
    },

    /** Buttons "Sign in as ..." for each demo user in `users`; `start(user)` runs after sign-in. */
    signInPicker(users, start) {
      const box = $('#signin');
      for (const u of users) {
        box.append(
          el(
            'button',
            {
              type: 'button',
              onclick: async () => {
                const user = await App.login(u.id);
                box.hidden = true;
                $('#who').textContent = `Signed in as ${user.name}${u.label ? ` (${u.label})` : ''}`;
                start(user);
              },
            },
            `Sign in as ${u.name}${u.label ? ` (${u.label})` : ''}`,
          ),
        );
      }
    },
  };

  window.App = App;
})();
