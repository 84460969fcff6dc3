//! The NATS adapter: any number of herald nodes behave as one server through a
//! NATS server (or cluster) with JetStream. `SOKETI_ADAPTER_DRIVER=nats`.
//!
//! # Subjects and buckets (all under the configured prefix `P`)
//!
//! | name | kind | holds |
//! |---|---|---|
//! | `P.c.{app}.{channel}` | subject | a channel's deliveries (events, client events, member added/removed) |
//! | `P.a.{app}` | subject | server-to-user events and `terminate_connections` (every node listens) |
//! | `P_nodes` | KV `{node}` | heartbeat every second: the node's connections per app |
//! | `P_chan` | KV `{app}.{channel}` | nodes with subscribers, presence members with sockets per node, last join's number ([`chan`]) |
//! | `P_subs` | KV `{node}.{app}.{channel}` | a node's subscription count, for channel queries and `subscription_count` (written every 20 ms when changed, then a `C` message on the channel's subject: [`counts`]) |
//! | `P_online` | KV `{app}.{user}` | nodes where the user is signed in, for watchlist events ([`watch`]) |
//! | `P_cache` | KV `{app}.{channel}` | cache channels' last event with its expiry |
//! | `P_rate` | KV `{app}.{api}.{second}` | HTTP API rate-limit points the cluster spent in that second (5 s max age) |
//! | `P_locks` | KV `purge.{node}` | who removes a dead node (30 s max age) |
//! | `P_marks` | KV `purged.{node}` | left for a node that was removed while alive (1 h max age) |
//!
//! Tokens are escaped ([`names`]), so any channel name is one subject token.
//!
//! # Delivery
//! A publish is delivered to local subscribers at once (the same registry path
//! as remote deliveries) and queued for the bus; one task publishes the queue in
//! order over the node's one connection, to the channel's subject. A node listens
//! to a channel's subject only while it has local subscribers ([`interest`]), so
//! bus messages per event = nodes that hold the channel, and a node without
//! subscribers never sees the event. The server sends a node its own publishes
//! too (echo): most are dropped by their origin, an API publish is delivered to
//! the node's own sockets on its echo (the order rule in [`crate::adapter`]). NATS keeps one publisher
//! connection's order per subscription, and every subscription is read by one
//! loop, so a channel's events from one publisher arrive in order on every node.
//! The excluded `socket_id` travels in each message.
//!
//! The first local subscriber of a channel waits until the server has the
//! subscription (a round trip after the SUB on the same connection) before its
//! `subscription_succeeded`, and so does every socket joining while that round
//! trip is under way: an event published after a socket's `subscription_succeeded`
//! reaches it. A last subscriber's leave unsubscribes; a join racing with that
//! leave is never undone (the unsubscribe re-checks the registry under the
//! interest table's lock). With a NATS cluster, interest reaches the other
//! servers over their routes asynchronously: the round trip covers the node's own
//! server, and a publisher on another server may miss events for about one route
//! latency after the first subscriber on a node joins.
//!
//! # Presence, occupancy and counts
//! One entry per channel in `P_chan`, changed by compare-and-set on its revision
//! ([`chan`]): joins and leaves from any number of nodes apply one at a time, so
//! there is one member list for the cluster, `member_added` is announced by the
//! join that made the user present and `member_removed` by the leave that took
//! its last socket anywhere; the member limit is checked on that same value; and
//! occupancy (`occupied`/`vacated` and their webhooks) is the set of nodes with
//! subscribers turning non-empty or empty, in the same entry. Nothing asks the
//! other nodes. Sequence numbers: as with Redis, a new member gets a number above
//! the channel's last (the joining node's clock in µs, at least last + 1), which
//! its announcement carries; a socket's join answers the number its member list
//! is complete up to, and announcements at or below it are not sent to it.
//! Connection quotas read the other nodes' heartbeats; channel queries and
//! `pusher_internal:subscription_count` sum the live nodes' `P_subs` entries
//! ([`counts`]). Watchlist status is one `P_online` entry per user, changed by
//! compare-and-set like the channel entries ([`watch`]).
//!
//! # Failures, and why the member list stays right
//! - A node dies (SIGKILL): every node watches `P_nodes`; a node whose heartbeat
//!   has not changed for 5 s, and whose key read once more has not moved (the
//!   watch may lag), is dead. The first live node to create `purge.{node}`
//!   in `P_locks` (create fails when the key exists: one winner) rewrites every
//!   `P_chan` entry that mentions the dead node without it (compare-and-set, so
//!   joins and leaves racing with the purge are kept) and broadcasts
//!   `member_removed` for users that had no socket elsewhere: within about 6 s.
//!   If the purger dies too, the lock expires after 30 s and another node purges.
//! - A node stops gracefully: its sockets leave (each a compare-and-set) and its
//!   heartbeat and counts are deleted.
//! - A silent connection (no bytes either way, no RST, no FIN): the probe
//!   ([`crate::adapter::probe`], a request the server answers itself every 0.5 s)
//!   finds no answer within 1.5 s; the node is not ready at once and the client
//!   drops the connection for a new one (the client's own pings would take
//!   minutes). A resync's announcements are queued before the node is ready
//!   again, so members a peer purged meanwhile are announced again.
//! - NATS unreachable: the node keeps serving local sockets, logs a warning,
//!   reports not ready, the HTTP API answers 503 to publishes, presence joins are
//!   refused, bus messages are dropped (not queued: a late event is worse than a
//!   missing one). The client reconnects with back-off and subscribes again; then
//!   the node opens (or recreates) its buckets and writes its part of every
//!   channel entry from its local truth ([`chan::Chan::set_node`]): members that
//!   left meanwhile are removed and announced, members that a peer purged (the
//!   `purged` mark says so) are announced again, and nothing is announced twice
//!   when the entries survived. With a JetStream store that did not survive the
//!   restart, every node writes its part anew, and members that left during the
//!   outage are announced from the node's own list of failed leaves. Removals
//!   found by a resync are announced again 3 s later, for nodes that reconnected
//!   after this one (the bus keeps nothing); pusher-js ignores a `member_removed`
//!   for a member it does not have, and the repeat is skipped if the user is back.
//! - Each dead node, and each reconnect, reads every `P_chan` entry once (the
//!   stream's subjects, then one direct get per entry, 32 in flight): a cost
//!   proportional to the occupied channels, paid rarely. Channel queries read the
//!   matching `P_subs` entries the same way.
//! - Deleted entries leave a JetStream delete marker per key (nats-server 2.9 has
//!   no marker expiry): one small marker per channel name ever used.

mod bus;
mod chan;
mod counts;
mod interest;
mod names;
mod queries;
mod scan;
mod seam;
mod state;
mod sync;
mod watch;

use super::cluster::Cluster as _;
use super::AdapterError;
use crate::channel::{Member, Registry};
use crate::config;
use crate::protocol;
use crate::socket::Frame;
use async_nats::jetstream::kv::Store;
use async_nats::Client;
use bytes::Bytes;
use interest::Interest;
use names::Names;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

pub use super::bus::Bus;

/// A bus message: its subject, its payload, and who waits for the server to have it.
pub(crate) type Outgoing = (String, Bytes, Option<crate::adapter::cluster::Ack>);

/// Messages waiting for the bus before they are dropped.
const BUS_QUEUE: usize = 65_536;

/// The buckets of one connection session.
pub(crate) struct Buckets {
    pub nodes: Store,
    pub chan: Store,
    pub subs: Store,
    pub cache: Store,
    pub rate: Store,
    pub locks: Store,
    pub marks: Store,
    pub online: Store,
}

/// Another node, from its heartbeats.
struct Peer {
    seen: Instant,
    /// The heartbeat's revision when it was seen.
    revision: u64,
    conns: HashMap<String, usize>,
}

pub(crate) struct Cluster {
    pub registry: Arc<Registry>,
    names: Names,
    cfg: config::Nats,
    /// Cache channels' entries live this long in JetStream at most.
    cache_ttl: Duration,
    client: Mutex<Option<Client>>,
    kv: Mutex<Option<Arc<Buckets>>>,
    healthy: AtomicBool,
    bus_tx: mpsc::Sender<Outgoing>,
    bus_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    interest: Interest,
    feeds: Mutex<Option<mpsc::UnboundedReceiver<interest::Feed>>>,
    peers: Mutex<HashMap<String, Peer>>,
    /// (app, channel) whose local subscription count changed since the last flush.
    dirty: Mutex<HashSet<(String, String)>>,
    /// Presence leaves that could not be written: announced after reconnecting.
    failed_leaves: Mutex<Vec<(String, String, Member)>>,
    /// Removals the last resync announced, to announce once more at the instant.
    repeat_gone: Mutex<Option<(Instant, sync::Gone)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    /// Set up the adapter and start its background task (needs a tokio runtime).
    pub(crate) fn start(
        cfg: &config::Nats,
        cache_ttl: Duration,
        registry: Arc<Registry>,
        node: &str,
    ) -> Arc<Cluster> {
        let (bus_tx, bus_rx) = mpsc::channel(BUS_QUEUE);
        let (interest, feeds) = Interest::new();
        let cluster = Arc::new(Cluster {
            registry,
            names: Names::new(&cfg.prefix, node),
            cfg: cfg.clone(),
            cache_ttl,
            client: Mutex::new(None),
            kv: Mutex::new(None),
            healthy: AtomicBool::new(false),
            bus_tx,
            bus_rx: Mutex::new(Some(bus_rx)),
            interest,
            feeds: Mutex::new(Some(feeds)),
            peers: Mutex::default(),
            dirty: Mutex::default(),
            failed_leaves: Mutex::default(),
            repeat_gone: Mutex::default(),
        });
        tokio::spawn(state::run(cluster.clone()));
        cluster
    }

    fn buckets(&self) -> Result<Arc<Buckets>, AdapterError> {
        match (self.healthy(), lock(&self.kv).clone()) {
            (true, Some(kv)) => Ok(kv),
            _ => Err(AdapterError::Unavailable),
        }
    }

    fn client(&self) -> Option<Client> {
        lock(&self.client).clone()
    }

    /// `member_removed` here and on the other nodes.
    fn announce_gone(&self, app: &str, channel: &str, m: &Member) {
        let frame = Frame::from(protocol::member_removed(channel, &m.id_json));
        if let Some(state) = self.registry.app(app) {
            state.broadcast(channel, &frame, None);
        }
        self.enqueue(Bus::Broadcast, app, channel, None, &frame, None);
    }
}

fn unavailable(what: &str, e: impl std::fmt::Display) -> AdapterError {
    tracing::warn!(error = %e, what, "JetStream request failed");
    AdapterError::Unavailable
}
