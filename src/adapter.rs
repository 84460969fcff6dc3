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
//! Membership. The registry knows this node's sockets. Presence membership and the
//! "first socket of this user anywhere" answer come from the adapter: the registry
//! itself for [`Adapter::Local`], one Redis script per join/leave for
//! [`Adapter::Redis`] (see [`redis`]). Member events are broadcast from here.

pub mod bus;
pub mod counts;
pub mod nats;
pub mod redis;
mod watch;

use crate::channel::registry::{presence_data, AppState, Counts, JoinError, Joined, Left};
use crate::channel::{Member, Registry};
use crate::protocol;
use crate::rate;
use crate::socket::{Frame, Sink};
use std::sync::Arc;
use std::time::Duration;

/// Where events and membership go.
pub enum Adapter {
    /// One process: the registry is the whole truth.
    Local(Arc<Registry>),
    /// Many nodes joined through Redis.
    Redis(Arc<redis::Cluster>),
    /// Many nodes joined through NATS (JetStream for the shared state).
    Nats(Arc<nats::Cluster>),
}

/// A cluster operation that could not be completed.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    #[error("the cluster bus (Redis or NATS) is unavailable")]
    Unavailable,
    #[error(transparent)]
    Join(#[from] JoinError),
}

impl Adapter {
    fn registry(&self) -> &Registry {
        match self {
            Adapter::Local(r) => r,
            Adapter::Redis(c) => &c.registry,
            Adapter::Nats(c) => &c.registry,
        }
    }

    /// The state of an app this node has seen.
    pub fn app(&self, id: &str) -> Option<Arc<AppState>> {
        self.registry().app(id)
    }

    /// A snapshot of every app's state on this node.
    pub fn apps(&self) -> Vec<Arc<AppState>> {
        self.registry().apps()
    }

    /// The state of `app`, created on first use.
    pub fn app_for(&self, app: &Arc<crate::config::App>) -> Arc<AppState> {
        self.registry().app_for(app)
    }

    /// False while a clustered node cannot reach Redis.
    pub fn healthy(&self) -> bool {
        match self {
            Adapter::Local(_) => true,
            Adapter::Redis(c) => c.healthy(),
            Adapter::Nats(c) => c.healthy(),
        }
    }

    /// Take a connection slot, counting the app's sockets on every node.
    pub fn try_connect(&self, app: &AppState) -> bool {
        let elsewhere = match self {
            Adapter::Local(_) => 0,
            Adapter::Redis(c) => c.remote_connections(&app.app().id),
            Adapter::Nats(c) => c.remote_connections(&app.app().id),
        };
        app.try_connect(elsewhere)
    }

    /// Deliver a frame to a channel's subscribers, except the socket `except`.
    pub fn broadcast(&self, app: &AppState, channel: &str, frame: &Frame, except: Option<&str>) {
        app.broadcast(channel, frame, except);
        match self {
            Adapter::Local(_) => {}
            Adapter::Redis(c) => {
                c.publish(redis::Bus::Broadcast, &app.app().id, channel, except, frame)
            }
            Adapter::Nats(c) => {
                c.publish(nats::Bus::Broadcast, &app.app().id, channel, except, frame)
            }
        }
    }

    /// Deliver a frame to every socket signed in as `user`.
    pub fn send_to_user(&self, app: &AppState, user: &str, frame: &Frame, except: Option<&str>) {
        app.send_to_user(user, frame, except);
        match self {
            Adapter::Local(_) => {}
            Adapter::Redis(c) => c.publish(redis::Bus::ToUser, &app.app().id, user, except, frame),
            Adapter::Nats(c) => c.publish(nats::Bus::ToUser, &app.app().id, user, except, frame),
        }
    }

    /// Close every socket signed in as `user`, on every node.
    pub fn terminate_user(&self, app: &AppState, user: &str) {
        app.terminate_user(user);
        let empty = Frame::from_static("");
        match self {
            Adapter::Local(_) => {}
            Adapter::Redis(c) => {
                c.publish(redis::Bus::Terminate, &app.app().id, user, None, &empty)
            }
            Adapter::Nats(c) => c.publish(nats::Bus::Terminate, &app.app().id, user, None, &empty),
        }
    }

    /// Join a channel. `occupied` and `member_added` in the answer are cluster-wide.
    pub async fn subscribe(
        &self,
        app: &AppState,
        channel: &str,
        sink: &Arc<Sink>,
        member: Option<Member>,
    ) -> Result<Joined, AdapterError> {
        let joined = match self {
            Adapter::Local(_) => {
                let max = Some(app.app().limits.max_presence_members);
                app.subscribe(channel, sink, member, max, true)?
            }
            Adapter::Redis(c) => c.subscribe(app, channel, sink, member).await?,
            Adapter::Nats(c) => c.subscribe(app, channel, sink, member).await?,
        };
        if !joined.already {
            self.count_changed(app, channel);
        }
        Ok(joined)
    }

    /// Leave a channel; `vacated` and `member_removed` are cluster-wide. The
    /// removed member (if any) is announced to the channel here.
    pub async fn unsubscribe(&self, app: &AppState, channel: &str, key: u64) -> Option<Left> {
        let left = match self {
            Adapter::Local(_) => app.unsubscribe(channel, key)?,
            Adapter::Redis(c) => c.unsubscribe(app, channel, key).await?,
            Adapter::Nats(c) => c.unsubscribe(app, channel, key).await?,
        };
        self.count_changed(app, channel);
        if let Some(m) = &left.member_removed {
            let frame = Frame::from(protocol::member_removed(channel, &m.id_json));
            self.broadcast(app, channel, &frame, None);
        }
        Some(left)
    }

    /// Subscription and user counts across the cluster, if the channel is occupied.
    pub async fn counts(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Result<Option<Counts>, AdapterError> {
        match self {
            Adapter::Local(_) => Ok(app.counts(channel)),
            Adapter::Redis(c) => c.counts(app, channel).await,
            Adapter::Nats(c) => c.counts(app, channel).await,
        }
    }

    /// Occupied channels starting with `prefix`, across the cluster.
    pub async fn channels(
        &self,
        app: &AppState,
        prefix: &str,
    ) -> Result<Vec<(String, Counts)>, AdapterError> {
        match self {
            Adapter::Local(_) => Ok(app.channels(prefix)),
            Adapter::Redis(c) => c.channels(app, prefix).await,
            Adapter::Nats(c) => c.channels(app, prefix).await,
        }
    }

    /// A presence channel's members, across the cluster.
    pub async fn members(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Result<Vec<Member>, AdapterError> {
        match self {
            Adapter::Local(_) => Ok(app.members(channel)),
            Adapter::Redis(c) => c.members(app, channel).await,
            Adapter::Nats(c) => c.members(app, channel).await,
        }
    }

    /// Keep the last API event of a cache channel (in Redis when clustered).
    pub async fn cache_put(
        &self,
        app: &AppState,
        channel: &str,
        frame: &Frame,
        data: &str,
        ttl: Duration,
    ) {
        app.cache_put(channel, frame, data, ttl);
        match self {
            Adapter::Local(_) => {}
            Adapter::Redis(c) => c.cache_put(app, channel, frame, data, ttl).await,
            Adapter::Nats(c) => c.cache_put(app, channel, frame, data, ttl).await,
        }
    }

    /// Take `points` of one of the app's per-second API budgets: on this node, or
    /// for the whole cluster with Redis. `None`: the limit is off (negative).
    pub async fn take_budget(
        &self,
        app: &AppState,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Result<Option<Result<rate::Usage, rate::Usage>>, AdapterError> {
        if limit < 0 {
            return Ok(None);
        }
        match self {
            Adapter::Local(_) => Ok(match api {
                rate::Api::Events => app.backend_events.take(limit, points),
                rate::Api::Reads => app.read_requests.take(limit, points),
            }),
            Adapter::Redis(c) => c.take_budget(app, api, limit, points).await.map(Some),
            Adapter::Nats(c) => c.take_budget(app, api, limit, points).await.map(Some),
        }
    }

    /// The cached frame, its raw data and the time it has left.
    pub async fn cache_get(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Option<(Frame, String, Duration)> {
        match self {
            Adapter::Local(_) => app.cache_get(channel),
            Adapter::Redis(c) => c
                .cache_get(app, channel)
                .await
                .or_else(|| app.cache_get(channel)),
            Adapter::Nats(c) => c
                .cache_get(app, channel)
                .await
                .or_else(|| app.cache_get(channel)),
        }
    }

    /// Sockets connected to this node.
    pub fn total_connections(&self) -> usize {
        self.registry().total_connections()
    }

    /// Leave the cluster: remove this node's members and keys at once.
    pub async fn shutdown(&self) {
        match self {
            Adapter::Local(_) => {}
            Adapter::Redis(c) => c.shutdown().await,
            Adapter::Nats(c) => c.shutdown().await,
        }
    }
}

/// The `subscription_succeeded` data for a presence channel.
pub(crate) fn presence_of(members: &[Member]) -> String {
    presence_data(members.iter())
}
