//! Which subjects this node listens to, and the one loop that reads them all.
//!
//! A channel's subject is subscribed while the node has local subscribers to
//! it. [`Interest::listen`] returns only once the server has the subscription:
//! after the SUB, a request on the same connection (to a subject nobody answers)
//! comes back, and the server handles one connection's commands in order. A
//! second socket joining meanwhile waits for the same answer. Every subscription
//! feeds one [`run`] loop (a `SelectAll`), so there is no task per channel.

use async_nats::{Client, Subscriber};
use futures_util::stream::{AbortHandle, Abortable, SelectAll};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// How long a subscribe waits for the server's answer before going ahead.
const CONFIRM: Duration = Duration::from_secs(2);

pub(crate) type Feed = Abortable<Subscriber>;

struct Slot {
    generation: u64,
    abort: Option<AbortHandle>,
    ready: watch::Sender<bool>,
}

pub(crate) struct Interest {
    slots: Mutex<HashMap<String, Slot>>,
    generation: AtomicU64,
    feeds: mpsc::UnboundedSender<Feed>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Interest {
    /// The table and the receiving end for [`run`].
    pub(crate) fn new() -> (Interest, mpsc::UnboundedReceiver<Feed>) {
        let (feeds, rx) = mpsc::unbounded_channel();
        let interest = Interest {
            slots: Mutex::default(),
            generation: AtomicU64::new(0),
            feeds,
        };
        (interest, rx)
    }

    pub(crate) fn is_listening(&self, subject: &str) -> bool {
        lock(&self.slots).contains_key(subject)
    }

    /// Subscribe to `subject` unless already subscribed; return once the server
    /// has the subscription (or [`CONFIRM`] passed: the server is slow or gone,
    /// and the client subscribes again when it reconnects).
    pub(crate) async fn listen(&self, client: &Client, subject: &str, ping: &str) {
        let generation = match self.claim(subject) {
            Ok(generation) => generation,
            Err(ready) => return wait(ready).await,
        };
        match client.subscribe(subject.to_string()).await {
            Ok(sub) => self.attach(subject, generation, sub),
            Err(e) => tracing::warn!(error = %e, subject, "NATS subscribe failed"),
        }
        confirm(client, ping).await;
        if let Some(slot) = lock(&self.slots)
            .get(subject)
            .filter(|s| s.generation == generation)
        {
            slot.ready.send_replace(true);
        }
    }

    /// A new slot for `subject` (its generation), or the existing one's readiness.
    fn claim(&self, subject: &str) -> Result<u64, watch::Receiver<bool>> {
        let mut slots = lock(&self.slots);
        if let Some(slot) = slots.get(subject) {
            return Err(slot.ready.subscribe());
        }
        let generation = self.generation.fetch_add(1, Ordering::Relaxed);
        let slot = Slot {
            generation,
            abort: None,
            ready: watch::channel(false).0,
        };
        slots.insert(subject.to_string(), slot);
        Ok(generation)
    }

    /// Hand a new subscription to the read loop, unless it was released meanwhile.
    fn attach(&self, subject: &str, generation: u64, sub: Subscriber) {
        let (feed, abort) = futures_util::stream::abortable(sub);
        match lock(&self.slots)
            .get_mut(subject)
            .filter(|s| s.generation == generation)
        {
            Some(slot) => slot.abort = Some(abort),
            None => abort.abort(),
        }
        let _ = self.feeds.send(feed);
    }

    /// Unsubscribe from `subject` if `still_unused` holds, checked under the
    /// table's lock so that a concurrent [`Interest::listen`] is never undone.
    pub(crate) fn release(&self, subject: &str, still_unused: impl FnOnce() -> bool) {
        let mut slots = lock(&self.slots);
        if !slots.contains_key(subject) || !still_unused() {
            return;
        }
        if let Some(slot) = slots.remove(subject) {
            if let Some(abort) = slot.abort {
                abort.abort();
            }
            slot.ready.send_replace(true);
        }
    }
}

async fn wait(mut ready: watch::Receiver<bool>) {
    let _ = ready.wait_for(|r| *r).await;
}

/// A request to a subject nobody answers: its answer ("no responders") proves
/// the server has read every command sent before it. Skipped while
/// disconnected (nothing could be delivered anyway; the client subscribes again
/// when it reconnects), so a subscribe never waits out an outage.
async fn confirm(client: &Client, ping: &str) {
    if client.connection_state() != async_nats::connection::State::Connected {
        return;
    }
    let request = client.request(ping.to_string(), bytes::Bytes::new());
    match tokio::time::timeout(CONFIRM, request).await {
        Ok(Ok(_)) => {}
        Ok(Err(e)) if e.kind() == async_nats::RequestErrorKind::NoResponders => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "NATS subscription not confirmed"),
        Err(_) => tracing::debug!("NATS subscription not confirmed in time"),
    }
}

/// Read every subscription; hand each message to `deliver`, in each subject's order.
pub(crate) async fn run(mut feeds: mpsc::UnboundedReceiver<Feed>, deliver: impl Fn(&[u8])) {
    let mut all: SelectAll<Feed> = SelectAll::new();
    loop {
        tokio::select! {
            feed = feeds.recv() => match feed {
                Some(feed) => all.push(feed),
                None => return,
            },
            Some(msg) = all.next(), if !all.is_empty() => deliver(&msg.payload),
        }
    }
}
