// Example 4: one herald for several sites. An admin dashboard, a lawyers' portal and a clients'
// portal, each on its own host name, share one herald and one app; events cross sites (an admin
// finishing a workflow notifies the lawyers). herald's `allowed_origins` (examples/herald.toml)
// lists admin.localhost and lawyers.localhost but not clients.localhost: that portal is refused.
// One backend serves the three sites, told apart by the Host header: open
//   http://admin.localhost:3004/   http://lawyers.localhost:3004/   http://clients.localhost:3004/
import { Broadcast, Sessions, broadcast, serve } from '../lib/laravel.mjs';

const port = Number(process.env.PORT || 3004);
const users = [
  { id: 1, name: 'Ada', role: 'admins', site: 'admin', label: 'administrator' },
  { id: 2, name: 'Lena', role: 'lawyers', site: 'lawyers', label: 'lawyer' },
  { id: 3, name: 'Leo', role: 'lawyers', site: 'lawyers', label: 'lawyer' },
  { id: 4, name: 'Carl', role: 'clients', site: 'clients', label: 'client' },
];
const siteOf = (req) => String(req.headers.host || '').split('.')[0];

// routes/channels.php: a room per user type, and one per user
const channels = new Broadcast()
  .channel('role.{role}', (user, role) => user.role === role)
  .channel('user.{id}', (user, id) => String(user.id) === id);

const server = serve({
  dir: import.meta.dirname,
  port,
  sessions: new Sessions(users),
  channels,
  pages: (req, url) => (url.pathname === '/' ? (['admin', 'lawyers', 'clients'].includes(siteOf(req)) ? 'site.html' : 'index.html') : null),
  routes: {
    // The admin dashboard finishes a case's workflow: the lawyers' portal hears of it.
    'POST /cases/finish': async ({ user, body }) => {
      if (user.role !== 'admins') return { status: 403, json: { message: 'This action is unauthorized.' } };
      const kase = { id: Number(body.case || 12), title: String(body.title || 'Smith v. Jones') };
      await broadcast('App\\Events\\WorkflowCompleted', ['private-role.lawyers', 'private-role.admins'], { case: kase, by: user.name });
      return { json: { case: kase } };
    },
    // A lawyer asks the client for documents: the clients' portal would hear of it.
    'POST /cases/request-documents': async ({ user, body }) => {
      if (user.role !== 'lawyers') return { status: 403, json: { message: 'This action is unauthorized.' } };
      const kase = { id: Number(body.case || 12), title: String(body.title || 'Smith v. Jones') };
      await broadcast('App\\Events\\DocumentsRequested', ['private-role.clients', 'private-role.admins'], { case: kase, by: user.name });
      return { json: { case: kase } };
    },
  },
});

server.on('listening', () => {
  const { port: p } = server.address();
  console.log(`sites: http://admin.localhost:${p}/  http://lawyers.localhost:${p}/  http://clients.localhost:${p}/`);
});
