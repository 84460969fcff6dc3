//! The adapter: the one path every delivery, membership change and query goes
//! through, whether the other end is on this node or on another one.
//!
//! Delivery path. A publish (HTTP API or client event) is encoded once into a
//! shared [`Frame`] by its producer and handed to [`Adapter::broadcast`], which
//! gives it to the local [`Registry`] (each local subscriber's bounded queue gets a
//! reference-counted clone) and, with Redis, puts the same bytes with the excluded
//! `socket_id` on the cluster bus, where every other node runs the same local
//! delivery. Local and remote subscribers share that one code path. Per-channel
//! order from one publisher holds: locally because a publish is queued for every
//! subscriber before the call returns, remotely because one task publishes the bus
//! in queue order over one connection and each node reads it over one connection.
//!
//! Order. An API publish on a clustered node is not delivered locally at once: it
//! goes on the bus marked [`bus::ECHO`] and every node, this one included, delivers
//! it when it comes back, and the API answers 200 once the bus acknowledged it
//! ([`Adapter::publish_api`]). So a publisher that waits for each 200 and spreads
//! its requests over several nodes sees one channel's events in its order on every
//! socket: the bus had e1 (and every node's subscription held it) before e2 was sent.
//!
//! Membership. The registry knows this node's sockets. Presence membership and the
//! "first socket of this user anywhere" answer come from the adapter: the registry
//! itself on a single node, the cluster store otherwise (one Redis script or one
//! JetStream compare-and-set per join/leave). Member events are broadcast from here.
//!
//! Every flow is written once, here and in [`counts`], [`queries`] and [`watch`],
//! over an optional [`Cluster`] (the seam, [`cluster`]): no cluster is one node.
//! Which backend sits below is decided once, where the node builds its adapter.

pub(crate) mod bus;
pub(crate) mod cluster;
pub(crate) mod counts;
mod kept;
pub(crate) mod nats;
pub(crate) mod probe;
mod queries;
pub(crate) mod redis;
mod watch;

pub use cluster::AdapterError;
use cluster::Cluster;

use crate::channel::registry::{presence_data, AppState, Joined, Left};
use crate::channel::{Member, Registry};
use crate::protocol;
use crate::recovery::Recovery;
use crate::socket::{Frame, Sink};
use bus::Bus;
use std::sync::Arc;
use std::time::Duration;

/// How long an API publish waits for the bus to acknowledge it before a 503.
pub(crate) const ACK_WAIT: Duration = Duration::from_secs(2);

/// True once the bus acknowledged an API publish (see [`Adapter::publish_api`]).
pub(crate) type Acked = futures_util::future::BoxFuture<'static, bool>;

/// Where events and membership go: this node's registry and, when clustered, the bus.
#[derive(Clone)]
pub struct Adapter {
    registry: Arc<Registry>,
    cluster: Option<Arc<dyn Cluster>>,
    /// The next id of a kept event published here (see [`kept`]).
    kept_ids: Arc<std::sync::atomic::AtomicU64>,
}

impl Adapter {
    /// One process: the registry is the whole truth.
    pub(crate) fn local(registry: Arc<Registry>) -> Adapter {
        Adapter {
            registry,
            cluster: None,
            kept_ids: kept::first_id(),
        }
    }

    /// Many nodes joined through a cluster bus (Redis, Redis Cluster, NATS).
    pub(crate) fn clustered(registry: Arc<Registry>, cluster: Arc<dyn Cluster>) -> Adapter {
        Adapter {
            registry,
            cluster: Some(cluster),
            kept_ids: kept::first_id(),
        }
    }

    fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The state of an app this node has seen.
    pub fn app(&self, id: &str) -> Option<Arc<AppState>> {
        self.registry().app(id)
    }

    /// A snapshot of every app's state on this node.
    pub(crate) fn apps(&self) -> Vec<Arc<AppState>> {
        self.registry().apps()
    }

    /// The state of `app`, created on first use.
    pub(crate) fn app_for(&self, app: &Arc<crate::config::App>) -> Arc<AppState> {
        self.registry().app_for(app)
    }

    /// False while a clustered node cannot reach its bus.
    pub(crate) fn healthy(&self) -> bool {
        self.cluster.as_ref().is_none_or(|c| c.healthy())
    }

    /// Sockets of `app` on the other live nodes.
    pub(crate) fn remote_connections(&self, app: &str) -> usize {
        self.cluster
            .as_ref()
            .map_or(0, |c| c.remote_connections(app))
    }

    /// Take a connection slot, counting the app's sockets on every node.
    pub(crate) fn try_connect(&self, app: &AppState) -> bool {
        app.try_connect(self.remote_connections(&app.app().raw.id))
    }

    /// Sockets connected to this node.
    pub(crate) fn total_connections(&self) -> usize {
        self.registry().total_connections()
    }

    fn publish(&self, kind: Bus, app: &AppState, target: &str, except: Option<&str>, f: &Frame) {
        if let Some(c) = &self.cluster {
            c.publish(kind, &app.app().raw.id, target, except, f);
        }
    }

    /// An API publish's frame on the bus: `None` without a cluster (nothing to
    /// wait for), else an answer that is true once the bus acknowledged it, false
    /// when it could not (bus down, queue full, no reply within [`ACK_WAIT`]).
    fn publish_acked(
        &self,
        kind: Bus,
        app: &AppState,
        target: &str,
        except: Option<&str>,
        f: &Frame,
    ) -> Option<Acked> {
        let c = self.cluster.as_ref()?;
        let (tx, rx) = tokio::sync::oneshot::channel();
        c.send(kind, &app.app().raw.id, target, except, f, Some(tx));
        Some(Box::pin(async move {
            matches!(tokio::time::timeout(ACK_WAIT, rx).await, Ok(Ok(())))
        }))
    }

    /// An API publish to a channel (`user` set: to a user's sockets). Alone, a
    /// node delivers it at once. In a cluster every node, this one included,
    /// delivers it when it comes back from the bus, so the events of a channel
    /// reach every socket in the one order the bus gave them: a publisher that
    /// waits for each 200 sees its order kept whichever nodes answer (the bus
    /// had e1, and so every node's subscription held it, before e2 was sent).
    /// The answer says when the bus has it (the echo comes before the reply).
    pub(crate) fn publish_api(
        &self,
        app: &AppState,
        target: &str,
        user: bool,
        frame: &Frame,
        except: Option<&str>,
    ) -> Option<Acked> {
        let kept = (!user && crate::recovery::wanted(&app.app(), target)).then(|| self.kept_id());
        let kind = match (user, kept) {
            (true, _) => Bus::ToUser,
            (false, Some(id)) => Bus::Kept(id),
            (false, None) => Bus::Broadcast,
        };
        if self.cluster.is_some() {
            // Delivered here on its echo from the bus, in the bus's order.
            return self.publish_acked(kind, app, target, except, frame);
        }
        match (user, kept) {
            (true, _) => app.send_to_user(target, frame, except),
            (false, Some(id)) => app.broadcast_kept(target, frame, except, id),
            (false, None) => app.broadcast(target, frame, except),
        };
        None
    }

    /// Deliver a frame to a channel's subscribers, except the socket `except`.
    pub fn broadcast(&self, app: &AppState, channel: &str, frame: &Frame, except: Option<&str>) {
        app.broadcast(channel, frame, except);
        self.publish(Bus::Broadcast, app, channel, except, frame);
    }

    /// Close every socket signed in as `user`, on every node.
    pub(crate) fn terminate_user(&self, app: &AppState, user: &str) {
        app.terminate_user(user);
        self.publish(Bus::Terminate, app, user, None, &Frame::from_static(""));
    }

    /// Join a channel. `occupied` and `member_added` in the answer are cluster-wide.
    pub async fn subscribe(
        &self,
        app: &AppState,
        channel: &str,
        sink: &Arc<Sink>,
        member: Option<Member>,
        recovery: Recovery,
    ) -> Result<Joined, AdapterError> {
        let joined = match &self.cluster {
            None => {
                let max = Some(app.app().limits.max_presence_members);
                app.subscribe(channel, sink, member, max, true, recovery)?
            }
            Some(c) => join_cluster(c.as_ref(), app, channel, sink, member, recovery).await?,
        };
        if !joined.already {
            self.count_changed(app, channel);
        }
        Ok(joined)
    }

    /// Leave a channel; `vacated` and `member_removed` are cluster-wide. The
    /// removed member (if any) is announced to the channel here.
    pub async fn unsubscribe(&self, app: &AppState, channel: &str, key: u64) -> Option<Left> {
        let mut left = app.unsubscribe(channel, key)?;
        if let Some(c) = &self.cluster {
            leave_cluster(c.as_ref(), app, channel, &mut left).await;
        }
        self.count_changed(app, channel);
        if let Some(m) = &left.member_removed {
            let frame = Frame::from(protocol::member_removed(channel, &m.id_json));
            self.broadcast(app, channel, &frame, None);
        }
        Some(left)
    }

    /// Leave the cluster: remove this node's members and keys at once.
    pub(crate) async fn shutdown(&self) {
        if let Some(c) = &self.cluster {
            c.shutdown().await;
        }
    }
}

/// Join a channel here and in the cluster: occupancy, the bus subscription and,
/// for presence, the member. A refused join leaves no trace: the socket leaves
/// the registry, and the subject and occupancy are released if it was the last.
async fn join_cluster(
    c: &dyn Cluster,
    app: &AppState,
    channel: &str,
    sink: &Arc<Sink>,
    member: Option<Member>,
    recovery: Recovery,
) -> Result<Joined, AdapterError> {
    let mut joined = app.subscribe(channel, sink, member.clone(), None, false, recovery)?;
    let id = &app.app().raw.id;
    c.mark_dirty(id, channel);
    // Both are one round trip for a node's first subscriber: wait for them together.
    let occupancy = async {
        match joined.occupied {
            true => c.occupy(id, channel, true).await == Some(true),
            false => false,
        }
    };
    let (listened, occupied) = tokio::join!(c.listen(id, channel), occupancy);
    joined.occupied = occupied;
    if let Err(e) = listened {
        return Err(refuse(c, app, channel, sink, e).await);
    }
    let Some(m) = member else { return Ok(joined) };
    if joined.already {
        joined.presence = Some(presence_of(&c.members(id, channel).await?));
        return Ok(joined);
    }
    let max = app.app().limits.max_presence_members;
    match c.join(id, channel, &m, max).await {
        Ok((added, members, seq)) => {
            app.presence_joined(channel, sink.key, seq);
            if added {
                c.announce_member(app, channel, &m, seq, &sink.socket_id().to_string());
            }
            joined.member_added = added;
            joined.presence = Some(presence_of(&members));
            Ok(joined)
        }
        Err(e) => Err(refuse(c, app, channel, sink, e).await),
    }
}

/// Undo a join the cluster refused: the socket leaves the registry, and the
/// subject and occupancy are released if it was the last here (a failed release
/// is settled by the backend once the bus answers again).
async fn refuse(
    c: &dyn Cluster,
    app: &AppState,
    channel: &str,
    sink: &Arc<Sink>,
    e: AdapterError,
) -> AdapterError {
    let left = app.unsubscribe(channel, sink.key);
    // The join's count may have been written already.
    c.mark_dirty(&app.app().raw.id, channel);
    if left.is_some_and(|l| l.vacated) {
        c.unlisten(app, channel);
        c.occupy(&app.app().raw.id, channel, false).await;
    }
    e
}

/// Leave a channel in the cluster after the registry: occupancy, the bus
/// subscription and, for presence, the member. `member_removed` is set when
/// the user's last socket in the whole cluster left.
async fn leave_cluster(c: &dyn Cluster, app: &AppState, channel: &str, left: &mut Left) {
    let id = &app.app().raw.id;
    c.mark_dirty(id, channel);
    if left.vacated {
        c.unlisten(app, channel);
        left.vacated = c.occupy(id, channel, false).await == Some(true);
    }
    let Some(user) = left.user.clone() else {
        return;
    };
    let local = left.member_removed.take();
    match c.leave(id, channel, &user).await {
        // Gone from the cluster, even if this node had other sockets of the user.
        Ok(gone) => left.member_removed = gone.map(|g| local.unwrap_or(g)),
        Err(e) => {
            tracing::warn!(error = %e, channel, "presence leave failed; repaired after reconnecting");
            if let Some(m) = local {
                c.leave_failed(id, channel, m);
            }
        }
    }
}

/// The `subscription_succeeded` data for a presence channel.
pub(crate) fn presence_of(members: &[Member]) -> String {
    presence_data(members.iter())
}
