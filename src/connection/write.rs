//! Writing to the socket: replies, close frames and the outbox's batches,
//! each with a deadline, so a client that stops reading costs a bounded time.

use super::ended::WriteError;
use super::{Conn, Transport};
use crate::metrics::AppMetrics;
use crate::protocol;
use crate::socket::outbox::{Batch, Cursor};
use crate::socket::Sink;
use crate::ws;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::Poll;
use std::time::Duration;
use tokio::io::AsyncWriteExt;

/// A write that has not finished after this long drops the connection.
const WRITE_TIMEOUT: Duration = Duration::from_secs(10);
/// Once a close is asked for (say, a full queue), the write under way and the
/// close frame each get this long before the connection is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(2);

impl<S: Transport> Conn<S> {
    /// Write text frames in one go.
    pub(super) async fn send(
        &mut self,
        frames: &[String],
        m: &AppMetrics,
    ) -> Result<(), WriteError> {
        let size = frames.iter().map(|f| ws::framed_len(f.len())).sum();
        let mut out = Vec::with_capacity(size);
        for f in frames {
            m.ws_sent(f.len());
            ws::text(f.as_bytes(), &mut out);
        }
        self.write(&out).await
    }

    /// Send `pusher:error` with `code` (for Pusher codes), then a close frame with the same code.
    pub(super) async fn close(&mut self, code: u16, message: &str) -> Result<(), WriteError> {
        let mut out = Vec::new();
        if code >= 4000 {
            ws::text(protocol::error(code, message, None).as_bytes(), &mut out);
        }
        ws::close(code, message, &mut out);
        self.write_within(&out, CLOSE_GRACE).await?;
        let _ = tokio::time::timeout(Duration::from_secs(1), self.io.shutdown()).await;
        Ok(())
    }

    pub(super) async fn write_close(&mut self, code: u16, reason: &str) -> Result<(), WriteError> {
        let mut out = Vec::new();
        ws::close(code, reason, &mut out);
        self.write_within(&out, CLOSE_GRACE).await
    }

    /// Write the batch's frames from where they are, without copying them. The
    /// first attempt needs no timer; the rest gets [`WRITE_TIMEOUT`], cut to
    /// [`CLOSE_GRACE`] if the sink is asked to close meanwhile.
    pub(super) async fn write_frames(
        &mut self,
        batch: &Batch,
        sink: &Sink,
    ) -> Result<(), WriteError> {
        let io = &mut self.io;
        let mut at = Cursor::start(batch);
        while batch.remaining(at) {
            match poll_fn(|cx| Poll::Ready(batch.poll_write(io, cx, &mut at))).await {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e.into()),
                Poll::Pending => break,
            }
        }
        let flushed = poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_flush(cx))).await;
        if !batch.remaining(at) && matches!(flushed, Poll::Ready(Ok(()))) {
            return Ok(());
        }
        let rest = async move {
            while batch.remaining(at) {
                poll_fn(|cx| batch.poll_write(io, cx, &mut at)).await?;
            }
            io.flush().await
        };
        Box::pin(patiently(rest, WRITE_TIMEOUT, Some(sink))).await
    }

    pub(super) async fn write(&mut self, bytes: &[u8]) -> Result<(), WriteError> {
        self.write_within(bytes, WRITE_TIMEOUT).await
    }

    /// Write all of `bytes`. The first attempt needs no timer: usually the
    /// kernel takes everything at once. Otherwise the rest gets `limit`.
    async fn write_within(&mut self, bytes: &[u8], limit: Duration) -> Result<(), WriteError> {
        let io = &mut self.io;
        let first = poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_write(cx, bytes))).await;
        let written = match first {
            Poll::Ready(Ok(n)) => n,
            Poll::Ready(Err(e)) => return Err(e.into()),
            Poll::Pending => 0,
        };
        let flushed = poll_fn(|cx| Poll::Ready(Pin::new(&mut *io).poll_flush(cx))).await;
        if written == bytes.len() && matches!(flushed, Poll::Ready(Ok(()))) {
            return Ok(());
        }
        let rest = async move {
            io.write_all(&bytes[written..]).await?;
            io.flush().await
        };
        Box::pin(patiently(rest, limit, None)).await
    }
}

/// Finish a write that did not complete at once, within `limit`; if `sink` is
/// asked to close meanwhile (its queue overflowed, say), within [`CLOSE_GRACE`]
/// of that, so a socket that stopped reading is let go of quickly.
async fn patiently(
    write: impl Future<Output = std::io::Result<()>>,
    limit: Duration,
    sink: Option<&Sink>,
) -> Result<(), WriteError> {
    tokio::pin!(write);
    let deadline = tokio::time::sleep(limit);
    tokio::pin!(deadline);
    let mut cut = false;
    loop {
        tokio::select! {
            done = &mut write => return done.map_err(WriteError::Io),
            () = &mut deadline => return Err(WriteError::TimedOut(if cut { CLOSE_GRACE } else { limit })),
            () = ready_or_never(sink), if !cut => {
                if sink.is_some_and(Sink::closing) {
                    cut = true;
                    let sooner = tokio::time::Instant::now() + CLOSE_GRACE;
                    if sooner < deadline.deadline() {
                        deadline.as_mut().reset(sooner);
                    }
                }
            }
        }
    }
}

/// The sink's wake-up, or a future that never resolves without a sink.
async fn ready_or_never(sink: Option<&Sink>) {
    match sink {
        Some(sink) => sink.ready().await,
        None => std::future::pending().await,
    }
}
