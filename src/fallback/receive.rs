//! The answer to a receiving request (`xhr_streaming`, `xhr`): SockJS-style
//! lines, each ending in `\n` as pusher-js splits them: `o` once when the
//! session opens, `a[...]` for a batch of messages, `h` as a heartbeat while
//! nothing else is said, `c[code,"reason"]` when the session closes. A polling
//! answer ends after its first line; a streaming one stays open until the
//! session closes or a newer receiving request takes its place.

use super::io::Shared;
use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Quiet time before a heartbeat line: below the 60 s read timeout of common
/// proxies (nginx, ELB), SockJS's 25 s.
pub(crate) const HEARTBEAT: Duration = Duration::from_secs(25);

/// A fallback answer: a fixed body, or a session's receiving request.
pub enum Answer {
    Fixed(Option<Bytes>),
    Receive(Receiver),
}

impl Answer {
    pub(crate) fn fixed(body: &'static str) -> Answer {
        Answer::Fixed(Some(Bytes::from_static(body.as_bytes())))
    }
}

/// A receiving request attached to a session.
pub(crate) struct Receiver {
    shared: Arc<Shared>,
    id: u64,
    /// Send `o` first (the request that opened the session).
    open: bool,
    /// End after the first line (`xhr` polling).
    polling: bool,
    done: bool,
    heartbeat: Pin<Box<Sleep>>,
}

impl Receiver {
    /// Attach a receiving request to `shared`, detaching the one before.
    pub(crate) fn attach(shared: Arc<Shared>, open: bool, polling: bool) -> Receiver {
        let id = shared.attach();
        Receiver {
            shared,
            id,
            open,
            polling,
            done: false,
            heartbeat: Box::pin(tokio::time::sleep(HEARTBEAT)),
        }
    }

    /// The next line to send, if there is one now.
    fn next_line(&mut self, cx: &mut Context<'_>) -> Option<Option<String>> {
        if std::mem::take(&mut self.open) {
            return Some(Some("o\n".into()));
        }
        let mut s = self.shared.lock();
        if s.attached != Some(self.id) {
            return Some(None);
        }
        if !s.outbound.is_empty() {
            let batch = Shared::taken(&mut s);
            return Some(Some(format!("a[{}]\n", batch.join(","))));
        }
        if let Some((code, reason)) = &s.close {
            let reason = serde_json::to_string(reason).unwrap_or_default();
            return Some(Some(format!("c[{code},{reason}]\n")));
        }
        if s.gone {
            return Some(Some("c[1006,\"Session ended\"]\n".into()));
        }
        s.receiver = Some(cx.waker().clone());
        drop(s);
        if self.heartbeat.as_mut().poll(cx).is_ready() {
            let next = tokio::time::Instant::now() + HEARTBEAT;
            self.heartbeat.as_mut().reset(next);
            return Some(Some("h\n".into()));
        }
        None
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.shared.detach(self.id);
    }
}

impl Body for Answer {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let r = match self.get_mut() {
            Answer::Fixed(body) => return Poll::Ready(body.take().map(|b| Ok(Frame::data(b)))),
            Answer::Receive(r) => r,
        };
        if r.done {
            return Poll::Ready(None);
        }
        match r.next_line(cx) {
            None => Poll::Pending,
            Some(None) => {
                r.done = true;
                Poll::Ready(None)
            }
            Some(Some(line)) => {
                let closing = line.starts_with('c');
                r.done = r.polling || closing;
                Poll::Ready(Some(Ok(Frame::data(Bytes::from(line)))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Answer::Fixed(body) => body.is_none(),
            Answer::Receive(r) => r.done,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Answer::Fixed(Some(b)) => SizeHint::with_exact(b.len() as u64),
            Answer::Fixed(None) => SizeHint::with_exact(0),
            Answer::Receive(_) => SizeHint::default(),
        }
    }
}
