//! A socket's outbound side. Publishers append ready-made WebSocket frames to
//! the socket's outbox under a short lock and wake its task only when the outbox
//! turns non-empty; the task then writes everything queued in one syscall. Under
//! load frames pile up between wakes, so the write size grows with the rate
//! instead of the syscall count.

use crate::protocol::code;
use crate::ws;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::Notify;

/// Bytes one socket may have queued before it counts as not reading.
const MAX_QUEUED_BYTES: usize = 8 << 20;

/// One encoded Pusher message (JSON text), shared by every socket it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(Arc<str>);

impl Frame {
    pub fn from_static(s: &'static str) -> Frame {
        Frame(Arc::from(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Frame {
        Frame(Arc::from(s))
    }
}

impl From<&str> for Frame {
    fn from(s: &str) -> Frame {
        Frame(Arc::from(s))
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Default)]
struct Outbox {
    bytes: Vec<u8>,
    frames: usize,
    payload: usize,
    close: Option<(u16, String)>,
}

/// What the connection task takes from the outbox in one go.
#[derive(Debug, Default)]
pub struct Batch {
    /// The frames, encoded back to back.
    pub bytes: Vec<u8>,
    pub frames: usize,
    /// Payload bytes (what the metrics count).
    pub payload: usize,
    pub close: Option<(u16, String)>,
}

/// A socket's outbound queue and a way to ask it to close.
#[derive(Debug)]
pub struct Sink {
    pub key: u64,
    pub socket_id: Arc<str>,
    capacity: usize,
    out: Mutex<Outbox>,
    wake: Notify,
}

impl Sink {
    /// A sink that holds at most `capacity` frames (and 8 MiB) unwritten.
    pub fn new(key: u64, socket_id: Arc<str>, capacity: usize) -> Arc<Sink> {
        Arc::new(Sink {
            key,
            socket_id,
            capacity,
            out: Mutex::default(),
            wake: Notify::new(),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Outbox> {
        self.out.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queue a frame. A full queue closes the socket with 4100 rather than wait.
    pub fn send(&self, frame: &Frame) -> bool {
        let mut out = self.lock();
        if out.close.is_some() {
            return false;
        }
        let framed = ws::framed_len(frame.len());
        if out.frames >= self.capacity || out.bytes.len() + framed > MAX_QUEUED_BYTES {
            out.close = Some((
                code::OVER_CAPACITY,
                "Too many messages queued: the client is not reading fast enough.".into(),
            ));
            drop(out);
            self.wake.notify_one();
            return false;
        }
        let first = out.frames == 0;
        out.bytes.reserve(framed);
        ws::text(frame.as_str().as_bytes(), &mut out.bytes);
        out.frames += 1;
        out.payload += frame.len();
        drop(out);
        if first {
            self.wake.notify_one();
        }
        true
    }

    /// Ask the connection task to send `pusher:error` and close with `code`. First request wins.
    pub fn close(&self, code: u16, message: &str) {
        let mut out = self.lock();
        if out.close.is_none() {
            out.close = Some((code, message.to_string()));
            drop(out);
            self.wake.notify_one();
        }
    }

    /// Resolves when frames were queued or a close was requested since the last [`Sink::take`].
    pub async fn ready(&self) {
        self.wake.notified().await
    }

    /// Everything queued so far, leaving the outbox empty (and unallocated).
    pub fn take(&self) -> Batch {
        let mut out = self.lock();
        Batch {
            bytes: std::mem::take(&mut out.bytes),
            frames: std::mem::take(&mut out.frames),
            payload: std::mem::take(&mut out.payload),
            close: out.close.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queues_frames_back_to_back_and_wakes_once() {
        let sink = Sink::new(1, "1.1".into(), 4);
        let frame = Frame::from("{\"event\":\"x\"}".to_string());
        assert!(sink.send(&frame) && sink.send(&frame));
        let batch = sink.take();
        assert_eq!((batch.frames, batch.payload), (2, 2 * frame.len()));
        assert_eq!(batch.bytes.len(), 2 * ws::framed_len(frame.len()));
        assert_eq!(batch.bytes[0], 0x81);
        assert!(sink.take().bytes.is_empty());
    }

    #[test]
    fn a_full_queue_asks_for_4100() {
        let sink = Sink::new(1, "1.1".into(), 2);
        let frame = Frame::from_static("{}");
        assert!(sink.send(&frame) && sink.send(&frame));
        assert!(!sink.send(&frame));
        let batch = sink.take();
        assert_eq!(batch.frames, 2);
        assert_eq!(batch.close.map(|c| c.0), Some(code::OVER_CAPACITY));
        assert!(!sink.send(&frame));
    }
}
