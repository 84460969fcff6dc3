//! One task per WebSocket: one `select!` over the socket and the outbox.
//! Liveness, the sign-in clock and the drain reach the task through its outbox,
//! from the node's [`Roster`] sweeper, so an idle socket owns no timer.
//!
//! Memory is spent only while there is work: inbound bytes are read through a
//! per-thread scratch buffer and kept only while a frame is incomplete; outbound
//! frames wait in the [`Sink`]'s outbox, which is handed over whole and freed
//! after each write.

mod liveness;
pub mod roster;
mod session;
mod transport;

use crate::channel::registry::AppState;
use crate::channel::sink::Batch;
use crate::channel::Sink;
use crate::config::origins;
use crate::metrics::{self, AppMetrics};
use crate::node::Node;
use crate::protocol::{self, code, ClientMessage};
use crate::socket_id::SocketId;
use crate::ws::{self, Decoder, Inbound};
pub use liveness::Liveness;
pub use roster::Roster;
use session::{Reply, Session};
use std::cell::RefCell;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tracing::Instrument;
pub use transport::{SharedTcp, Transport};

/// A write that makes no progress for this long drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Bytes read from a socket per call; shared by all sockets of a worker thread.
const SCRATCH_BYTES: usize = 16 * 1024;

thread_local! {
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; SCRATCH_BYTES]);
}

/// Who is connecting: the app key from the path and the browser's `Origin`, if any.
pub struct Upgrade {
    pub key: String,
    pub origin: Option<String>,
}

/// Serve one upgraded socket for the app and origin in `upgrade`. `early` holds
/// bytes the client sent right behind its upgrade request, if any.
///
/// A plain function returning the task's future: every `async fn` layer would
/// keep its own copy of the arguments for the connection's whole life.
pub fn run<S>(io: S, early: Vec<u8>, node: Arc<Node>, upgrade: Upgrade) -> impl Future<Output = ()>
where
    S: Transport,
{
    let id = node.next_socket_id();
    let span = tracing::debug_span!("conn", socket_id = %id, app_key = %upgrade.key);
    let conn = Conn {
        io,
        inbuf: early,
        decoder: Decoder::new(hard_cap(node.config.server.max_message_bytes)),
    };
    let admitted = admit(&node, &upgrade);
    serve(conn, node, admitted, id).instrument(span)
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
    admitted: Result<Arc<AppState>, (u16, String)>,
    id: SocketId,
) where
    S: Transport,
{
    let app = match admitted {
        Ok(app) => app,
        Err((code, message)) => {
            tracing::info!(code, message, "connection refused");
            let _ = Box::pin(conn.close(code, &message)).await;
            return;
        }
    };
    let m = metrics::app(&app.app().id, node.config.server.port);
    let _connected = m.connection();
    let queue = node.config.server.socket_queue;
    let signin = app
        .app()
        .enable_user_authentication
        .then(|| Duration::from_millis(app.app().limits.user_authentication_timeout_ms));
    let live = Liveness::new(signin);
    let sink = match conn.io.direct() {
        Some(tcp) => Sink::direct(id, queue, live, tcp, m.clone()),
        None => Sink::new(id, queue, live),
    };
    let _seat = Roster::seat(&node, &sink);
    let mut session = Session::new(node, app.clone(), sink);
    tracing::debug!("connected");
    if Box::pin(conn.established(&session, &m)).await.is_ok() {
        let reason = conn.drive(&mut session, &m).await;
        tracing::debug!(reason, "disconnected");
    }
    Box::pin(session.close()).await;
    app.disconnect();
}

/// Find the app, check the origin and take a connection slot, or say why not.
fn admit(node: &Node, upgrade: &Upgrade) -> Result<Arc<AppState>, (u16, String)> {
    let key = upgrade.key.as_str();
    let Some(app) = node.app_by_key(key) else {
        return Err((
            code::APP_NOT_FOUND,
            format!("App key {key} does not exist."),
        ));
    };
    if !app.app().enabled {
        return Err((code::APP_DISABLED, "The app is not enabled.".into()));
    }
    if !origins::allowed(&app.app().allowed_origins, upgrade.origin.as_deref()) {
        return Err((code::UNAUTHORIZED, "Origin not allowed".into()));
    }
    if !node.adapter.try_connect(&app) {
        return Err((
            code::OVER_QUOTA,
            "The current concurrent connections quota has been reached.".into(),
        ));
    }
    Ok(app)
}

impl<S: Transport> Conn<S> {
    /// The connection loop; returns why it ended.
    async fn drive(&mut self, session: &mut Session, m: &AppMetrics) -> &'static str {
        let sink = session.sink.clone();
        if !self.inbuf.is_empty() {
            if let Err(reason) = Box::pin(self.on_bytes(session, m)).await {
                return reason;
            }
        }
        loop {
            tokio::select! {
                biased;
                () = sink.ready() => {
                    // Boxed, like every path but the wait itself: an idle socket carries only the wait.
                    if let Err(reason) = Box::pin(self.flush(&sink, m)).await {
                        return reason;
                    }
                }
                read = read_some(&mut self.io, &mut self.inbuf) => {
                    match read {
                        Ok(0) | Err(_) => return "socket closed",
                        Ok(_) => sink.live.activity(),
                    }
                    // Boxed: handlers' futures are large and an idle socket should not carry them.
                    if let Err(reason) = Box::pin(self.on_bytes(session, m)).await {
                        return reason;
                    }
                }
            }
        }
    }

    /// The first frame: `pusher:connection_established` (the sink starts with
    /// the pen held, so nothing can overtake it).
    async fn established(&mut self, session: &Session, m: &AppMetrics) -> Result<(), ()> {
        let secs = session.node.config.server.activity_timeout.as_secs();
        let id = session.sink.socket_id().to_string();
        let frame = protocol::connection_established(&id, secs);
        self.send(&[frame], m).await?;
        self.release(&session.sink, m).await.map_err(|_| ())
    }

    /// Write what the outbox holds, until it stays empty.
    async fn flush(&mut self, sink: &Sink, m: &AppMetrics) -> Result<(), &'static str> {
        self.write_batch(sink.take(), m).await?;
        self.release(sink, m).await
    }

    /// Hand the pen back to publishers once nothing is left to write.
    async fn release(&mut self, sink: &Sink, m: &AppMetrics) -> Result<(), &'static str> {
        while let Some(batch) = sink.release() {
            self.write_batch(batch, m).await?;
        }
        Ok(())
    }

    /// Write a batch taken from the outbox; act on a close request after it.
    async fn write_batch(&mut self, batch: Batch, m: &AppMetrics) -> Result<(), &'static str> {
        if !batch.bytes.is_empty() {
            m.ws_sent_many(batch.frames, batch.payload);
            self.write(&batch.bytes)
                .await
                .map_err(|()| "write failed")?;
        }
        if let Some((code, message)) = batch.close {
            if code == code::OVER_CAPACITY {
                m.queue_full();
            }
            let _ = Box::pin(self.close(code, &message)).await;
            return Err("closed by server");
        }
        Ok(())
    }

    /// Handle every whole frame buffered, holding the pen so that replies go
    /// out in order with what is published meanwhile.
    async fn on_bytes(
        &mut self,
        session: &mut Session,
        m: &AppMetrics,
    ) -> Result<(), &'static str> {
        let sink = session.sink.clone();
        self.write_batch(sink.take(), m).await?;
        self.handle_frames(session, m).await?;
        self.release(&sink, m).await
    }

    /// Keep what is left of an incomplete frame for the next read.
    async fn handle_frames(
        &mut self,
        session: &mut Session,
        m: &AppMetrics,
    ) -> Result<(), &'static str> {
        let mut at = 0;
        let result = loop {
            let decoded = match self.decoder.decode(&mut self.inbuf[at..]) {
                Ok(Some(decoded)) => decoded,
                Ok(None) => break Ok(()),
                Err(e) => {
                    tracing::debug!(error = %e, "unreadable frame");
                    let _ = self.write_close(e.close_code(), &e.to_string()).await;
                    break Err("protocol error");
                }
            };
            at += decoded.0;
            let Some(inbound) = decoded.1 else { continue };
            if let Err(reason) = self.on_inbound(session, inbound, m).await {
                break Err(reason);
            }
        };
        self.inbuf.drain(..at);
        if self.inbuf.is_empty() {
            self.inbuf = Vec::new();
        }
        result
    }

    async fn on_inbound(
        &mut self,
        session: &mut Session,
        inbound: Inbound,
        m: &AppMetrics,
    ) -> Result<(), &'static str> {
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
                return self.write(&out).await.map_err(|()| "write failed");
            }
            Inbound::Pong => return Ok(()),
            Inbound::Close(code) => {
                let _ = self.write_close(code.map_or(1000, echo_code), "").await;
                return Err("socket closed");
            }
        };
        m.ws_received(text.len());
        let reply = on_message(session, &text).await;
        self.respond(reply, m).await
    }

    /// Write a handler's reply; a requested close ends the connection.
    async fn respond(&mut self, reply: Reply, m: &AppMetrics) -> Result<(), &'static str> {
        if !reply.frames.is_empty() {
            self.send(&reply.frames, m)
                .await
                .map_err(|()| "write failed")?;
        }
        match reply.close {
            Some((code, message)) => {
                let _ = self.close(code, &message).await;
                Err("reply ended the connection")
            }
            None => Ok(()),
        }
    }

    /// Write text frames in one go.
    async fn send(&mut self, frames: &[String], m: &AppMetrics) -> Result<(), ()> {
        let size = frames.iter().map(|f| ws::framed_len(f.len())).sum();
        let mut out = Vec::with_capacity(size);
        for f in frames {
            m.ws_sent(f.len());
            ws::text(f.as_bytes(), &mut out);
        }
        self.write(&out).await
    }

    /// Send `pusher:error` with `code` (for Pusher codes), then a close frame with the same code.
    async fn close(&mut self, code: u16, message: &str) -> Result<(), ()> {
        let mut out = Vec::new();
        if code >= 4000 {
            ws::text(protocol::error(code, message, None).as_bytes(), &mut out);
        }
        ws::close(code, message, &mut out);
        self.write(&out).await?;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
        Ok(())
    }

    async fn write_close(&mut self, code: u16, reason: &str) -> Result<(), ()> {
        let mut out = Vec::new();
        ws::close(code, reason, &mut out);
        self.write(&out).await
    }

    /// Write all of `bytes`. The first attempt needs no timer: usually the
    /// kernel takes everything at once. Otherwise the rest gets [`WRITE_TIMEOUT`].
    async fn write(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let io = &mut self.io;
        let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_write(cx, bytes))).await;
        let written = match first {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(_)) => return Err(()),
            Poll::Pending => 0,
        };
        let flushed = poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_flush(cx))).await;
        if written == bytes.len() && matches!(flushed, Poll::Ready(Ok(()))) {
            return Ok(());
        }
        Box::pin(write_slowly(io, &bytes[written..])).await
    }
}

async fn write_slowly<S: AsyncWrite + Unpin>(io: &mut S, bytes: &[u8]) -> Result<(), ()> {
    let write = async move {
        io.write_all(bytes).await?;
        io.flush().await
    };
    match tokio::time::timeout(WRITE_TIMEOUT, write).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// A close code fit to send back: reserved and unknown codes become 1000.
fn echo_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1011 | 3000..=4999 => code,
        _ => 1000,
    }
}

/// Read once into the thread's scratch buffer and append what came to `inbuf`.
async fn read_some<S: AsyncRead + Unpin>(
    io: &mut S,
    inbuf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    poll_fn(|cx| {
        SCRATCH.with_borrow_mut(|scratch| {
            let mut buf = ReadBuf::new(scratch);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    inbuf.extend_from_slice(buf.filled());
                    Poll::Ready(Ok(buf.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
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
        close: None,
    }
}
