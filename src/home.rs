//! Which runtime a socket lives on, so a fan-out wakes each runtime once.
//!
//! With one current-thread runtime per core (`server::shards`), waking a socket's
//! task from another thread costs that runtime a lock and an eventfd write: for a
//! publish to 10,000 subscribers, half of them remote, that was 5,000 syscalls in
//! the publisher's thread before it could answer the next request. Instead, a
//! runtime that serves sockets registers here ([`register_current`]); each sink
//! remembers its home, and a large fan-out sends each home one task that wakes
//! its sockets there, a chunk at a time ([`Wakes`]).

use crate::channel::Sink;
use std::cell::Cell;
use std::sync::{Arc, Mutex};
use tokio::runtime::Handle;

/// Runtimes that registered, by home number. Only ever grows (a home per shard
/// thread started; tests start many nodes in one process).
static HOMES: Mutex<Vec<Handle>> = Mutex::new(Vec::new());

thread_local! {
    static HOME: Cell<Option<u32>> = const { Cell::new(None) };
}

/// Register the calling thread's runtime as a home (anew on every call: a
/// thread may run several runtimes one after the other, as in tests). Call it on
/// the thread that runs a current-thread runtime serving sockets.
pub fn register_current() {
    let Ok(handle) = Handle::try_current() else {
        return;
    };
    let mut homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
    homes.push(handle);
    HOME.set(Some((homes.len() - 1) as u32));
}

/// The calling thread's home, if it registered one.
pub fn current() -> Option<u32> {
    HOME.get()
}

/// Sockets a wake-up task wakes before it lets other tasks (an HTTP publish
/// waiting to be read, say) run.
const WAKE_CHUNK: usize = 128;

/// Wake `sinks` (all homed at `home`) on their own runtime, in one task (the
/// calling runtime's own queue when it is their home).
fn wake_on(home: u32, sinks: Vec<Arc<Sink>>) {
    let handle = {
        let homes = HOMES.lock().unwrap_or_else(|p| p.into_inner());
        homes.get(home as usize).cloned()
    };
    match handle {
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
    pub fn wake(&mut self, sink: &Arc<Sink>) {
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
