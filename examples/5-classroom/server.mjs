// Example 5: classroom rooms in an LMS with tenant isolation. Each school is a tenant; channels per
// tenant (private-tenant.{t}), per role in a tenant (private-tenant.{t}.role.{role}) and per course
// (presence-course.{c}: who is online; Echo whispers for "is typing…"). The auth endpoint admits a
// user only to their own school's channels, their own role's and the courses they are enrolled in.
import { Broadcast, Sessions, broadcast, serve } from '../lib/laravel.mjs';

const schools = { 1: 'Northside High', 2: 'Lakeside Academy' };
const courses = {
  101: { id: 101, title: 'Algebra', tenant_id: 1 },
  102: { id: 102, title: 'Biology', tenant_id: 1 },
  201: { id: 201, title: 'Chemistry', tenant_id: 2 },
};
const users = [
  { id: 1, name: 'Tess Müller', role: 'teacher', tenant_id: 1, courses: [101, 102], label: 'teacher, Northside' },
  { id: 2, name: 'Sam', role: 'student', tenant_id: 1, courses: [101], label: 'student, Northside' },
  { id: 3, name: 'Sia', role: 'student', tenant_id: 1, courses: [102], label: 'student, Northside' },
  { id: 4, name: 'Otto', role: 'student', tenant_id: 2, courses: [201], label: 'student, Lakeside' },
].map((u) => ({ ...u, school: schools[u.tenant_id], course_list: u.courses.map((c) => courses[c]) }));

const enrolled = (user, course) =>
  user.courses.includes(Number(course)) && courses[course]?.tenant_id === user.tenant_id;

// routes/channels.php
const channels = new Broadcast()
  .channel('tenant.{tenant}', (user, tenant) => String(user.tenant_id) === tenant)
  .channel('tenant.{tenant}.role.{role}', (user, tenant, role) => String(user.tenant_id) === tenant && user.role === role)
  .channel('course.{course}', (user, course) => enrolled(user, course) && { id: user.id, name: user.name, role: user.role })
  .channel('user.{id}', (user, id) => String(user.id) === id);

serve({
  dir: import.meta.dirname,
  port: Number(process.env.PORT || 3005),
  sessions: new Sessions(users),
  channels,
  routes: {
    // A message in the course room (the sender's tab adds it itself: ->toOthers())
    'POST /messages': async ({ user, body, socket }) => {
      if (!enrolled(user, body.course)) return { status: 403, json: { message: 'This action is unauthorized.' } };
      const message = { from: { id: user.id, name: user.name }, text: String(body.text || '').slice(0, 1000) };
      await broadcast('App\\Events\\CourseMessagePosted', [`presence-course.${body.course}`], { message }, { socket });
      return { json: { message } };
    },
    // A student finishes a lesson: the teachers of the school see the progress.
    'POST /progress': async ({ user, body }) => {
      const course = courses[body.course];
      if (!enrolled(user, body.course)) return { status: 403, json: { message: 'This action is unauthorized.' } };
      await broadcast('App\\Events\\ProgressUpdated', [`private-tenant.${user.tenant_id}.role.teacher`],
        { student: { id: user.id, name: user.name }, course, lesson: Number(body.lesson || 3) });
      return {};
    },
    // A teacher's announcement to the whole school
    'POST /announcements': async ({ user, body }) => {
      if (user.role !== 'teacher') return { status: 403, json: { message: 'This action is unauthorized.' } };
      await broadcast('App\\Events\\AnnouncementPublished', [`private-tenant.${user.tenant_id}`],
        { text: String(body.text || 'No school on Friday'), by: user.name, school: schools[user.tenant_id] });
      return {};
    },
  },
});
