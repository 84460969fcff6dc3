//! The seam under the adapter: what a cluster bus (Redis, Redis Cluster, NATS)
//! must provide, as storage and transport primitives. [`crate::adapter::Adapter`]
//! writes every flow (subscribe with occupancy, presence join and leave, counts,
//! watchlist, queries, sign-in) once on top of it; each backend keeps its own
//! atomic operations (Lua scripts, JetStream compare-and-set) below it.
//!
//! One boxed future per network round trip: it costs nothing next to the round
//! trip, and a trait object lets the node hold `Option<Arc<dyn Cluster>>` without
//! a type parameter spreading through every caller (the reason axum's
//! dependency-injection example gives for `Arc<dyn Repo>`).

use super::bus::Bus;
use crate::channel::registry::counter::{counted, ChannelKey};
use crate::channel::registry::{AppState, Counts, JoinError};
use crate::channel::Member;
use crate::protocol;
use crate::rate;
use crate::socket::Frame;
use futures_util::future::BoxFuture;
use std::time::Duration;

/// A cluster operation that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("the cluster bus (Redis or NATS) is unavailable")]
    Unavailable,
    #[error(transparent)]
    Join(#[from] JoinError),
}

/// Answered once the bus acknowledged a message (an API publish's 200 waits for it).
pub(crate) type Ack = tokio::sync::oneshot::Sender<()>;

/// The answer of one round trip to the cluster store.
pub type Answer<'a, T> = BoxFuture<'a, Result<T, AdapterError>>;

/// A presence join written in the cluster: whether the user is new to the
/// channel anywhere, the member list and the sequence number it is complete up to.
pub(crate) type Presence = (bool, Vec<Member>, u64);

/// A rate budget answer: `Ok` taken, `Err` refused, with the window's usage.
pub(crate) type Budget = Result<rate::Usage, rate::Usage>;

/// Storage and transport primitives of one cluster bus.
pub(crate) trait Cluster: Send + Sync {
    /// False while the bus cannot be reached.
    fn healthy(&self) -> bool;
    /// Sockets of `app` on the other live nodes, from their last heartbeats.
    fn remote_connections(&self, app: &str) -> usize;
    /// The other live nodes (sorted or in heartbeat order; compared as a whole).
    fn peer_nodes(&self) -> Vec<String>;

    /// Put a frame on the bus for the other nodes (dropped and counted when down).
    fn publish(&self, kind: Bus, app: &str, target: &str, except: Option<&str>, frame: &Frame) {
        self.send(kind, app, target, except, frame, None);
    }
    /// Put a frame on the bus; `ack` is answered once the bus acknowledged it
    /// (dropped unanswered, and counted, when the bus is down, its queue full
    /// or the link lost).
    fn send(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
        ack: Option<Ack>,
    ) {
        if !self.healthy() {
            crate::metrics::bus_dropped();
            return;
        }
        self.put(kind, app, target, except, frame, ack);
    }
    /// Queue a frame for the bus task ([`Cluster::send`] once the bus is up).
    fn put(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
        ack: Option<Ack>,
    );
    /// Hear the channel's deliveries; answers when the bus has the subscription,
    /// or `Unavailable` if it could not be had in bounded time.
    fn listen<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, ()>;
    /// The channel has no local subscriber any more: stop hearing it (maybe later).
    fn unlisten(&self, app: &AppState, channel: &str);
    /// This node's subscription count of the channel changed (flushed in batches).
    fn mark_dirty(&self, app: &str, channel: &str);
    /// This node counted `channels` again after an outage: tell the peers if the
    /// backend does not do it in its resync.
    fn recounted(&self, _channels: &[ChannelKey]) {}

    /// Add this node to (remove it from) the channel's occupancy: `Some(true)` when
    /// that was the cluster-wide transition, `None` when the store cannot say.
    fn occupy<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        present: bool,
    ) -> BoxFuture<'a, Option<bool>>;
    /// One socket of `m` joins the channel on this node, within `max` users.
    fn join<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        m: &'a Member,
        max: usize,
    ) -> Answer<'a, Presence>;
    /// One socket of `user` leaves: the member when its last socket anywhere left.
    fn leave<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        user: &'a str,
    ) -> Answer<'a, Option<Member>>;
    /// A leave that could not be written (the backend may announce it later).
    fn leave_failed(&self, _app: &str, _channel: &str, _member: Member) {}

    /// Subscription and user counts across the cluster (this node's from `app`).
    fn counts<'a>(&'a self, app: &'a AppState, channel: &'a str) -> Answer<'a, Option<Counts>>;
    /// Occupied channels starting with `prefix` across the cluster.
    fn channels<'a>(
        &'a self,
        app: &'a AppState,
        prefix: &'a str,
    ) -> Answer<'a, Vec<(String, Counts)>>;
    /// A presence channel's members.
    fn members<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, Vec<Member>>;
    /// Subscriptions to each channel on the other live nodes.
    fn remote_subscriptions<'a>(&'a self, channels: &'a [ChannelKey]) -> Answer<'a, Vec<usize>>;

    /// Keep a cache channel's last event for `ttl`.
    fn cache_put<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        frame: &'a Frame,
        data: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, ()>;
    /// A cache channel's last event, its raw data and the time it has left.
    fn cache_get<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
    ) -> BoxFuture<'a, Option<(Frame, String, Duration)>>;
    /// Take `points` of a per-second API budget shared by every node.
    fn take_budget<'a>(
        &'a self,
        app: &'a str,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Answer<'a, Budget>;

    /// Write whether `user` is signed in here now (as `app` says); `Some(online)`
    /// when that made the user online (offline) anywhere.
    fn online_changed<'a>(
        &'a self,
        app: &'a AppState,
        user: &'a str,
        online: bool,
    ) -> Answer<'a, Option<bool>>;
    /// Whether each of `ids` is signed in on some node.
    fn online_users<'a>(&'a self, app: &'a str, ids: &'a [String]) -> Answer<'a, Vec<bool>>;

    /// Leave the cluster at once (after the sockets have gone).
    fn shutdown(&self) -> BoxFuture<'_, ()>;

    /// A new member numbered `seq`, to the subscribers here and on every node
    /// whose member list did not have it (never to the joining socket).
    fn announce_member(&self, app: &AppState, channel: &str, m: &Member, seq: u64, sid: &str) {
        let info = m.info_json.as_deref();
        let frame = Frame::from(protocol::member_added(channel, &m.id_json, info));
        app.announce_member(channel, &frame, seq, Some(sid));
        self.publish(
            Bus::Member(seq),
            &app.app().raw.id,
            channel,
            Some(sid),
            &frame,
        );
    }

    /// This node's count of the channel was written: a count message to the
    /// nodes that serve it, if `app` (this node's state of it, if any) sends counts.
    fn count_written(&self, app: Option<&AppState>, channel: &str) {
        let Some(app) = app.filter(|a| a.app().raw.enable_subscription_count) else {
            return;
        };
        if counted(channel) {
            let id = &app.app().raw.id;
            self.publish(Bus::Count, id, channel, None, &Frame::from_static(""));
        }
    }

    /// `online`/`offline` for `user` to the watchers here and on the other nodes.
    fn announce_watch(&self, app: &AppState, user: &str, online: bool) {
        let frame = status_frame(user, online);
        app.tell_watchers(user, online, &frame);
        // The bus is line-based: an id with a newline would be read as another one.
        if user.contains('\n') {
            tracing::debug!("watchlist change of a user id with a newline kept on this node");
            return;
        }
        self.publish(Bus::Watch(online), &app.app().raw.id, user, None, &frame);
    }
}

/// `online` or `offline` for one user.
pub(crate) fn status_frame(user: &str, online: bool) -> Frame {
    let name = if online { "online" } else { "offline" };
    Frame::from(protocol::watchlist_events(&[(name, &[user.to_string()])]))
}
