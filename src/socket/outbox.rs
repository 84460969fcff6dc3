//! A socket's outbound side.
//!
//! - On a plain TCP socket whose outbox is empty and whose task is not writing,
//!   a publisher writes the frame itself (`try_write`, header and payload as two
//!   slices): no task wake, no copy, one syscall per delivery.
//! - Otherwise (the kernel buffer is full, the task holds the pen, TLS) the frame
//!   is appended to the outbox and the task is woken when the outbox turns
//!   non-empty; it writes everything queued in one syscall. Under load frames
//!   pile up, so the write size grows with the rate instead of the syscall count.
//!
//! The outbox lock orders every write: a direct write happens under it, and the
//! task takes "the pen" (`busy`) under it before writing anything itself.

use super::acks::Acks;
use super::{Frame, Liveness, SocketId};
use crate::metrics::AppMetrics;
use crate::protocol::code;
use crate::ws;
use std::io::{ErrorKind, IoSlice};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::net::TcpStream;
use tokio::sync::Notify;

/// Bytes one socket may have queued before it counts as not reading.
const MAX_QUEUED_BYTES: usize = 8 << 20;

/// Frames waiting for the socket. They are shared with every other socket
/// they go to: a socket that does not read costs a pointer per frame, not a copy.
#[derive(Debug, Default)]
struct Outbox {
    frames: Vec<Frame>,
    /// Bytes of the first frame's encoding a publisher already wrote.
    skip: u32,
    /// Payload bytes queued.
    payload: u32,
    /// Boxed: rarely set, and every socket carries the field.
    close: Option<Box<(u16, String)>>,
    /// The connection task is writing: publishers must queue.
    busy: bool,
}

/// What became of a frame handed to a sink.
enum Put {
    /// Written to the socket by the caller.
    Written,
    /// Queued; the task is already awake or writing.
    Queued,
    /// Queued into an empty outbox: the task must be woken.
    Wake,
    /// The socket is closing (or just overflowed): not delivered.
    Refused,
}

/// What became of a frame [`Sink::queue`]d.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Queued {
    Yes,
    /// Queued, and the socket's task must be woken to write it.
    Wake,
    /// Refused: the socket is closing.
    No,
}

/// What the connection task takes from the outbox in one go.
#[derive(Debug, Default)]
pub struct Batch {
    /// The frames, in order; shared with the other sockets they went to.
    pub frames: Vec<Frame>,
    /// Bytes of the first frame's encoding already on the wire.
    pub skip: usize,
    /// Payload bytes (what the metrics count).
    pub payload: usize,
    pub close: Option<(u16, String)>,
}

/// Frames encoded per vectored write: a header and a payload slice each.
const FRAMES_PER_WRITE: usize = 64;

impl Batch {
    /// Whether anything is left to write from `at`.
    pub(crate) fn remaining(&self, at: Cursor) -> bool {
        at.frame < self.frames.len()
    }

    /// Write what fits of the batch from `at` with one vectored write; moves `at`.
    pub(crate) fn poll_write<W: tokio::io::AsyncWrite + Unpin>(
        &self,
        io: &mut W,
        cx: &mut std::task::Context<'_>,
        at: &mut Cursor,
    ) -> std::task::Poll<std::io::Result<()>> {
        let end = self.frames.len().min(at.frame + FRAMES_PER_WRITE);
        let frames = &self.frames[at.frame..end];
        let mut heads = [([0u8; 10], 0usize); FRAMES_PER_WRITE];
        for (h, f) in heads.iter_mut().zip(frames) {
            *h = ws::header_bytes(ws::OP_TEXT, f.len());
        }
        let mut slices = Vec::with_capacity(2 * frames.len());
        for ((head, n), f) in heads.iter().zip(frames) {
            slices.push(IoSlice::new(&head[..*n]));
            slices.push(IoSlice::new(f.as_str().as_bytes()));
        }
        let mut view = &mut slices[..];
        IoSlice::advance_slices(&mut view, at.offset);
        let written = std::task::ready!(std::pin::Pin::new(io).poll_write_vectored(cx, view))?;
        if written == 0 {
            return std::task::Poll::Ready(Err(ErrorKind::WriteZero.into()));
        }
        at.advance(&self.frames, written);
        std::task::Poll::Ready(Ok(()))
    }
}

/// How far a writer got in a [`Batch`]: a frame and bytes of its encoding.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Cursor {
    pub frame: usize,
    pub offset: usize,
}

impl Cursor {
    /// The start of a batch whose first `skip` bytes are already written.
    pub(crate) fn start(batch: &Batch) -> Cursor {
        Cursor {
            frame: 0,
            offset: batch.skip,
        }
    }

    fn advance(&mut self, frames: &[Frame], mut written: usize) {
        while written > 0 {
            let left = ws::framed_len(frames[self.frame].len()) - self.offset;
            if written < left {
                self.offset += written;
                return;
            }
            written -= left;
            self.frame += 1;
            self.offset = 0;
        }
    }
}

/// A socket's outbound queue and a way to ask it to close.
#[derive(Debug)]
pub struct Sink {
    /// The socket id's node-unique part.
    pub key: u64,
    prefix: u32,
    capacity: u32,
    /// The runtime the socket's task lives on (`crate::home`), if registered.
    home: Option<u32>,
    /// Stamped by the socket's task, judged by the node's sweeper.
    pub live: Liveness,
    direct: Option<Direct>,
    out: Mutex<Outbox>,
    wake: Notify,
    /// Kept events queued and confirmed, once the socket joins a recovery channel.
    pub(super) acks: Mutex<Option<Box<Acks>>>,
}

/// What a publisher needs to write to the socket itself.
#[derive(Debug)]
struct Direct {
    tcp: Arc<TcpStream>,
    metrics: Arc<AppMetrics>,
}

impl Sink {
    /// A sink that holds at most `capacity` frames (and 8 MiB) unwritten. It
    /// starts with the pen held by its task (see [`Sink::release`]).
    pub fn new(id: SocketId, capacity: usize, live: Liveness) -> Arc<Sink> {
        Arc::new(Sink::build(id, capacity, live, None))
    }

    /// A sink whose publishers may write to `tcp` themselves, counting in `metrics`.
    pub(crate) fn direct(
        id: SocketId,
        capacity: usize,
        live: Liveness,
        tcp: Arc<TcpStream>,
        metrics: Arc<AppMetrics>,
    ) -> Arc<Sink> {
        let direct = Some(Direct { tcp, metrics });
        Arc::new(Sink::build(id, capacity, live, direct))
    }

    fn build(id: SocketId, capacity: usize, live: Liveness, direct: Option<Direct>) -> Sink {
        let out = Outbox {
            busy: true,
            ..Outbox::default()
        };
        Sink {
            key: id.key,
            prefix: id.prefix,
            capacity: capacity.min(u32::MAX as usize) as u32,
            home: super::home::current(),
            live,
            direct,
            out: Mutex::new(out),
            wake: Notify::new(),
            acks: Mutex::default(),
        }
    }

    pub(crate) fn socket_id(&self) -> SocketId {
        SocketId::new(self.prefix, self.key)
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Deliver a frame: write it now if the socket is free, else queue it. A
    /// full queue closes the socket with 4100 rather than wait.
    pub(crate) fn send(&self, frame: &Frame) -> bool {
        match self.put(frame, true) {
            Put::Wake => self.wake(),
            Put::Written | Put::Queued => {}
            Put::Refused => return false,
        }
        true
    }

    /// Queue a frame for the socket's task to write, never writing it here: for
    /// large fan-outs, where the tasks spread the syscalls over every thread and
    /// batch whatever piles up while they catch up. Says whether it was queued
    /// and whether the task must be woken for it ([`super::Wakes`] groups those).
    pub(crate) fn queue(&self, frame: &Frame) -> Queued {
        match self.put(frame, false) {
            Put::Wake => Queued::Wake,
            Put::Written | Put::Queued => Queued::Yes,
            Put::Refused => Queued::No,
        }
    }

    /// The runtime the socket's task lives on, if known.
    pub(crate) fn home(&self) -> Option<u32> {
        self.home
    }

    /// Wake the socket's task to write what is queued.
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    /// Write or queue `frame`; says whether the task must be woken.
    fn put(&self, frame: &Frame, may_write: bool) -> Put {
        let mut out = self.lock();
        if out.close.is_some() {
            return Put::Refused;
        }
        let payload = frame.as_str().as_bytes();
        let mut written = 0;
        let free = may_write && out.frames.is_empty() && !out.busy;
        if let (Some(direct), true) = (&self.direct, free) {
            let (head, n) = ws::header_bytes(ws::OP_TEXT, payload.len());
            let slices = [IoSlice::new(&head[..n]), IoSlice::new(payload)];
            match direct.tcp.try_write_vectored(&slices) {
                Ok(w) if w == n + payload.len() => {
                    drop(out);
                    direct.metrics.ws_sent(payload.len());
                    return Put::Written;
                }
                Ok(w) => written = w,
                Err(e) if e.kind() == ErrorKind::WouldBlock => {}
                // Broken: queue it; the task finds out when it writes or reads.
                Err(_) => {}
            }
        }
        let queued = out.payload as usize + payload.len();
        if out.frames.len() >= self.capacity as usize || queued > MAX_QUEUED_BYTES {
            // Nothing queued will be written: let go of the frames at once.
            out.frames = Vec::new();
            out.payload = 0;
            out.close = Some(Box::new((
                code::OVER_CAPACITY,
                "Too many messages queued: the client is not reading fast enough.".into(),
            )));
            drop(out);
            self.wake();
            return Put::Refused;
        }
        let first = out.frames.is_empty();
        if first {
            out.skip = written as u32;
        }
        out.frames.push(frame.clone());
        out.payload = queued as u32;
        let busy = out.busy;
        drop(out);
        if first && !busy {
            Put::Wake
        } else {
            Put::Queued
        }
    }

    /// Ask the connection task to send `pusher:error` and close with `code`. First request wins.
    pub(crate) fn close(&self, code: u16, message: &str) {
        let mut out = self.lock();
        if out.close.is_none() {
            out.close = Some(Box::new((code, message.to_string())));
            drop(out);
            self.wake.notify_one();
        }
    }

    /// A close was asked for (a full queue, the sweeper, the drain).
    pub(crate) fn closing(&self) -> bool {
        self.close_code().is_some()
    }

    /// The code a close was asked for with, if one was.
    pub(crate) fn close_code(&self) -> Option<u16> {
        self.lock().close.as_ref().map(|c| c.0)
    }

    /// Resolves when frames were queued or a close was requested since the last [`Sink::take`].
    pub(crate) async fn ready(&self) {
        self.wake.notified().await
    }

    /// Take the pen (publishers queue from now on) and everything queued so far.
    pub fn take(&self) -> Batch {
        let mut out = self.lock();
        out.busy = true;
        Batch {
            frames: std::mem::take(&mut out.frames),
            skip: std::mem::take(&mut out.skip) as usize,
            payload: std::mem::take(&mut out.payload) as usize,
            close: out.close.as_deref().cloned(),
        }
    }

    /// The task is done writing: hand back the pen, or take what was queued
    /// meanwhile (keeping the pen) if there is any.
    pub(crate) fn release(&self) -> Option<Batch> {
        let mut out = self.lock();
        if out.frames.is_empty() && out.close.is_none() {
            out.busy = false;
            return None;
        }
        drop(out);
        Some(self.take())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_frames_back_to_back_and_wakes_once() {
        let sink = Sink::new(SocketId::new(1, 1), 4, Liveness::new(None));
        let frame = Frame::from("{\"event\":\"x\"}".to_string());
        assert!(sink.send(&frame) && sink.send(&frame));
        let batch = sink.take();
        assert_eq!((batch.frames.len(), batch.payload), (2, 2 * frame.len()));
        assert_eq!(batch.frames, vec![frame.clone(), frame.clone()]);
        assert!(sink.take().frames.is_empty());
        assert!(sink.release().is_none());
    }

    #[tokio::test]
    async fn publishers_write_directly_unless_the_task_holds_the_pen() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let tcp = Arc::new(listener.accept().await.unwrap().0);
        let m = Arc::new(AppMetrics::default());
        let sink = Sink::direct(SocketId::new(1, 1), 8, Liveness::new(None), tcp, m);
        let frame = Frame::from_static("{}");
        assert!(sink.send(&frame));
        assert_eq!(
            sink.take().frames.len(),
            1,
            "queued while the task holds the pen"
        );
        assert!(sink.release().is_none());
        assert!(sink.send(&frame));
        assert_eq!(sink.take().frames.len(), 0, "written by the publisher");
        let mut got = [0u8; 4];
        client.read_exact(&mut got).await.unwrap();
        assert_eq!(got, [0x81, 2, b'{', b'}']);
    }

    #[test]
    fn a_full_queue_asks_for_4100() {
        let sink = Sink::new(SocketId::new(1, 1), 2, Liveness::new(None));
        let frame = Frame::from_static("{}");
        assert!(sink.send(&frame) && sink.send(&frame));
        assert!(!sink.send(&frame));
        let batch = sink.take();
        assert!(
            batch.frames.is_empty(),
            "what will never be written is let go"
        );
        assert_eq!(batch.close.map(|c| c.0), Some(code::OVER_CAPACITY));
        assert!(!sink.send(&frame));
        assert!(sink.closing());
    }

    #[test]
    fn queued_frames_are_shared_not_copied() {
        let sinks: Vec<_> = (0..3)
            .map(|k| Sink::new(SocketId::new(1, k), 8, Liveness::new(None)))
            .collect();
        let frame = Frame::from("x".repeat(4096));
        sinks.iter().for_each(|s| assert!(s.send(&frame)));
        for s in &sinks {
            let batch = s.take();
            assert!(std::ptr::eq(batch.frames[0].as_str(), frame.as_str()));
        }
    }

    #[test]
    fn a_batch_is_written_whole_from_any_offset() {
        let frames: Vec<Frame> = [&"b".repeat(200), "a", "", &"c".repeat(70_000)]
            .into_iter()
            .map(Frame::from)
            .collect();
        let mut whole = Vec::new();
        frames
            .iter()
            .for_each(|f| ws::text(f.as_str().as_bytes(), &mut whole));
        for skip in [0, 1, 2, 3, 150, 203] {
            let batch = Batch {
                frames: frames.clone(),
                skip,
                ..Batch::default()
            };
            let mut out = Vec::new();
            let mut at = Cursor::start(&batch);
            let waker = std::task::Waker::noop();
            let mut cx = std::task::Context::from_waker(waker);
            while batch.remaining(at) {
                let poll = batch.poll_write(&mut Trickle(&mut out), &mut cx, &mut at);
                assert!(matches!(poll, std::task::Poll::Ready(Ok(()))));
            }
            assert_eq!(out, whole[skip..], "skip {skip}");
        }
    }

    /// A writer that takes at most 7 bytes per call.
    struct Trickle<'a>(&'a mut Vec<u8>);

    impl tokio::io::AsyncWrite for Trickle<'_> {
        fn poll_write(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
            buf: &[u8],
        ) -> std::task::Poll<std::io::Result<usize>> {
            let n = buf.len().min(7);
            self.get_mut().0.extend_from_slice(&buf[..n]);
            std::task::Poll::Ready(Ok(n))
        }

        fn poll_flush(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }

        fn poll_shutdown(
            self: std::pin::Pin<&mut Self>,
            _: &mut std::task::Context<'_>,
        ) -> std::task::Poll<std::io::Result<()>> {
            std::task::Poll::Ready(Ok(()))
        }
    }
}
