//! One task per WebSocket: one `select!` over the socket and the outbox.
//! Liveness, the sign-in clock and the drain reach the task through its outbox,
//! from the node's [`Roster`](crate::roster::Roster) sweeper, so an idle socket owns no timer.
//!
//! Memory is spent only while there is work: inbound bytes are read through a
//! per-thread scratch buffer and kept only while a frame is incomplete; outbound
//! frames wait in the [`Sink`]'s outbox, which is handed over whole and freed
//! after each write.

mod ended;
mod read;
use read::{echo_code, read_some, Progress};
/// Request-time logic, used only at the WebSocket upgrade (hence here, not in config).
pub mod origins;
mod session;
mod tapped;
mod transport;
mod write;

use crate::capacity::{Admission, Pass};
use crate::channel::registry::AppState;
use crate::metrics::{self, AppMetrics};
use crate::node::Node;
use crate::protocol::{self, code, ClientMessage};
use crate::socket::outbox::Batch;
use crate::socket::{Liveness, Sink, SocketId};
use crate::ws::{self, Decoder, Inbound};
pub use ended::{Close, Ended, Refusal};
use session::{Reply, Session};
use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;
pub use transport::{SharedTcp, Transport};
/// Messages handled from one read before the task lets others run.
const YIELD_EVERY: usize = 32;
/// Bytes read from a socket per call; shared by all sockets of a worker thread.
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_BYTES]);
}

/// Who is connecting: the app key from the path and the browser's `Origin`, if
/// any, and its place in the node's connection caps (held while it is open).
pub(crate) struct Upgrade {
    pub key: String,
    pub origin: Option<String>,
    pub pass: Option<Pass>,
    /// The client's address (behind a trusted proxy, from `X-Forwarded-For`).
    pub client: Option<std::net::IpAddr>,
    /// The browser's `herald_session` token, for recovery channels.
    pub browser: Option<Arc<str>>,
}

/// Serve one upgraded socket for the app and origin in `upgrade`. `early` holds
/// bytes the client sent right behind its upgrade request, if any.
///
/// A plain function returning the task's future: every `async fn` layer would
/// keep its own copy of the arguments for the connection's whole life.
pub(crate) fn run<S>(
    io: S,
    early: Vec<u8>,
    node: Arc<Node>,
    upgrade: Upgrade,
) -> impl Future<Output = ()>
where
    S: Transport,
{
    let id = node.next_socket_id();
    let span = tracing::debug_span!("conn", socket_id = %id, app_key = %upgrade.key, client = ?upgrade.client);
    let conn = Conn {
        io,
        inbuf: early,
        decoder: Decoder::new(hard_cap(node.config.server.max_message_bytes)),
    };
    let admitted = admit(&node, &upgrade);
    match &admitted {
        Ok(app) => app
            .tap
            .emit(|| tapped::connected(id, upgrade.origin.clone(), conn.io.name())),
        Err((Some(app), refusal)) => app.tap.emit(|| tapped::refused(id, refusal)),
        Err((None, _)) => {}
    }
    let admitted = admitted.map_err(|(_, refusal)| refusal);
    let (pass, browser) = (upgrade.pass, upgrade.browser);
    serve(conn, node, admitted, id, pass, browser).instrument(span)
}

/// The largest message read at all; bigger ones close the socket with 1009.
/// Up to this size, messages over `max_message_bytes` get a `pusher:error`.
fn hard_cap(max_message_bytes: usize) -> usize {
    max_message_bytes.saturating_mul(4).max(1 << 20)
}

/// The socket and what is buffered of its inbound side.
struct Conn<S> {
    io: S,
    inbuf: Vec<u8>,
    decoder: Decoder,
}

async fn serve<S>(
    mut conn: Conn<S>,
    node: Arc<Node>,
    admitted: Result<Arc<AppState>, Refusal>,
    id: SocketId,
    _pass: Option<Pass>,
    browser: Option<Arc<str>>,
) where
    S: Transport,
{
    let app = match admitted {
        Ok(app) => app,
        Err(refusal) => {
            let code = refusal.code();
            match refusal.metric().is_some_and(crate::metrics::refused) {
                true => tracing::info!(
                    code,
                    %refusal,
                    "connection refused (more this second are only counted)"
                ),
                false => tracing::debug!(code, %refusal, "connection refused"),
            }
            let _ = Box::pin(conn.close(code, &refusal.to_string())).await;
            return;
        }
    };
    let m = metrics::app(&app.app().raw.id, node.config.server.raw.port);
    let _connected = m.connection();
    let queue = node.config.server.socket_queue;
    let signin = app
        .app()
        .raw
        .enable_user_authentication
        .then(|| Duration::from_millis(app.app().limits.user_authentication_timeout_ms));
    let live = Liveness::new(signin);
    let sink = match conn.io.direct() {
        Some(tcp) => Sink::direct(id, queue, live, tcp, m.clone()),
        None => Sink::new(id, queue, live),
    };
    let _seat = node.roster.seat(&sink);
    let mut session = Session::new(node, app.clone(), sink);
    if let Some(b) = &browser {
        app.browser_socket(b, &session.sink, true);
    }
    session.browser = browser.clone();
    tracing::debug!("connected");
    let ended = match Box::pin(conn.established(&session, &m)).await {
        Ok(()) => conn.drive(&mut session, &m).await,
        Err(e) => e,
    };
    match &ended {
        Ended::Read(e) => tracing::debug!(reason = %ended, error = %e, "disconnected"),
        Ended::Write(e) => tracing::debug!(reason = %ended, error = %e, "disconnected"),
        Ended::Protocol(e) => tracing::debug!(reason = %ended, error = %e, "disconnected"),
        _ => tracing::debug!(reason = %ended, "disconnected"),
    }
    app.tap.emit(|| tapped::disconnected(id, &ended));
    Box::pin(session.close()).await;
    if let Some(b) = &browser {
        app.browser_socket(b, &session.sink, false);
    }
    app.disconnect();
}

/// Find the app, check the origin and take a connection slot, or say why not
/// (with the app, when there is one, for its console).
fn admit(
    node: &Node,
    upgrade: &Upgrade,
) -> Result<Arc<AppState>, (Option<Arc<AppState>>, Refusal)> {
    let over = upgrade.pass.as_ref().map(|p| p.admission);
    if over.is_some_and(|a| a != Admission::Admitted) {
        return Err((None, Refusal::OverCapacity));
    }
    let key = upgrade.key.as_str();
    let Some(app) = node.app_by_key(key) else {
        return Err((None, Refusal::UnknownApp(key.to_string())));
    };
    let refusal = if !app.app().raw.enabled {
        Refusal::Disabled
    } else if !origins::allowed(&app.app().raw.allowed_origins, upgrade.origin.as_deref()) {
        Refusal::Origin
    } else if !node.adapter.try_connect(&app) {
        Refusal::OverQuota
    } else {
        return Ok(app);
    };
    Err((Some(app), refusal))
}

impl<S: Transport> Conn<S> {
    /// The connection loop; returns why it ended.
    async fn drive(&mut self, session: &mut Session, m: &AppMetrics) -> Ended {
        let sink = session.sink.clone();
        if !self.inbuf.is_empty() {
            if let Err(ended) = Box::pin(self.on_bytes(session, m)).await {
                return ended;
            }
        }
        loop {
            tokio::select! {
                biased;
                () = sink.ready() => {
                    if sink.closing() {
                        // Before the close frame: the page may be back on another node at once (4200).
                        Box::pin(session.leave_places()).await;
                    }
                    // Boxed, like every path but the wait itself: an idle socket carries only the wait.
                    if let Err(ended) = Box::pin(self.flush(&sink, m)).await {
                        return ended;
                    }
                }
                read = read_some(&mut self.io, &mut self.inbuf) => {
                    match read {
                        Ok(0) => return Ended::ClientClosed,
                        Err(e) => return Ended::Read(e),
                        Ok(_) => sink.live.activity(),
                    }
                    // Boxed: handlers' futures are large and an idle socket should not carry them.
                    if let Err(ended) = Box::pin(self.on_bytes(session, m)).await {
                        return ended;
                    }
                }
            }
        }
    }

    /// The first frame: `pusher:connection_established` (the sink starts with
    /// the pen held, so nothing can overtake it).
    async fn established(&mut self, session: &Session, m: &AppMetrics) -> Result<(), Ended> {
        let secs = session.node.config.server.activity_timeout.as_secs();
        let id = session.sink.socket_id().to_string();
        let frame = protocol::connection_established(&id, secs);
        self.send(&[frame], m).await?;
        self.release(&session.sink, m).await
    }

    /// Write what the outbox holds, until it stays empty.
    async fn flush(&mut self, sink: &Sink, m: &AppMetrics) -> Result<(), Ended> {
        self.write_batch(sink.take(), sink, m).await?;
        self.release(sink, m).await
    }

    /// Hand the pen back to publishers once nothing is left to write.
    async fn release(&mut self, sink: &Sink, m: &AppMetrics) -> Result<(), Ended> {
        while let Some(batch) = sink.release() {
            self.write_batch(batch, sink, m).await?;
        }
        Ok(())
    }

    /// Write a batch taken from the outbox; act on a close request after it.
    async fn write_batch(
        &mut self,
        batch: Batch,
        sink: &Sink,
        m: &AppMetrics,
    ) -> Result<(), Ended> {
        if !batch.frames.is_empty() {
            m.ws_sent_many(batch.frames.len(), batch.payload);
            if let Err(e) = self.write_frames(&batch, sink).await {
                // Cut short by a full queue: the client stopped reading, and
                // the close frame cannot follow half a frame.
                if sink.close_code() == Some(code::OVER_CAPACITY) {
                    m.queue_full();
                    return Err(Ended::SlowConsumer);
                }
                return Err(e.into());
            }
        }
        match batch.close {
            Some((code::OVER_CAPACITY, message)) => {
                m.queue_full();
                let _ = Box::pin(self.close(code::OVER_CAPACITY, &message)).await;
                Err(Ended::SlowConsumer)
            }
            Some((code, message)) => {
                let _ = Box::pin(self.close(code, &message)).await;
                Err(Ended::Closed(Close { code, message }))
            }
            None => Ok(()),
        }
    }

    /// Handle every whole frame buffered, holding the pen so that replies go
    /// out in order with what is published meanwhile.
    async fn on_bytes(&mut self, session: &mut Session, m: &AppMetrics) -> Result<(), Ended> {
        let sink = session.sink.clone();
        self.write_batch(sink.take(), &sink, m).await?;
        self.handle_frames(session, m).await?;
        self.release(&sink, m).await
    }

    /// Keep what is left of an incomplete frame for the next read.
    async fn handle_frames(&mut self, session: &mut Session, m: &AppMetrics) -> Result<(), Ended> {
        let mut at = 0;
        let (mut completed, mut progress) = (0usize, Progress::default());
        let result = loop {
            let was_in_message = self.decoder.in_message();
            let decoded = match self.decoder.decode(&mut self.inbuf[at..]) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => break Ok(()),
                Err(e) => {
                    let _ = self.write_close(e.close_code(), &e.to_string()).await;
                    break Err(Ended::Protocol(e));
                }
            };
            at += decoded.0;
            progress.decoded(was_in_message, self.decoder.in_message());
            let Some(inbound) = decoded.1 else { continue };
            completed += 1;
            if let Err(reason) = self.on_inbound(session, inbound, m).await {
                break Err(reason);
            }
            if completed.is_multiple_of(YIELD_EVERY) {
                // A burst of thousands of frames must not hold the thread from
                // the other sockets it serves.
                tokio::task::yield_now().await;
            }
        };
        self.inbuf.drain(..at);
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
        }
        let in_message = self.decoder.in_message();
        let incomplete = !self.inbuf.is_empty() || in_message;
        session
            .sink
            .live
            .reading(incomplete, progress.restarted(in_message));
        result
    }

    async fn on_inbound(
        &mut self,
        session: &mut Session,
        inbound: Inbound,
        m: &AppMetrics,
    ) -> Result<(), Ended> {
        let text = match inbound {
            Inbound::Text(t) => t,
            Inbound::Binary(b) => match String::from_utf8(b) {
                Ok(t) => t,
                Err(_) => return self.respond(invalid("binary frame is not UTF-8"), m).await,
            },
            Inbound::Ping(payload) => {
                let mut out = Vec::with_capacity(2 + payload.len());
                ws::header(ws::OP_PONG, payload.len(), &mut out);
                out.extend_from_slice(&payload);
                return Ok(self.write(&out).await?);
            }
            Inbound::Pong => return Ok(()),
            Inbound::Close(code) => {
                let _ = self.write_close(code.map_or(1000, echo_code), "").await;
                return Err(Ended::ClientClosed);
            }
        };
        m.ws_received(text.len());
        let reply = on_message(session, &text).await;
        self.respond(reply, m).await
    }

    /// Write a handler's reply.
    async fn respond(&mut self, reply: Reply, m: &AppMetrics) -> Result<(), Ended> {
        if !reply.frames.is_empty() {
            self.send(&reply.frames, m).await?;
        }
        Ok(())
    }
}

/// Turn one inbound text message into a reply.
async fn on_message(session: &mut Session, text: &str) -> Reply {
    if text.len() > session.node.config.server.max_message_bytes {
        let limit = session.node.config.server.max_message_bytes / 1024;
        return invalid(&format!("Message too large: the limit is {limit} KB"));
    }
    tracing::trace!(frame = text, "received");
    match ClientMessage::parse(text) {
        Ok(m) => session.handle(m).await,
        Err(e) => invalid(&e.to_string()),
    }
}

fn invalid(message: &str) -> Reply {
    tracing::debug!(message, "invalid frame");
    Reply {
        frames: vec![protocol::error(code::RECONNECT, message, None)],
    }
}
