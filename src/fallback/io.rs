//! A fallback session's byte stream as its connection task sees it: the same
//! WebSocket frames a socket carries, so the task, its session and its
//! protocol are the WebSocket's own. What the client posts becomes masked text
//! frames for the task to read; what the task writes is parsed back into
//! messages, queued for the next receiving request, and its close frame into
//! the `c[code,reason]` that ends the session.

use crate::connection::Transport;
use crate::ws;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// Bytes of messages a session holds for its next receiving request. Past it
/// the task's writes wait, its outbox fills, and a session nobody reads is
/// closed with 4100 like a stalled socket.
pub(crate) const QUEUE_BYTES: usize = 256 * 1024;
/// Bytes of posted messages a session holds before its task has read them.
pub(crate) const INBOUND_BYTES: usize = 1 << 20;

/// The half of a session both sides hold: the HTTP requests and the task.
#[derive(Debug)]
pub(crate) struct Shared {
    state: Mutex<State>,
}

#[derive(Debug)]
pub(super) struct State {
    /// Posted messages, framed as a client's WebSocket frames.
    inbound: Vec<u8>,
    reader: Option<Waker>,
    /// The task's messages, each already a JSON string literal.
    pub(super) outbound: Vec<String>,
    pub(super) out_bytes: usize,
    writer: Option<Waker>,
    /// The attached receiving request, by number, and its waker.
    pub(super) attached: Option<u64>,
    pub(super) receiver: Option<Waker>,
    next_receiver: u64,
    /// When the client was last heard from or last had a receiving request.
    last_seen: Instant,
    /// The close frame the task sent.
    pub(super) close: Option<(u16, String)>,
    /// The task has ended (or the session was reaped).
    pub(super) gone: bool,
}

/// Why posted messages were not taken.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SendError {
    #[error("session closed")]
    Gone,
    #[error("session is not reading its messages")]
    Full,
}

impl Shared {
    pub(crate) fn new() -> Arc<Shared> {
        Arc::new(Shared {
            state: Mutex::new(State {
                inbound: Vec::new(),
                reader: None,
                outbound: Vec::new(),
                out_bytes: 0,
                writer: None,
                attached: None,
                receiver: None,
                next_receiver: 0,
                last_seen: Instant::now(),
                close: None,
                gone: false,
            }),
        })
    }

    pub(super) fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Hand posted messages to the task (an empty batch is a heartbeat).
    pub(crate) fn post(&self, messages: &[String]) -> Result<(), SendError> {
        let mut s = self.lock();
        if s.gone || s.close.is_some() {
            return Err(SendError::Gone);
        }
        s.last_seen = Instant::now();
        if s.inbound.len() > INBOUND_BYTES {
            return Err(SendError::Full);
        }
        for m in messages {
            client_frame(m.as_bytes(), &mut s.inbound);
        }
        if !messages.is_empty() {
            wake(&mut s.reader);
        }
        Ok(())
    }

    /// Attach a new receiving request, detaching (ending) the one before.
    pub(super) fn attach(&self) -> u64 {
        let mut s = self.lock();
        s.next_receiver += 1;
        s.attached = Some(s.next_receiver);
        s.last_seen = Instant::now();
        wake(&mut s.receiver);
        s.next_receiver
    }

    /// A receiving request ended: the session starts counting its idle time.
    pub(super) fn detach(&self, receiver: u64) {
        let mut s = self.lock();
        if s.attached == Some(receiver) {
            s.attached = None;
            s.receiver = None;
            s.last_seen = Instant::now();
        }
    }

    /// The queued messages were taken: the task may write again.
    pub(super) fn taken(s: &mut State) -> Vec<String> {
        s.out_bytes = 0;
        wake(&mut s.writer);
        std::mem::take(&mut s.outbound)
    }
}

fn wake(waker: &mut Option<Waker>) {
    if let Some(w) = waker.take() {
        w.wake();
    }
}

/// Append `payload` as a client's masked text frame (a zero mask: the bytes stay as they are).
fn client_frame(payload: &[u8], out: &mut Vec<u8>) {
    let (mut h, n) = ws::header_bytes(ws::OP_TEXT, payload.len());
    h[1] |= 0x80;
    out.extend_from_slice(&h[..n]);
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(payload);
}

/// The task's side of a session.
pub(crate) struct Io {
    shared: Arc<Shared>,
    /// What the task wrote of a frame not yet complete.
    partial: Vec<u8>,
    idle: Duration,
    reap: Pin<Box<Sleep>>,
    name: &'static str,
    on_drop: Option<Box<dyn FnOnce(bool) + Send>>,
}

impl Io {
    /// The task's side of `shared`, reaped after `idle` without a receiving
    /// request. `on_drop` is told whether the session closed with a code that
    /// its client may still have to hear.
    pub(crate) fn new(
        shared: Arc<Shared>,
        idle: Duration,
        name: &'static str,
        on_drop: Box<dyn FnOnce(bool) + Send>,
    ) -> Io {
        Io {
            shared,
            partial: Vec::new(),
            idle,
            reap: Box::pin(tokio::time::sleep(idle)),
            name,
            on_drop: Some(on_drop),
        }
    }

    /// Whether the session was abandoned: no receiving request for `idle`.
    fn abandoned(&mut self, cx: &mut Context<'_>) -> bool {
        while self.reap.as_mut().poll(cx).is_ready() {
            let mut s = self.shared.lock();
            let due = s.last_seen + self.idle;
            if s.attached.is_none() && due <= Instant::now() {
                s.gone = true;
                return true;
            }
            let next = match s.attached {
                Some(_) => Instant::now() + self.idle,
                None => due,
            };
            drop(s);
            self.reap.as_mut().reset(next);
        }
        false
    }

    /// Turn whole frames in `partial` into queued messages or the close.
    fn parse(&mut self, s: &mut State) {
        let mut at = 0;
        while let Some((opcode, start, end)) = server_frame(&self.partial[at..]) {
            let payload = &self.partial[at + start..at + end];
            match opcode {
                ws::OP_TEXT => {
                    let text = String::from_utf8_lossy(payload);
                    let json = serde_json::to_string(&text).unwrap_or_default();
                    s.out_bytes += json.len();
                    s.outbound.push(json);
                }
                ws::OP_CLOSE if payload.len() >= 2 => {
                    let code = u16::from_be_bytes([payload[0], payload[1]]);
                    let reason = String::from_utf8_lossy(&payload[2..]).into_owned();
                    s.close = Some((code, reason));
                }
                ws::OP_CLOSE => s.close = Some((1000, String::new())),
                _ => {}
            }
            at += end;
        }
        self.partial.drain(..at);
        wake(&mut s.receiver);
    }
}

use std::future::Future;

/// The next whole server frame in `buf`: its opcode and payload bounds.
fn server_frame(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (len, start): (usize, usize) = match b1 & 0x7f {
        126 => (
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
            4,
        ),
        127 => {
            let n = u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?);
            (usize::try_from(n).ok()?, 10)
        }
        n => (n as usize, 2),
    };
    let end = start.checked_add(len)?;
    (buf.len() >= end).then_some((b0 & 0x0f, start, end))
}

impl Transport for Io {
    fn name(&self) -> &'static str {
        self.name
    }
}

impl AsyncRead for Io {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut s = this.shared.lock();
        if !s.inbound.is_empty() {
            let n = s.inbound.len().min(buf.remaining());
            buf.put_slice(&s.inbound[..n]);
            s.inbound.drain(..n);
            if s.inbound.is_empty() {
                s.inbound = Vec::new();
            }
            return Poll::Ready(Ok(()));
        }
        if s.gone {
            return Poll::Ready(Ok(()));
        }
        s.reader = Some(cx.waker().clone());
        drop(s);
        if this.abandoned(cx) {
            return Poll::Ready(Ok(()));
        }
        Poll::Pending
    }
}

impl AsyncWrite for Io {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let shared = this.shared.clone();
        let mut s = shared.lock();
        if s.gone {
            return Poll::Ready(Err(io::ErrorKind::BrokenPipe.into()));
        }
        if s.out_bytes >= QUEUE_BYTES {
            s.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        this.partial.extend_from_slice(buf);
        this.parse(&mut s);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl Drop for Io {
    fn drop(&mut self) {
        let mut s = self.shared.lock();
        s.gone = true;
        wake(&mut s.receiver);
        let linger = s.close.is_some();
        drop(s);
        if let Some(f) = self.on_drop.take() {
            f(linger);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_frames_are_found_whole_or_not_at_all() {
        let mut out = Vec::new();
        ws::text(&[b'x'; 300], &mut out);
        assert_eq!(server_frame(&out), Some((ws::OP_TEXT, 4, 304)));
        assert_eq!(server_frame(&out[..303]), None);
        assert_eq!(server_frame(&[0x81]), None);
    }

    #[test]
    fn posted_messages_decode_as_a_clients_frames() {
        let mut framed = Vec::new();
        client_frame(b"{\"event\":\"pusher:ping\"}", &mut framed);
        let mut d = ws::Decoder::new(1 << 20);
        let (used, inbound) = d.decode(&mut framed).unwrap().unwrap();
        assert_eq!(used, framed.len());
        assert!(
            matches!(inbound, Some(ws::Inbound::Text(t)) if t == "{\"event\":\"pusher:ping\"}")
        );
    }
}
