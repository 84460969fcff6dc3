//! A TCP relay between herald and its bus (Redis, NATS) that the tests can
//! freeze, thaw and cut: a silent partition (bytes stop both ways, no RST, no
//! FIN) as a bad network day makes one, and a cut (every flow closed at once).
//!
//! `Relay::start(upstream)` listens on a free local port; point the node at
//! `relay.addr()` instead of the bus. While frozen, nothing is read from either
//! side, so the peers' writes pile up in kernel buffers and nobody sees an
//! error; `thaw` lets them flow on. `cut` drops every open flow (the next ones
//! are relayed again); `on_bytes` freezes or cuts right after a chosen reply.
//! `only` narrows freeze and cut to the flows of one client, told apart by
//! what it sends first (e.g. the user name in its `HELLO`): what a relay in
//! front of a server that several nodes share needs to cut off one of them.

#![allow(dead_code)] // each test uses the part it needs

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the relay does to its flows now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Flow,
    Frozen,
}

/// What to do once a reply from the upstream contains a pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// Stop every flow after that reply was passed on.
    Freeze,
    /// Close every flow after that reply was passed on.
    Cut,
    /// Close every flow instead of passing that reply on: the reply is lost.
    Swallow,
}

struct Shared {
    mode: watch::Sender<Mode>,
    /// Bumped by `cut`: flows started under an older generation close.
    generation: watch::Sender<u64>,
    trigger: Mutex<Option<(Vec<u8>, Trigger)>>,
    /// Freeze and cut only flows whose client's first bytes hold this.
    only: Mutex<Option<Vec<u8>>>,
}

/// A relay on 127.0.0.1 to one upstream address.
pub struct Relay {
    addr: SocketAddr,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl Relay {
    pub async fn start(upstream: SocketAddr) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = Arc::new(Shared {
            mode: watch::channel(Mode::Flow).0,
            generation: watch::channel(0).0,
            trigger: Mutex::new(None),
            only: Mutex::new(None),
        });
        let task = tokio::spawn(accept(listener, upstream, shared.clone()));
        Relay { addr, shared, task }
    }

    /// Where the node should connect instead of the upstream.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Stop every flow, both ways, without closing anything.
    pub fn freeze(&self) {
        self.shared.mode.send_replace(Mode::Frozen);
    }

    /// Let every flow go on where it stopped.
    pub fn thaw(&self) {
        self.shared.mode.send_replace(Mode::Flow);
    }

    /// Close every open flow now (new connections are relayed again).
    pub fn cut(&self) {
        self.shared.generation.send_modify(|g| *g += 1);
    }

    /// From now on, freeze and cut only the flows whose client's first bytes
    /// (its first read) contain `pattern`; the others always flow.
    pub fn only(&self, pattern: &[u8]) {
        *self.shared.only.lock().unwrap() = Some(pattern.to_vec());
    }

    /// Once a reply from the upstream contains `pattern`, pass it on and then
    /// freeze or cut (once).
    pub fn on_bytes(&self, pattern: &[u8], then: Trigger) {
        *self.shared.trigger.lock().unwrap() = Some((pattern.to_vec(), then));
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        self.cut();
    }
}

async fn accept(listener: TcpListener, upstream: SocketAddr, shared: Arc<Shared>) {
    while let Ok((client, _)) = listener.accept().await {
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(server) = TcpStream::connect(upstream).await else {
                return;
            };
            relay(client, server, shared).await;
        });
    }
}

async fn relay(client: TcpStream, server: TcpStream, shared: Arc<Shared>) {
    let mut generation = shared.generation.subscribe();
    let (cr, cw) = client.into_split();
    let (sr, sw) = server.into_split();
    // Whether this flow is one `freeze` and `cut` apply to: all of them unless
    // `only` is set, then decided by the client's first bytes.
    let chosen = Arc::new(AtomicBool::new(shared.only.lock().unwrap().is_none()));
    let up = pump(cr, sw, shared.clone(), chosen.clone(), false);
    let down = pump(sr, cw, shared.clone(), chosen.clone(), true);
    let cut = async {
        loop {
            if generation.changed().await.is_err() || chosen.load(Ordering::SeqCst) {
                return;
            }
        }
    };
    tokio::select! {
        _ = up => {}
        _ = down => {}
        _ = cut => {}
    }
}

/// Copy one direction while the relay flows; `replies` marks the upstream's.
async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    shared: Arc<Shared>,
    chosen: Arc<AtomicBool>,
    replies: bool,
) {
    let mut mode = shared.mode.subscribe();
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = !replies;
    let frozen = |m: &Mode| *m == Mode::Frozen && chosen.load(Ordering::SeqCst);
    loop {
        if mode.wait_for(|m| !frozen(m)).await.is_err() {
            return;
        }
        let n = tokio::select! {
            r = from.read(&mut buf) => match r { Ok(0) | Err(_) => return, Ok(n) => n },
            // Frozen while waiting: stop reading (the bytes stay in the kernel).
            _ = mode.wait_for(frozen) => continue,
        };
        if std::mem::take(&mut first) {
            choose(&shared, &chosen, &buf[..n]);
        }
        let fired = if replies {
            fire(&shared, &buf[..n])
        } else {
            None
        };
        if fired == Some(Trigger::Swallow) {
            shared.generation.send_modify(|g| *g += 1);
            return;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
        match fired {
            Some(Trigger::Freeze) => {
                shared.mode.send_replace(Mode::Frozen);
            }
            Some(Trigger::Cut) => shared.generation.send_modify(|g| *g += 1),
            _ => {}
        }
    }
}

/// A flow under `only` is chosen if its client's first bytes hold the pattern.
fn choose(shared: &Shared, chosen: &AtomicBool, bytes: &[u8]) {
    if let Some(pattern) = shared.only.lock().unwrap().as_ref() {
        let hit = bytes
            .windows(pattern.len())
            .any(|w| w == pattern.as_slice());
        chosen.store(hit, Ordering::SeqCst);
    }
}

/// The armed trigger (disarmed now) if this reply holds its pattern.
fn fire(shared: &Shared, bytes: &[u8]) -> Option<Trigger> {
    let mut armed = shared.trigger.lock().unwrap();
    let (pattern, then) = armed.as_ref()?;
    if !bytes
        .windows(pattern.len())
        .any(|w| w == pattern.as_slice())
    {
        return None;
    }
    let then = *then;
    *armed = None;
    Some(then)
}

#[tokio::test]
async fn the_relay_passes_bytes_and_freezes_them() {
    let upstream = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let up_addr = upstream.local_addr().unwrap();
    tokio::spawn(async move {
        // An echo server.
        while let Ok((mut s, _)) = upstream.accept().await {
            tokio::spawn(async move {
                let mut b = [0u8; 1024];
                while let Ok(n) = s.read(&mut b).await {
                    if n == 0 || s.write_all(&b[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    let relay = Relay::start(up_addr).await;
    let mut s = TcpStream::connect(relay.addr()).await.unwrap();
    let mut b = [0u8; 5];
    s.write_all(b"hello").await.unwrap();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"hello");
    relay.freeze();
    s.write_all(b"again").await.unwrap();
    let late = tokio::time::timeout(std::time::Duration::from_millis(300), s.read(&mut b)).await;
    assert!(late.is_err(), "a frozen relay passed bytes");
    relay.thaw();
    s.read_exact(&mut b).await.unwrap();
    assert_eq!(&b, b"again");
    relay.cut();
    let closed = tokio::time::timeout(std::time::Duration::from_secs(2), s.read(&mut b)).await;
    assert!(
        matches!(closed, Ok(Ok(0)) | Ok(Err(_))),
        "a cut flow stayed open"
    );
}
