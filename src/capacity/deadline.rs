//! A deadline for each HTTP request, head and body, counted from its first
//! byte: a client that trickles its request (a byte every few seconds, or a
//! `Content-Length` it never sends) gets 408 and is closed instead of holding
//! a descriptor forever. hyper's header timer stays what it was, the limit for
//! a quiet keep-alive connection (`http_idle_timeout`).
//!
//! The stream wrapper ([`Deadline`]) starts the clock when a request's first
//! bytes arrive and enforces it until the head is complete; the router then
//! marks the request as read ([`Clock::head_read`]) and bounds the body with
//! the same deadline ([`Clock::deadline`]), and marks it done when it answers.

use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

const TIMED_OUT: &[u8] =
    b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Between requests (or before the first).
    Idle,
    /// The head is arriving; it must be complete by then.
    Head(Instant),
    /// The head is read; the body must be read by then.
    Body(Instant),
    /// Upgraded to a WebSocket: no request deadlines any more.
    Off,
}

/// Where the connection's current request stands, shared by the stream and the router.
#[derive(Debug)]
pub(crate) struct Clock {
    limit: Duration,
    phase: Mutex<Phase>,
}

impl Clock {
    pub(crate) fn new(limit: Duration) -> Arc<Clock> {
        Arc::new(Clock {
            limit,
            phase: Mutex::new(Phase::Idle),
        })
    }

    fn phase(&self) -> std::sync::MutexGuard<'_, Phase> {
        self.phase.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes arrived: a request starts now unless one is under way. Returns its deadline.
    fn bytes_arrived(&self) -> Option<Instant> {
        let mut phase = self.phase();
        match *phase {
            Phase::Idle => {
                let due = Instant::now() + self.limit;
                *phase = Phase::Head(due);
                Some(due)
            }
            Phase::Head(due) => Some(due),
            Phase::Body(_) | Phase::Off => None,
        }
    }

    /// The head is complete (the router has the request); the body keeps its deadline.
    pub(crate) fn head_read(&self) {
        let mut phase = self.phase();
        let due = match *phase {
            Phase::Head(due) => due,
            _ => Instant::now() + self.limit,
        };
        *phase = Phase::Body(due);
    }

    /// By when the current request must have been read entirely.
    pub(crate) fn deadline(&self) -> Instant {
        match *self.phase() {
            Phase::Head(due) | Phase::Body(due) => due,
            Phase::Idle | Phase::Off => Instant::now() + self.limit,
        }
    }

    /// The request was answered: the next one starts its own clock.
    pub(crate) fn answered(&self) {
        let mut phase = self.phase();
        if *phase != Phase::Off {
            *phase = Phase::Idle;
        }
    }

    /// The connection is a WebSocket now.
    pub(crate) fn off(&self) {
        *self.phase() = Phase::Off;
    }

    /// How long a request may take, head and body.
    pub(crate) fn limit(&self) -> Duration {
        self.limit
    }
}

/// A stream that fails a request head not complete by its deadline (after a
/// best-effort 408).
pub(crate) struct Deadline<S> {
    inner: S,
    clock: Arc<Clock>,
    /// Armed while a head is arriving; boxed, and only created when needed.
    timer: Option<Pin<Box<Sleep>>>,
}

impl<S> Deadline<S> {
    pub(crate) fn new(inner: S, clock: Arc<Clock>) -> Deadline<S> {
        Deadline {
            inner,
            clock,
            timer: None,
        }
    }

    pub(crate) fn into_inner(self) -> S {
        self.inner
    }

    /// Whether the head's deadline has passed (polling the timer registers for it).
    fn expired(&mut self, cx: &mut Context<'_>, due: Instant) -> bool {
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(due)));
        if timer.deadline() != due {
            timer.as_mut().reset(due);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Deadline<S> {
    fn time_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let _ = Pin::new(&mut self.inner).poll_write(cx, TIMED_OUT);
        let _ = Pin::new(&mut self.inner).poll_flush(cx);
        if crate::metrics::refused("request_timeout") {
            tracing::info!("request not received in time: 408 (more this second are only counted)");
        }
        Poll::Ready(Err(io::ErrorKind::TimedOut.into()))
    }
}

use std::future::Future;

impl<S: AsyncRead + AsyncWrite + Unpin> AsyncRead for Deadline<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.inner).poll_read(cx, buf);
        let arrived = matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before;
        let due = match arrived {
            true => this.clock.bytes_arrived(),
            false => match *this.clock.phase() {
                Phase::Head(due) => Some(due),
                _ => None,
            },
        };
        match due {
            Some(due) if this.expired(cx, due) => this.time_out(cx),
            Some(_) => read,
            None => {
                this.timer = None;
                read
            }
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deadline<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
