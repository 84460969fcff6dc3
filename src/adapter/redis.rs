//! The Redis adapter: any number of herald nodes behave as one server.
//!
//! # Keys and channels (all under the configured prefix `P`, so clusters can share a Redis)
//!
//! `{app}` is the app id as [`keys::app_token`] writes it: as it is when made of
//! letters, digits, `-`, `_` and `.`, else with every other byte as `%XX`, so no
//! two apps' keys can be the same whatever their ids.
//!
//! | name | type | holds |
//! |---|---|---|
//! | `P#{app}#{channel}` | pub/sub subject (sharded on a Redis Cluster) | a channel's deliveries: [`Bus::Broadcast`] and [`Bus::Member`] as `origin\nkind\napp\ntarget\nexcept\nframe`; only nodes with local subscribers listen |
//! | `P#bus` | pub/sub subject, every node listens | the other kinds: [`Bus::ToUser`], [`Bus::Terminate`], [`Bus::Count`], [`Bus::Watch`] and any new kind (see [`Bus::per_channel`]) |
//! | `P:nodes` | set | node ids that announced themselves |
//! | `P:node:{node}` | string, 5 s TTL | heartbeat, refreshed every second |
//! | `P:conns:{node}` | hash app → sockets | connection counts, for cluster-wide quotas |
//! | `P:subs:{node}` | hash `app\nchannel` → sockets | subscription counts, for channel queries |
//! | `P:presence:{app}:{channel}` | hash | `m|user` → member JSON, `u|user` → sockets anywhere, `n|node|user` → sockets on that node, `count` → users, `seq` → the last join's sequence number |
//! | `P:npres:{node}` | set of `app\nchannel` | presence channels a node has members in |
//! | `P:occ:{app}:{channel}` | set of nodes | nodes with subscribers, for cluster-wide occupied/vacated |
//! | `P:cache:{app}:{channel}` | hash frame, data; TTL | cache channels' last event |
//! | `P:online:{app}` | hash | `u|user` → nodes where the user is signed in, `n|node|user` → 1 (apps with watchlist events; `redis/watch.rs`) |
//! | `P:nonline:{node}` | set of apps | apps in which a node has signed-in users, for its purge |
//! | `P:rate:{app}:{events\|reads}:{unix second}` | integer, 2 s TTL | HTTP API rate-limit points spent in that second by the whole cluster (one script per request) |
//!
//! # Delivery
//! A publish is delivered to local subscribers at once and put on a bounded queue;
//! one task sends the queue in order over the node's one link (pipelined;
//! [`crate::redis_link`]), each message to its subject. A node listens to a channel's subject
//! only while it has local subscribers to it ([`subjects`]: subscribed on the first,
//! unsubscribed 2 s after the last left), so bus messages per event = nodes that hold
//! the channel, and a node pays nothing for channels it does not serve. Per channel,
//! not per bucket of channels: Redis routes a `PUBLISH` with a hash lookup whatever
//! the number of subjects, so buckets would only add deliveries to nodes that then
//! drop them (BENCHMARKS.md, scenario 8). Deliveries are pushed (RESP3) on the same
//! link that carries the commands and handed to the registry in the order Redis sent
//! them, skipping the node's own. So a channel's events from one publisher arrive in
//! the same order on every node. The excluded `socket_id` travels with each message.
//!
//! A node's first subscriber to a channel is answered after Redis acknowledged the
//! `SUBSCRIBE` (one round trip, overlapped with the occupancy round trip it paid
//! already), so an event published after its `subscription_succeeded` reaches it;
//! not acknowledged within 2 s, the join is refused (`pusher:subscription_error`).
//! Later subscribers on that node wait for nothing. Subscribe/unsubscribe races are
//! resolved in [`subjects`]: the registry is the truth, the subject lingers before its
//! `UNSUBSCRIBE`, and a join during an `UNSUBSCRIBE` waits for the next `SUBSCRIBE`.
//!
//! # Redis Cluster
//! With `redis_cluster_nodes` the link is a cluster connection: deliveries use sharded
//! pub/sub (`SSUBSCRIBE`/`SPUBLISH`, each subject served by its slot's master, so
//! delivery work spreads over the shards). Every script reads and writes one key, so
//! it is atomic in its slot; a pipeline whose keys span slots is sent command by
//! command ([`crate::redis_link`]); bus publishes are grouped per subject, keeping a channel's order.
//! A lost master (failover to its replica) drops one of the link's connections, and
//! a moved slot makes Redis unsubscribe the slot's listeners (a `sunsubscribe` this
//! node did not ask for): either way the node starts a new link, subscribes again
//! and resyncs as after a restart (tests: failover 2.9 s, slot move 0.2 s).
//!
//! # Presence
//! A join is one Lua script: it counts the socket under the user and this node,
//! answers whether the user is new to the channel (then `member_added` is broadcast)
//! and returns the member list for `subscription_succeeded`. A leave is one script that
//! answers whether the user's last socket anywhere left (then `member_removed`).
//! Nothing asks the other nodes; the member limit is checked inside the join script.
//!
//! # Occupancy
//! When a channel gets its first subscriber on this node (or loses its last), the node
//! adds itself to (removes itself from) `P:occ:{app}:{channel}` and reads its size in
//! one pipelined round trip, so `occupied`/`vacated` (and their webhooks) are cluster-wide
//! transitions. Only those local transitions pay the round trip; other subscribes don't.
//! A write that fails is settled from the registry once Redis answers, and a resync
//! corrects every channel the node had counted ([`repair`]): the set converges to
//! exactly the nodes with subscribers.
//!
//! # Failures
//! - A node dies (SIGKILL): its heartbeat key expires after 5 s; the first live node to
//!   notice (checked every second) takes a purge lock, removes the dead node's
//!   contributions from each presence hash in `P:npres:{node}` and broadcasts
//!   `member_removed` for users that had no other socket: cleanup within about 6 s.
//! - A node stops gracefully: its sockets leave (scripts run) and its keys are deleted.
//! - A silent link (no bytes either way, no RST, no FIN): the probe beside the bus
//!   task ([`crate::adapter::probe`], `PING` every 0.5 s, to every master on a cluster)
//!   finds no answer within 1.5 s, the node is not ready at once and starts a new link;
//!   from then on as below.
//! - Redis unreachable: the node keeps serving local sockets, logs a warning, reports
//!   not ready, the HTTP API answers 503 to publishes, presence joins are refused with a
//!   `ServerError`, and bus messages are dropped (they are not queued for later: a late
//!   event is worse than a missing one for toasts and typing indicators). A background
//!   loop reconnects with back-off; on reconnect the node re-registers its
//!   subscription counts, occupancy and presence members (purging what it had
//!   registered before), announces the members who left meanwhile (also when Redis
//!   came back empty: [`repair`]), then reports ready again. A node started with
//!   the Redis adapter is not ready until Redis answers: it never silently runs alone.
//! - Simultaneous joins: a socket is registered locally before its presence join runs
//!   in Redis, and a `member_added` travels (on the bus or locally) after its join ran.
//!   So every new member gets a sequence number in the join script (Redis's clock in µs,
//!   and above the last one, so it only grows, even across a Redis restart), which the
//!   announcement carries. A socket's own join answers the number its member list is
//!   complete up to; announcements numbered at or below it are not sent to it, and
//!   those that arrive while its join is still running are held until the number is
//!   known. Each socket hears of each member once: from the list or from `member_added`.

mod bus;
mod counts;
mod keys;
mod repair;
mod scripts;
mod seam;
mod state;
mod subjects;
mod watch;

use super::cluster::Cluster as _;
use super::AdapterError;
use crate::channel::Registry;
use crate::config;
use crate::redis_link::{Conn, Target};
use keys::Keys;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub use super::bus::Bus;

impl Bus {
    /// Kinds about one channel go to that channel's subject, heard only by nodes
    /// with subscribers to it; the others to the node-wide subject every node hears.
    fn per_channel(self) -> bool {
        matches!(self, Bus::Broadcast | Bus::Member(_))
    }
}

/// Messages waiting for the bus before they are dropped.
const BUS_QUEUE: usize = 65_536;

/// How long a node's first subscriber to a channel waits for the bus subscription.
const SUBSCRIBE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// A bus message and the subject it is published to.
pub(crate) struct Outgoing {
    subject: String,
    payload: String,
    /// Answered once Redis replied to the `PUBLISH` (an API publish waits for it).
    ack: Option<crate::adapter::cluster::Ack>,
}

pub(crate) struct Cluster {
    pub registry: Arc<Registry>,
    keys: Keys,
    target: Target,
    conn: Mutex<Option<Conn>>,
    healthy: AtomicBool,
    /// The subjects this node listens to.
    subjects: subjects::Subjects,
    bus_tx: mpsc::Sender<Outgoing>,
    bus_rx: Mutex<Option<mpsc::Receiver<Outgoing>>>,
    /// Which link's deliveries count: bumped at each (re)connect.
    epoch: AtomicU64,
    /// Connections per app on the other live nodes, from the last heartbeat.
    remote_conns: Mutex<HashMap<String, usize>>,
    /// Other live nodes, from the last heartbeat.
    peers: Mutex<Vec<String>>,
    /// (app, channel) whose local subscription count changed since the last flush.
    dirty: Mutex<HashSet<(String, String)>>,
    /// (app, channel) whose occupancy write failed ([`repair`]).
    unsettled: Mutex<HashSet<(String, String)>>,
    /// Presence leaves Redis did not take, announced after reconnecting.
    failed_leaves: Mutex<repair::Gone>,
    /// A resync's removals, announced once more at the instant.
    repeat_gone: Mutex<Option<(std::time::Instant, repair::Gone)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    /// Set up the adapter and start its background task (needs a tokio runtime).
    pub(crate) fn start(
        cfg: &config::Cluster,
        registry: Arc<Registry>,
        node: &str,
    ) -> Result<Arc<Cluster>, ::redis::RedisError> {
        let target = Target::parse(cfg)?;
        let (bus_tx, bus_rx) = mpsc::channel(BUS_QUEUE);
        let cluster = Arc::new(Cluster {
            registry,
            keys: Keys::new(&cfg.prefix, node),
            target,
            conn: Mutex::new(None),
            healthy: AtomicBool::new(false),
            subjects: subjects::Subjects::default(),
            bus_tx,
            bus_rx: Mutex::new(Some(bus_rx)),
            epoch: AtomicU64::new(0),
            remote_conns: Mutex::default(),
            peers: Mutex::default(),
            dirty: Mutex::default(),
            unsettled: Mutex::default(),
            failed_leaves: Mutex::default(),
            repeat_gone: Mutex::default(),
        });
        tokio::spawn(state::run(cluster.clone()));
        Ok(cluster)
    }

    fn conn(&self) -> Result<Conn, AdapterError> {
        match (self.healthy(), lock(&self.conn).clone()) {
            (true, Some(c)) => Ok(c),
            _ => Err(AdapterError::Unavailable),
        }
    }

    /// Record this node's first subscriber (or last leaving); answers how many
    /// nodes now have subscribers, or `None` when Redis cannot say.
    /// A write that fails is settled later from the registry ([`repair`]).
    async fn occupancy(&self, app: &str, channel: &str, present: bool) -> Option<usize> {
        let n = self.write_occupancy(app, channel, present).await;
        if n.is_none() {
            self.unsettled(app, channel);
        }
        n
    }

    async fn write_occupancy(&self, app: &str, channel: &str, present: bool) -> Option<usize> {
        let mut conn = self.conn().ok()?;
        let key = self.keys.occupancy(app, channel);
        let mut pipe = ::redis::pipe();
        match present {
            true => pipe.sadd(&key, &self.keys.node).ignore(),
            false => pipe.srem(&key, &self.keys.node).ignore(),
        };
        pipe.scard(&key);
        let (n,): (usize,) = pipe.query_async(&mut conn).await.ok()?;
        Some(n)
    }
}

fn unavailable(what: &str, e: ::redis::RedisError) -> AdapterError {
    tracing::warn!(error = %e, what, "Redis command failed");
    AdapterError::Unavailable
}
