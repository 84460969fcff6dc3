// A TCP relay between a page and herald (or nginx) that the test can cut, as a network does:
// `swallow()` drops the bytes of both directions on the open connections (packets lost on a
// dying link: herald's writes succeed but never arrive, the page's pongs never leave), `cut()`
// destroys both sides of every open connection and resets new ones until `restore()`.
// DevTools' offline emulation alone does not do this: Chromium keeps an open WebSocket and only
// holds its frames until the emulation ends (checked on Chromium 156), so pusher-js never drops.
import net from 'node:net';

export async function relay(upstreamPort) {
  const pairs = new Set();
  let mode = 'pass';
  const stats = { accepted: 0, refused: 0, swallowed: 0 };
  const server = net.createServer((page) => {
    if (mode === 'cut') {
      stats.refused++;
      page.resetAndDestroy();
      return;
    }
    stats.accepted++;
    const herald = net.connect(upstreamPort, '127.0.0.1');
    const pair = { page, herald };
    pairs.add(pair);
    const forward = (from, to) =>
      from.on('data', (chunk) => {
        if (mode === 'pass') to.write(chunk);
        else stats.swallowed += chunk.length;
      });
    forward(page, herald);
    forward(herald, page);
    const end = () => {
      pairs.delete(pair);
      page.destroy();
      herald.destroy();
    };
    for (const s of [page, herald]) {
      s.on('error', end);
      s.on('close', end);
    }
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: server.address().port,
    stats,
    open: () => pairs.size,
    swallow() {
      mode = 'swallow';
    },
    cut() {
      mode = 'cut';
      for (const { page, herald } of pairs) {
        page.resetAndDestroy();
        herald.resetAndDestroy();
      }
      pairs.clear();
    },
    restore() {
      mode = 'pass';
    },
    close: () => new Promise((r) => server.close(r)),
  };
}
