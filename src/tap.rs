//! The debug console's tap: what passes through one app on this node, offered
//! to whoever watches (the console's streams, and the cluster relay).
//!
//! A leaf like [`metrics`](crate::metrics): anyone may call it, it calls no one.
//! Every app's state holds one [`Tap`]. An event site calls [`Tap::emit`] with a
//! closure that builds the [`Event`]; while nobody watches, that is one relaxed
//! atomic load and the closure never runs, so the unwatched cost is nil. When
//! someone watches, each watcher has its own bounded queue: a full queue drops
//! the event and counts it for that watcher (the console reports the count in
//! its stream and in metrics); the event site never waits.

use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::mpsc;

/// Something that happened in an app, as the console shows it. Serialized with
/// its `kind` (`"publish"`, `"refusal"`, ...) next to its fields.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
// `ClientEvent` is the wire name (`client_event`, `client-event`), hence the suffix.
#[allow(clippy::enum_variant_names)]
pub(crate) enum Event {
    Connect {
        socket: String,
        origin: Option<String>,
        /// `ws`, `xhr_streaming` or `xhr_polling` (absent from older nodes).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        transport: Option<String>,
    },
    Disconnect {
        socket: String,
        code: Option<u16>,
        reason: String,
    },
    Subscribe {
        socket: String,
        channel: String,
    },
    Unsubscribe {
        socket: String,
        channel: String,
    },
    /// A presence user's first socket in the channel (cluster-wide).
    MemberAdded {
        socket: String,
        channel: String,
        user: String,
    },
    /// A presence user's last socket left the channel (cluster-wide).
    MemberRemoved {
        socket: String,
        channel: String,
        user: String,
    },
    /// An HTTP API event accepted for one channel.
    Publish {
        channel: String,
        event: String,
        size: usize,
        except: Option<String>,
    },
    ClientEvent {
        socket: String,
        channel: String,
        event: String,
        size: usize,
    },
    /// One webhook attempt: the HTTP status, or why there was none.
    Webhook {
        url: String,
        events: String,
        status: Option<u16>,
        error: Option<String>,
    },
    Refusal(Refusal),
    /// A socket joined a recovery channel again: events replayed, or why not.
    Recovery {
        socket: String,
        channel: String,
        replayed: usize,
        failed: Option<String>,
    },
}

/// Something refused, with the reason the client was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    pub stage: Stage,
    pub socket: Option<String>,
    pub channel: Option<String>,
    pub event: Option<String>,
    pub reason: String,
    /// The Pusher code or HTTP status sent with the refusal.
    pub code: Option<u16>,
    /// A bad signature: what the server expected to be signed and what arrived.
    pub signed: Option<Signed>,
}

/// The string a signature had to cover (`socket_id:channel[:channel_data]`) and
/// the `auth` the client sent. Never the secret, never the expected HMAC.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Signed {
    pub expected: String,
    pub received: String,
}

/// Where the refusal happened.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Stage {
    Connection,
    Subscription,
    ClientEvent,
    /// `pusher:signin`.
    Signin,
    /// The HTTP API.
    Api,
}

/// An event with when it happened and (for another node's) where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Record {
    pub time_ms: u64,
    /// The node that saw it; `None` for this node's own events.
    pub node: Option<String>,
    #[serde(flatten)]
    pub event: Event,
}

impl Record {
    pub(crate) fn now(event: Event) -> Record {
        Record {
            time_ms: now_ms(),
            node: None,
            event,
        }
    }

    /// The channel, event name and socket it concerns, for filters.
    pub(crate) fn fields(&self) -> (Option<&str>, Option<&str>, Option<&str>) {
        match &self.event {
            Event::Connect { socket, .. } | Event::Disconnect { socket, .. } => {
                (None, None, Some(socket))
            }
            Event::Subscribe { socket, channel }
            | Event::Unsubscribe { socket, channel }
            | Event::MemberAdded {
                socket, channel, ..
            }
            | Event::MemberRemoved {
                socket, channel, ..
            }
            | Event::Recovery {
                socket, channel, ..
            } => (Some(channel), None, Some(socket)),
            Event::Publish { channel, event, .. } => (Some(channel), Some(event), None),
            Event::ClientEvent {
                socket,
                channel,
                event,
                ..
            } => (Some(channel), Some(event), Some(socket)),
            Event::Webhook { .. } => (None, None, None),
            Event::Refusal(r) => (
                r.channel.as_deref(),
                r.event.as_deref(),
                r.socket.as_deref(),
            ),
        }
    }
}

/// Milliseconds since the Unix epoch.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Which records a watcher wants: each set field must match exactly
/// (channel and socket) or be contained (event name).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Filter {
    pub channel: Option<String>,
    pub event: Option<String>,
    pub socket: Option<String>,
}

impl Filter {
    pub(crate) fn accepts(&self, record: &Record) -> bool {
        let (channel, event, socket) = record.fields();
        let exact = |want: &Option<String>, got: Option<&str>| {
            want.as_deref().is_none_or(|w| got == Some(w))
        };
        let within = |want: &Option<String>, got: Option<&str>| {
            want.as_deref()
                .is_none_or(|w| got.is_some_and(|g| g.contains(w)))
        };
        exact(&self.channel, channel) && within(&self.event, event) && exact(&self.socket, socket)
    }
}

/// One watcher's end of the tap.
pub(crate) struct Watch {
    pub rx: mpsc::Receiver<Arc<Record>>,
    /// Records dropped because this watcher's queue was full.
    pub dropped: Arc<AtomicU64>,
    tap: Arc<Tap>,
    id: u64,
}

impl Drop for Watch {
    fn drop(&mut self) {
        self.tap.unwatch(self.id);
    }
}

struct Watcher {
    id: u64,
    filter: Filter,
    tx: mpsc::Sender<Arc<Record>>,
    dropped: Arc<AtomicU64>,
}

#[derive(Default)]
struct Watchers {
    next_id: u64,
    local: Vec<Watcher>,
    /// The cluster relay, while another node watches this app.
    relay: Option<Outlet>,
}

/// Where this node's records go when another node watches the app: the cluster
/// relay's queue, with the app's id.
#[derive(Clone)]
pub(crate) struct Outlet {
    pub app: Arc<str>,
    pub tx: mpsc::Sender<(Arc<str>, Arc<Record>)>,
}

/// One app's tap on this node.
#[derive(Default)]
pub struct Tap {
    /// Local watchers plus one while the relay is attached: the only thing an
    /// event site reads while nobody watches.
    interest: AtomicUsize,
    watchers: Mutex<Watchers>,
    /// Records the relay's queue had no room for.
    relay_dropped: AtomicU64,
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tap")
            .field("interest", &self.interest.load(Ordering::Relaxed))
            .finish()
    }
}

impl Tap {
    /// True while a console (here or, through the relay, on another node) watches.
    #[inline]
    pub(crate) fn watched(&self) -> bool {
        self.interest.load(Ordering::Relaxed) != 0
    }

    /// Offer an event to the watchers; `make` runs only if someone watches.
    #[inline]
    pub(crate) fn emit(&self, make: impl FnOnce() -> Event) {
        if self.watched() {
            self.offer(Arc::new(Record::now(make())));
        }
    }

    /// Hand a record to every local watcher whose filter accepts it, and to the
    /// relay when this node's own record is watched elsewhere. Never waits.
    #[cold]
    pub(crate) fn offer(&self, record: Arc<Record>) {
        let w = self.lock();
        for watcher in w.local.iter().filter(|w| w.filter.accepts(&record)) {
            if watcher.tx.try_send(record.clone()).is_err() {
                watcher.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
        let relay = w.relay.as_ref().filter(|_| record.node.is_none());
        if relay.is_some_and(|r| r.tx.try_send((r.app.clone(), record.clone())).is_err()) {
            self.relay_dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Start watching with a queue of `queue` records.
    pub(crate) fn watch(self: &Arc<Self>, filter: Filter, queue: usize) -> Watch {
        let (tx, rx) = mpsc::channel(queue.max(1));
        let dropped = Arc::new(AtomicU64::new(0));
        let mut w = self.lock();
        let id = w.next_id;
        w.next_id += 1;
        w.local.push(Watcher {
            id,
            filter,
            tx,
            dropped: dropped.clone(),
        });
        self.interest.fetch_add(1, Ordering::Relaxed);
        Watch {
            rx,
            dropped,
            tap: self.clone(),
            id,
        }
    }

    fn unwatch(&self, id: u64) {
        let mut w = self.lock();
        let before = w.local.len();
        w.local.retain(|w| w.id != id);
        if w.local.len() < before {
            self.interest.fetch_sub(1, Ordering::Relaxed);
        }
    }

    /// Records dropped so far for the local watchers open now.
    pub(crate) fn dropped(&self) -> u64 {
        let w = self.lock();
        w.local
            .iter()
            .map(|w| w.dropped.load(Ordering::Relaxed))
            .sum()
    }

    /// Local watchers right now.
    pub(crate) fn local_watchers(&self) -> usize {
        self.lock().local.len()
    }

    /// Attach (`Some`) or detach (`None`) the cluster relay.
    pub(crate) fn set_relay(&self, relay: Option<Outlet>) {
        let mut w = self.lock();
        match (w.relay.is_some(), relay.is_some()) {
            (false, true) => self.interest.fetch_add(1, Ordering::Relaxed),
            (true, false) => self.interest.fetch_sub(1, Ordering::Relaxed),
            _ => 0,
        };
        w.relay = relay;
    }

    fn lock(&self) -> MutexGuard<'_, Watchers> {
        self.watchers.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn publish(channel: &str, event: &str) -> Event {
        Event::Publish {
            channel: channel.into(),
            event: event.into(),
            size: 2,
            except: None,
        }
    }

    #[test]
    fn nothing_is_built_while_nobody_watches() {
        let tap = Arc::new(Tap::default());
        tap.emit(|| unreachable!("built without a watcher"));
        let watch = tap.watch(Filter::default(), 4);
        assert!(tap.watched());
        drop(watch);
        assert!(!tap.watched());
        tap.emit(|| unreachable!("built after the watcher left"));
    }

    #[test]
    fn a_full_queue_drops_and_counts() {
        let tap = Arc::new(Tap::default());
        let mut watch = tap.watch(Filter::default(), 2);
        for i in 0..5 {
            tap.emit(|| publish("a", &format!("e{i}")));
        }
        assert_eq!(watch.dropped.load(Ordering::Relaxed), 3);
        assert!(watch.rx.try_recv().is_ok());
        assert!(watch.rx.try_recv().is_ok());
        assert!(watch.rx.try_recv().is_err());
    }

    #[test]
    fn filters_match_channel_event_and_socket() {
        let f = Filter {
            channel: Some("orders".into()),
            event: Some("Created".into()),
            socket: None,
        };
        assert!(f.accepts(&Record::now(publish("orders", "App\\OrderCreated"))));
        assert!(!f.accepts(&Record::now(publish("orders-2", "OrderCreated"))));
        assert!(!f.accepts(&Record::now(publish("orders", "OrderShipped"))));
    }

    #[test]
    fn records_carry_their_kind_and_round_trip() {
        let r = Record::now(Event::Refusal(Refusal {
            stage: Stage::Subscription,
            socket: Some("1.2".into()),
            channel: Some("private-a".into()),
            event: None,
            reason: "The connection is unauthorized.".into(),
            code: Some(401),
            signed: Some(Signed {
                expected: "1.2:private-a".into(),
                received: "app-key:00".into(),
            }),
        }));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["kind"], "refusal");
        assert_eq!(json["stage"], "subscription");
        assert_eq!(json["signed"]["expected"], "1.2:private-a");
        let back: Record = serde_json::from_value(json).unwrap();
        assert_eq!(back, r);
    }
}
