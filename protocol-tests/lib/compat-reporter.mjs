// A node:test reporter that prints a compatibility table (feature, case,
// result) after the run and writes it to compat-report.md.
// Used next to the standard `spec` reporter (see run.sh).
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const OUT = path.resolve(here, '..', 'compat-report.md');

export default async function* compatReporter(source) {
  const rows = [];
  const suites = new Map(); // `${file}:${nesting}` -> current suite name (by start order)
  for await (const ev of source) {
    const d = ev.data || {};
    if (ev.type === 'test:start') {
      suites.set(`${d.file}:${d.nesting}`, d.name);
      continue;
    }
    if (ev.type !== 'test:pass' && ev.type !== 'test:fail') continue;
    if (d.details && d.details.type === 'suite') continue;
    const feature = d.nesting > 0 ? suites.get(`${d.file}:${d.nesting - 1}`) || '' : path.basename(d.file || '', '.test.mjs');
    let result = ev.type === 'test:pass' ? 'pass' : 'fail';
    if (d.skip !== undefined && d.skip !== false) result = 'skip';
    if (d.todo !== undefined && d.todo !== false) result = result === 'fail' ? 'todo(fail)' : 'todo';
    let note = '';
    if (result === 'skip' && typeof d.skip === 'string') note = d.skip;
    if (result === 'fail') {
      const err = d.details && d.details.error;
      const cause = err && (err.cause || err);
      note = String((cause && cause.message) || cause || '').split('\n')[0].slice(0, 140);
    }
    rows.push({ feature, name: d.name, result, note });
  }
  const counts = { pass: 0, fail: 0, skip: 0 };
  for (const r of rows) if (r.result in counts) counts[r.result]++;
  const mode = process.env.PUSHER_HOST
    ? `target ${process.env.PUSHER_HOST}:${process.env.PUSHER_PORT || 6001}`
    : `local (${process.env.HERALD_BIN || '../target/release/herald'})`;
  const w1 = Math.max(7, ...rows.map((r) => r.feature.length));
  const w2 = Math.max(4, ...rows.map((r) => r.name.length));
  const line = (a, b, c, n) => `| ${a.padEnd(w1)} | ${b.padEnd(w2)} | ${c.padEnd(6)} | ${n}`;
  const out = [];
  out.push('');
  out.push(`Pusher protocol compatibility — mode: ${mode}`);
  out.push(line('feature', 'case', 'result', 'note'));
  out.push(`|${'-'.repeat(w1 + 2)}|${'-'.repeat(w2 + 2)}|--------|------`);
  for (const r of rows) out.push(line(r.feature, r.name, r.result, r.note));
  out.push(`${counts.pass} passed, ${counts.fail} failed, ${counts.skip} skipped`);
  out.push('');
  try {
    fs.writeFileSync(OUT, `# Compatibility report\n\n\`\`\`\n${out.join('\n')}\n\`\`\`\n`);
  } catch {
    /* read-only checkout: the table is still printed */
  }
  yield out.join('\n') + '\n';
}
