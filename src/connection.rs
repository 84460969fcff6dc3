//! One task per WebSocket: one `select!` over the socket, the outbound queue,
//! the liveness and sign-in timers, close requests and the drain signal.

mod session;

use crate::channel::registry::{AppState, Frame};
use crate::channel::Sink;
use crate::config::origins;
use crate::metrics::{self, AppMetrics};
use crate::node::Node;
use crate::protocol::{self, code, ClientMessage};
use futures_util::{SinkExt, StreamExt};
use session::{Reply, Session};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tokio_tungstenite::tungstenite::{Error as WsError, Message};
use tokio_tungstenite::WebSocketStream;
use tracing::Instrument;

/// Frames written per flush at most; more stay queued for the next round.
const MAX_BATCH: usize = 256;
/// A write that makes no progress for this long drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);

/// WebSocket buffer sizes chosen for many small frames (see README: memory per connection).
pub fn ws_config(max_message_bytes: usize) -> WebSocketConfig {
    let hard_cap = (max_message_bytes * 4).max(1 << 20);
    WebSocketConfig::default()
        .read_buffer_size(2048)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(4 << 20)
        .max_message_size(Some(hard_cap))
        .max_frame_size(Some(hard_cap))
}

/// Who is connecting: the app key from the path and the browser's `Origin`, if any.
pub struct Upgrade {
    pub key: String,
    pub origin: Option<String>,
}

/// Serve one upgraded socket for the app and origin in `upgrade`.
pub async fn run<S>(ws: WebSocketStream<S>, node: Arc<Node>, upgrade: Upgrade)
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let (sock_key, socket_id) = node.next_socket_id();
    let span = tracing::info_span!("conn", socket_id = %socket_id, app_key = %upgrade.key);
    serve(ws, node, upgrade, sock_key, socket_id)
        .instrument(span)
        .await
}

async fn serve<S>(
    mut ws: WebSocketStream<S>,
    node: Arc<Node>,
    upgrade: Upgrade,
    sock_key: u64,
    socket_id: Arc<str>,
) where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let app = match admit(&node, &upgrade) {
        Ok(app) => app,
        Err((code, message)) => {
            tracing::info!(code, message, "connection refused");
            let _ = close(&mut ws, code, &message).await;
            return;
        }
    };
    let m = metrics::app(&app.app.id, node.config.server.port);
    let _connected = m.connection();
    let (sink, rx) = Sink::new(sock_key, socket_id.clone(), node.config.server.socket_queue);
    let mut session = Session::new(node.clone(), app.clone(), sink);
    tracing::debug!("connected");
    let secs = node.config.server.activity_timeout.as_secs();
    let established = protocol::connection_established(&socket_id, secs);
    m.ws_sent(established.len());
    if ws.send(Message::text(established)).await.is_ok() {
        let reason = drive(&mut ws, &mut session, rx, &m).await;
        tracing::debug!(reason, "disconnected");
    }
    session.close().await;
    app.disconnect();
}

/// Find the app, check the origin and take a connection slot, or say why not.
fn admit(node: &Node, upgrade: &Upgrade) -> Result<Arc<AppState>, (u16, String)> {
    let key = upgrade.key.as_str();
    let app = node
        .config
        .apps
        .by_key(key)
        .and_then(|a| node.adapter.app(&a.id));
    let Some(app) = app else {
        return Err((
            code::APP_NOT_FOUND,
            format!("App key {key} does not exist."),
        ));
    };
    if !app.app.enabled {
        return Err((code::APP_DISABLED, "The app is not enabled.".into()));
    }
    if !origins::allowed(&app.app.allowed_origins, upgrade.origin.as_deref()) {
        return Err((code::UNAUTHORIZED, "Origin not allowed".into()));
    }
    if !node.adapter.try_connect(app) {
        return Err((
            code::OVER_QUOTA,
            "The current concurrent connections quota has been reached.".into(),
        ));
    }
    Ok(app.clone())
}

/// The connection loop; returns why it ended.
async fn drive<S>(
    ws: &mut WebSocketStream<S>,
    session: &mut Session,
    mut rx: mpsc::Receiver<Frame>,
    m: &AppMetrics,
) -> &'static str
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let server = &session.node.config.server;
    let (activity, pong_wait) = (server.activity_timeout, server.pong_timeout);
    let mut drain = session.node.drain_signal();
    let mut idle_deadline = Instant::now() + activity;
    let mut pinged = false;
    let signin_ms = session.app.app.limits.user_authentication_timeout_ms;
    let signin_deadline = Instant::now() + Duration::from_millis(signin_ms);
    let needs_signin = session.app.app.enable_user_authentication;
    let sink = session.sink.clone();
    loop {
        tokio::select! {
            (code, message) = sink.closed() => {
                if code == code::OVER_CAPACITY {
                    m.queue_full();
                }
                let _ = close(ws, code, &message).await;
                return "closed by server";
            }
            _ = async { let _ = drain.wait_for(|d| *d).await; } => {
                let _ = close(ws, code::RECONNECT, "Server closed. Please reconnect shortly.").await;
                return "server draining";
            }
            Some(frame) = rx.recv() => {
                if write_batch(ws, frame, &mut rx, m).await.is_err() {
                    return "write failed";
                }
            }
            msg = ws.next() => {
                idle_deadline = Instant::now() + activity;
                pinged = false;
                let reply = match msg {
                    Some(Ok(msg)) => {
                        if let Message::Text(_) | Message::Binary(_) = &msg {
                            m.ws_received(msg.len());
                        }
                        on_message(session, msg).await
                    }
                    Some(Err(WsError::Capacity(_))) => Reply {
                        frames: vec![],
                        close: Some((1009, "Message too big".into())),
                    },
                    Some(Err(_)) | None => return "socket closed",
                };
                if respond(ws, reply, m).await.is_err() {
                    return "reply ended the connection";
                }
            }
            _ = sleep_until(idle_deadline) => {
                if pinged {
                    let _ = close(ws, code::PONG_TIMEOUT, "Pong reply not received in time").await;
                    return "pong timeout";
                }
                pinged = true;
                idle_deadline = Instant::now() + pong_wait;
                m.ws_sent(protocol::ping().len());
                if timed(ws.send(Message::text(protocol::ping()))).await.is_err() {
                    return "write failed";
                }
            }
            _ = sleep_until(signin_deadline), if needs_signin && !session.authorized => {
                let _ = close(ws, code::UNAUTHORIZED, "Connection not authorized within timeout.").await;
                return "sign-in timeout";
            }
        }
    }
}

/// Turn one inbound WebSocket message into a reply.
async fn on_message(session: &mut Session, msg: Message) -> Reply {
    let text = match &msg {
        Message::Text(t) => t.as_str(),
        Message::Binary(b) => match std::str::from_utf8(b) {
            Ok(t) => t,
            Err(_) => return invalid("binary frame is not UTF-8"),
        },
        Message::Close(_) => {
            return Reply {
                frames: vec![],
                close: Some((1000, String::new())),
            }
        }
        _ => return Reply::default(),
    };
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

/// Write a handler's reply; a requested close ends the connection.
async fn respond<S>(ws: &mut WebSocketStream<S>, reply: Reply, m: &AppMetrics) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    for f in reply.frames {
        m.ws_sent(f.len());
        timed(ws.feed(Message::text(f))).await?;
    }
    // Also flushes automatic pong replies to WebSocket pings.
    timed(ws.flush()).await?;
    match reply.close {
        Some((1000, _)) => Err(()),
        Some((code, message)) => {
            let _ = close(ws, code, &message).await;
            Err(())
        }
        None => Ok(()),
    }
}

/// Write the frame and whatever else is queued, then flush once.
async fn write_batch<S>(
    ws: &mut WebSocketStream<S>,
    first: Frame,
    rx: &mut mpsc::Receiver<Frame>,
    m: &AppMetrics,
) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // One timer for the whole batch: a timer per frame costs a wheel insert per delivery.
    let batch = async {
        m.ws_sent(first.len());
        ws.feed(Message::Text(first)).await?;
        for _ in 1..MAX_BATCH {
            let Ok(frame) = rx.try_recv() else { break };
            m.ws_sent(frame.len());
            ws.feed(Message::Text(frame)).await?;
        }
        ws.flush().await
    };
    timed(batch).await
}

async fn timed<F: std::future::Future<Output = Result<(), WsError>>>(f: F) -> Result<(), ()> {
    match tokio::time::timeout(WRITE_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(()),
        _ => Err(()),
    }
}

/// Send `pusher:error` with `code`, then a close frame with the same code.
async fn close<S>(ws: &mut WebSocketStream<S>, code: u16, message: &str) -> Result<(), ()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    if code >= 4000 {
        timed(ws.feed(Message::text(protocol::error(code, message, None)))).await?;
    }
    let frame = CloseFrame {
        code: CloseCode::from(code),
        reason: message.chars().take(100).collect::<String>().into(),
    };
    timed(ws.close(Some(frame))).await
}
