//! Wake-ups grouped by home runtime, so a fan-out wakes each runtime once.
//!
//! With one current-thread runtime per core (`server::shards`), waking a socket's
//! task from another thread costs that runtime a lock and an eventfd write: for a
//! publish to 10,000 subscribers, half of them remote, that was 5,000 syscalls in
//! the publisher's thread before it could answer the next request. Instead, a
//! runtime that serves sockets registers as a home ([`super::home`]); each sink
//! remembers its home, and a large fan-out sends each home one task that wakes
//! its sockets there, a chunk at a time ([`Wakes`]).

use super::outbox::Queued;
use super::{home, Frame, Sink};
use std::sync::Arc;

/// Sockets a wake-up task wakes before it lets other tasks (an HTTP publish
/// waiting to be read, say) run.
const WAKE_CHUNK: usize = 128;

/// Wake `sinks` (all homed at `home`) on their own runtime, in one task (the
/// calling runtime's own queue when it is their home).
fn wake_on(home: u32, sinks: Vec<Arc<Sink>>) {
    match home::handle(home) {
        Some(h) => {
            h.spawn(wake_all(sinks));
        }
        None => sinks.iter().for_each(|s| s.wake()),
    }
}

/// Wake the sockets' tasks a chunk at a time, yielding in between: on a
/// single-threaded runtime, waking 5,000 at once would queue the next request
/// of the publisher behind all of their writes, so frames would never pile up
/// and leave several per write.
async fn wake_all(sinks: Vec<Arc<Sink>>) {
    for chunk in sinks.chunks(WAKE_CHUNK) {
        chunk.iter().for_each(|s| s.wake());
        tokio::task::yield_now().await;
    }
}

/// Wake-ups a fan-out collects, grouped by home and started when the batch
/// is dropped. Sockets of runtimes that did not register are woken at once.
#[derive(Default)]
pub struct Wakes {
    homes: Vec<(u32, Vec<Arc<Sink>>)>,
}

impl Wakes {
    /// Queue `frame` for `sink` (see [`Sink::queue`]), its wake-up collected
    /// here; says whether it was queued.
    pub(crate) fn queue(&mut self, sink: &Arc<Sink>, frame: &Frame) -> bool {
        match sink.queue(frame) {
            Queued::Yes => true,
            Queued::Wake => {
                self.wake(sink);
                true
            }
            Queued::No => false,
        }
    }

    pub(crate) fn wake(&mut self, sink: &Arc<Sink>) {
        let Some(home) = sink.home() else {
            return sink.wake();
        };
        match self.homes.iter_mut().find(|r| r.0 == home) {
            Some((_, list)) => list.push(sink.clone()),
            None => self.homes.push((home, vec![sink.clone()])),
        }
    }
}

impl Drop for Wakes {
    fn drop(&mut self) {
        for (home, sinks) in self.homes.drain(..) {
            wake_on(home, sinks);
        }
    }
}
