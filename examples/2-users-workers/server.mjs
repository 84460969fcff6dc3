// Example 2: users and workers in one app. Each connection belongs to an actor: a user may listen
// only on private-user.{id}, a worker only on private-worker.{id}; both may join the presence
// channel of their group, presence-group.{room}. Every other channel is refused (HTTP 403).
// Events here use broadcastAs() names (`job.requested`), which Echo listens to as `.job.requested`.
import { Broadcast, Sessions, broadcast, serve } from '../lib/laravel.mjs';

// Users and workers are numbered separately, as two tables would be: user 1 is not worker 1.
const actors = [
  { id: 'user-1', type: 'user', actor_id: 1, name: 'Uma', room: 12, label: 'user' },
  { id: 'user-2', type: 'user', actor_id: 2, name: 'Ugo', room: 12, label: 'user' },
  { id: 'worker-1', type: 'worker', actor_id: 1, name: 'Walt', room: 12, label: 'worker' },
  { id: 'worker-2', type: 'worker', actor_id: 2, name: 'Wanda', room: 14, label: 'worker' },
];

// routes/channels.php
const channels = new Broadcast()
  .channel('user.{id}', (actor, id) => actor.type === 'user' && String(actor.actor_id) === id)
  .channel('worker.{id}', (actor, id) => actor.type === 'worker' && String(actor.actor_id) === id)
  .channel('group.{room}', (actor, room) =>
    String(actor.room) === room && { id: actor.id, name: actor.name, type: actor.type });

serve({
  dir: import.meta.dirname,
  port: Number(process.env.PORT || 3002),
  sessions: new Sessions(actors),
  channels,
  routes: {
    // A user asks a worker of their group for help: the worker's private channel hears of it.
    'POST /jobs': async ({ user, body }) => {
      const worker = actors.find((a) => a.type === 'worker' && a.room === user.room);
      if (!worker) return { status: 422, json: { message: 'No worker in this group.' } };
      const job = { id: Math.floor(Math.random() * 9000 + 1000), title: String(body.title || 'Help needed') };
      await broadcast('job.requested', [`private-worker.${worker.actor_id}`], { job, from: { id: user.id, name: user.name } });
      await broadcast('job.requested', [`presence-group.${user.room}`], { job, from: { id: user.id, name: user.name }, to: worker.name });
      return { json: { job, worker: worker.name } };
    },
  },
});
