// Example 3: admin support chat. Visitors write from a widget (POST /support/messages); the agents'
// page hears of each message on private-support.inbox and lists the visitors online (presence-support)
// with their unread counts; a reply goes to private-chat.{visitorId}, which only that visitor may
// join, so it reaches nobody else. The widget also signs in (/broadcasting/user-auth), so closing a
// chat reaches that visitor as a server-to-user event (pusher.sendToUser(), #server-to-user-{id}).
import { Broadcast, Sessions, broadcast, phpJson, pusher, serve } from '../lib/laravel.mjs';

const agents = [{ id: 'agent-1', name: 'Ada', role: 'agent', label: 'support agent' }];
const sessions = new Sessions([...agents]);
const conversations = new Map(); // visitor id -> { visitor, messages: [{from, text, at}] }
let nextVisitor = 1;

// routes/channels.php
const channels = new Broadcast()
  .channel('chat.{visitor}', (user, visitor) => user.role === 'visitor' && user.id === visitor)
  .channel('support.inbox', (user) => user.role === 'agent')
  .channel('support', (user) => ({ id: user.id, name: user.name, role: user.role }))
  // Broadcast::resolveAuthenticatedUserUsing(): who a signed-in connection is
  .user((user) => ({ id: user.id, user_info: { name: user.name, role: user.role } }));

function conversation(visitor) {
  if (!conversations.has(visitor.id)) conversations.set(visitor.id, { visitor, messages: [] });
  return conversations.get(visitor.id);
}

serve({
  dir: import.meta.dirname,
  port: Number(process.env.PORT || 3003),
  sessions,
  channels,
  pages: { '/admin': 'admin.html' },
  guest: {
    // The widget's "Start chat": a visitor session (a cookie in a real app)
    'POST /visitors': async ({ body }) => {
      const visitor = { id: `v${nextVisitor++}`, name: String(body.name || 'Visitor').slice(0, 40), role: 'visitor' };
      const token = sessions.add(visitor);
      return { json: { token, user: visitor } };
    },
  },
  routes: {
    // The widget sends a message: the agents' inbox hears of it.
    'POST /support/messages': async ({ user, body }) => {
      if (user.role !== 'visitor') return { status: 403, json: { message: 'Only visitors write here.' } };
      const message = { from: user.name, text: String(body.text || '').slice(0, 2000), at: new Date().toISOString() };
      conversation(user).messages.push(message);
      await broadcast('App\\Events\\VisitorMessaged', ['private-support.inbox'], { visitor: user, message });
      return { json: { message } };
    },
    // An agent answers one visitor: only that visitor's channel carries it.
    'POST /support/replies': async ({ user, body }) => {
      if (user.role !== 'agent') return { status: 403, json: { message: 'This action is unauthorized.' } };
      const chat = conversations.get(String(body.visitor));
      if (!chat) return { status: 404, json: { message: 'No such conversation.' } };
      const message = { from: user.name, text: String(body.text || '').slice(0, 2000), at: new Date().toISOString() };
      chat.messages.push(message);
      await broadcast('App\\Events\\SupportReplied', [`private-chat.${chat.visitor.id}`], { message });
      return { json: { message } };
    },
    // An agent closes a chat: the visitor's signed-in connections hear of it (no channel needed).
    'POST /support/close': async ({ user, body }) => {
      if (user.role !== 'agent') return { status: 403, json: { message: 'This action is unauthorized.' } };
      const chat = conversations.get(String(body.visitor));
      if (!chat) return { status: 404, json: { message: 'No such conversation.' } };
      chat.closed = true;
      const res = await pusher.sendToUser(chat.visitor.id, 'chat.closed', phpJson({ by: user.name }));
      if (res.status !== 200) throw new Error(`Pusher error: ${await res.text()}.`);
      return {};
    },
    // The agents' page loads the conversations so far when it opens.
    'POST /support/conversations': async ({ user }) => {
      if (user.role !== 'agent') return { status: 403, json: { message: 'This action is unauthorized.' } };
      return { json: { conversations: [...conversations.values()] } };
    },
  },
});
