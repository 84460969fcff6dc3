// The browser suite's helpers: herald started from the built binary with the examples' own config
// (examples/herald.toml, on free ports), each example's backend started as its README says
// (`node server.mjs`, pointed at that herald with the PUSHER_* variables), and pages in Debian's
// headless Chromium (playwright-core, no browser download). Nothing is mocked.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = path.dirname(fileURLToPath(import.meta.url));
export const EXAMPLES = path.resolve(here, '..');
export const HERALD = process.env.HERALD_BIN || path.resolve(EXAMPLES, '../target/release/herald');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const CONSOLE_TOKEN = 'examples-console-token';
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const children = new Set();
export const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'herald-examples-'));
let failed = false;
process.on('exit', () => {
  children.forEach((c) => c.exitCode === null && c.kill('SIGKILL'));
  if (failed) console.log(`logs kept in ${workDir}`);
  else fs.rmSync(workDir, { recursive: true, force: true });
});

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

function run(name, cmd, args, { env = {}, cwd = workDir } = {}) {
  const logFile = path.join(workDir, `${name}.log`);
  const log = fs.openSync(logFile, 'a');
  const child = spawn(cmd, args, { cwd, env: { ...process.env, ...env }, stdio: ['ignore', log, log] });
  child.logFile = logFile;
  child.exited = new Promise((r) => child.on('exit', r));
  children.add(child);
  return child;
}

/** GET http://127.0.0.1:port/path: `{status, body}` (status 0 when nothing answers). */
export function get(port, urlPath) {
  return new Promise((resolve) => {
    const req = http.get({ host: '127.0.0.1', port, path: urlPath, agent: false, timeout: 2000 }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode, body }));
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve({ status: 0, body: '' }));
  });
}

async function until(what, check, ms = 15000) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await check()) return;
    await sleep(50);
  }
  throw new Error(`${what} within ${ms} ms`);
}

/** herald with examples/herald.toml, on free ports; the debug console switched on (when built in). */
export async function herald() {
  const port = await freePort();
  const metricsPort = await freePort();
  const child = run('herald', HERALD, ['--config', path.join(EXAMPLES, 'herald.toml')], {
    env: {
      HERALD_PORT: String(port),
      SOKETI_METRICS_SERVER_PORT: String(metricsPort),
      HERALD_THREADS: '1',
      HERALD_LOG: 'herald=info',
      HERALD_CONSOLE: 'true',
      HERALD_CONSOLE_TOKEN: CONSOLE_TOKEN,
    },
  });
  await until('herald ready', async () => (await get(metricsPort, '/ready')).status === 200);
  return { port, metricsPort, child, stop: () => stop(child) };
}

/** An example's backend, started as its README says, pointed at herald on `heraldPort`. */
export async function example(dir, heraldPort) {
  const port = await freePort();
  const child = run(dir, process.execPath, ['server.mjs'], {
    cwd: path.join(EXAMPLES, dir),
    env: { PORT: String(port), PUSHER_HOST: '127.0.0.1', PUSHER_PORT: String(heraldPort) },
  });
  await until(`${dir} listening`, async () => (await get(port, '/')).status === 200);
  return { port, child, url: `http://localhost:${port}`, stop: () => stop(child) };
}

async function stop(child) {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await Promise.race([child.exited, sleep(3000)]);
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Debian's Chromium, headless; *.localhost names resolve to 127.0.0.1 (the several-sites example). */
export function browser() {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--host-resolver-rules=MAP *.localhost 127.0.0.1',
    ],
  });
}

/** A fresh browser context (its own storage, like another person's browser) with one page at `url`. */
export async function open(chrome, url) {
  const context = await chrome.newContext({ viewport: { width: 1180, height: 760 } });
  const page = await context.newPage();
  page.logs = [];
  page.on('console', (m) => page.logs.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => page.logs.push(`pageerror: ${e.message}`));
  await page.goto(url);
  return page;
}

/** Click "Sign in as NAME" and wait until Echo's connection is established. */
export async function signIn(page, name) {
  await page.getByRole('button', { name: new RegExp(`^Sign in as ${name}\\b`) }).click();
  await page.locator('#connection[data-state="connected"]').waitFor({ timeout: 10000 });
}

/** Wait until each channel listed on the page (#channels) shows `status` (subscribed / refused). */
export async function channelState(page, channel, status = 'subscribed') {
  await page.locator(`#channels li[data-channel="${channel}"][data-status="${status}"]`).waitFor({ timeout: 10000 });
}

/** The text of every toast on the page, newest first. */
export function toasts(page) {
  return page.locator('#toasts .toast').allInnerTexts();
}

/** `fn`, and when it throws, the logs of the pages in `pages()` and of every server started. */
export function logged(pages, fn) {
  return async (...args) => {
    try {
      await fn(...args);
    } catch (err) {
      failed = true;
      dump(pages());
      throw err;
    }
  };
}

function dump(pages) {
  for (const p of pages) if (p?.logs?.length) console.log(`page ${p.url()}:\n  ${p.logs.join('\n  ')}`);
  for (const c of children) {
    try {
      console.log(`--- ${c.logFile}\n${fs.readFileSync(c.logFile, 'utf8').slice(-3000)}`);
    } catch {}
  }
}

/** A screenshot in target/examples/; with SCREENSHOTS=1 the README's (`readme`) go to docs/ instead. */
export async function screenshot(page, name, { readme = false } = {}) {
  const docs = readme && process.env.SCREENSHOTS === '1';
  const dir = path.resolve(EXAMPLES, docs ? '../docs' : '../target/examples');
  fs.mkdirSync(dir, { recursive: true });
  await sleep(500); // let the newest toast finish sliding in
  // Down to the end of what the page shows, within the window
  const height = await page.evaluate(() =>
    Math.ceil(Math.max(...[...document.body.children].filter((e) => e.offsetParent !== null || e.tagName === 'HEADER')
      .map((e) => e.getBoundingClientRect().bottom)) + 24));
  const { width, height: max } = page.viewportSize();
  await page.screenshot({ path: path.join(dir, name), clip: { x: 0, y: 0, width, height: Math.min(height, max) } });
}
