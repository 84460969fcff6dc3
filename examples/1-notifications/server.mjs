// Example 1: multi-tenant notifications. Laravel fires TenantCreated, UserCreated, PaymentCompleted,
// HotspotUserExpired, PasswordChanged and SystemAlert with broadcast(...)->toOthers(); the page
// listens on tenant.{tenantId} (public), private-user.{userId} and, for system admins,
// private-system.admin, and turns each event into a toast.
import crypto from 'node:crypto';
import { Broadcast, Sessions, broadcast, serve } from '../lib/laravel.mjs';

const tenants = { 1: 'Acme Networks', 2: 'Globex ISP' };
const users = [
  { id: 1, name: 'Alice', tenant_id: 1, label: 'Acme Networks' },
  { id: 2, name: 'Bob', tenant_id: 1, label: 'Acme Networks' },
  { id: 3, name: 'Carol', tenant_id: 2, label: 'Globex ISP' },
  { id: 9, name: 'Sam', tenant_id: 1, is_admin: true, label: 'system admin' },
];
let nextUserId = 100;
let nextTenantId = 3;

// routes/channels.php (tenant.{id} is a public channel in this app, as in the project it comes from)
const channels = new Broadcast()
  .channel('App.Models.User.{id}', (user, id) => String(user.id) === id) // every Laravel app has this one
  .channel('user.{id}', (user, id) => String(user.id) === id)
  .channel('system.admin', (user) => user.is_admin === true);

const tenantOf = (user) => ({ id: user.tenant_id, name: tenants[user.tenant_id] });

serve({
  dir: import.meta.dirname,
  port: Number(process.env.PORT || 3001),
  sessions: new Sessions(users),
  channels,
  routes: {
    // UserController@store: broadcast(new UserCreated($user))->toOthers()
    'POST /users': async ({ user, body, socket }) => {
      const created = { id: nextUserId++, name: String(body.name || 'New user'), tenant_id: user.tenant_id };
      await broadcast('App\\Events\\UserCreated', [`tenant.${user.tenant_id}`],
        { user: created, tenant: tenantOf(user), by: user.name }, { socket });
      return { json: { user: created } };
    },
    // A scheduled job: a hotspot voucher ran out (sent to the whole tenant, this tab included)
    'POST /hotspot/expire': async ({ user, body }) => {
      const username = String(body.username || 'guest-42');
      await broadcast('App\\Events\\HotspotUserExpired', [`tenant.${user.tenant_id}`],
        { username, tenant: tenantOf(user), expired_at: new Date().toISOString() });
      return {};
    },
    // The payment webhook: the payer and the system admins hear of it
    'POST /payments': async ({ user, body }) => {
      const amount = Number(body.amount || 49);
      await broadcast('App\\Events\\PaymentCompleted', [`private-user.${user.id}`, 'private-system.admin'],
        { amount, currency: 'EUR', user: { id: user.id, name: user.name }, tenant: tenantOf(user) });
      return {};
    },
    // ProfileController@password: the user's other sessions are told (->toOthers())
    'POST /password': async ({ user, socket }) => {
      await broadcast('App\\Events\\PasswordChanged', [`private-user.${user.id}`],
        { user: { id: user.id, name: user.name }, at: new Date().toISOString() }, { socket });
      return {};
    },
    // $user->notify(new InvoiceReady($invoice)) with the 'broadcast' channel: Laravel sends
    // BroadcastNotificationCreated on private-App.Models.User.{id}, the data plus `id` and `type`.
    'POST /invoices': async ({ user }) => {
      const invoice = { number: `INV-${Math.floor(Math.random() * 9000 + 1000)}`, amount: 49 };
      await broadcast('Illuminate\\Notifications\\Events\\BroadcastNotificationCreated', [`private-App.Models.User.${user.id}`],
        { invoice, id: crypto.randomUUID(), type: 'App\\Notifications\\InvoiceReady' });
      return { json: { invoice } };
    },
    'POST /tenants': async ({ user, body }) => {
      if (!user.is_admin) return { status: 403, json: { message: 'This action is unauthorized.' } };
      const tenant = { id: nextTenantId++, name: String(body.name || 'New tenant') };
      tenants[tenant.id] = tenant.name;
      await broadcast('App\\Events\\TenantCreated', ['private-system.admin'], { tenant, by: user.name });
      return { json: { tenant } };
    },
    'POST /alerts': async ({ user, body }) => {
      if (!user.is_admin) return { status: 403, json: { message: 'This action is unauthorized.' } };
      await broadcast('App\\Events\\SystemAlert', ['private-system.admin'],
        { level: 'warning', message: String(body.message || 'Disk 91% full on radius-2') });
      return {};
    },
  },
});
