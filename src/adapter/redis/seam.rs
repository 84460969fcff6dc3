//! The Redis backend under the adapter's seam: each primitive is one script or
//! pipeline per round trip. What the cluster answers as a whole is here too:
//! channel counts and lists, presence members, cache channels and the HTTP
//! API's rate-limit budgets.

use super::keys::sub_field;
use super::{keys, lock, scripts, state, unavailable, Cluster, Outgoing, SUBSCRIBE_WAIT};
use crate::adapter::bus::Bus;
use crate::adapter::cluster::{self, Ack, AdapterError, Answer, Budget, Presence};
use crate::channel::registry::counter::ChannelKey;
use crate::channel::registry::JoinError;
use crate::channel::registry::{AppState, Counts};
use crate::channel::Member;
use crate::protocol;
use crate::rate;
use crate::socket::Frame;
use ::redis::AsyncCommands;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl cluster::Cluster for Cluster {
    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn remote_connections(&self, app: &str) -> usize {
        lock(&self.remote_conns).get(app).copied().unwrap_or(0)
    }

    /// The other live nodes, from the last heartbeat.
    fn peer_nodes(&self) -> Vec<String> {
        lock(&self.peers).clone()
    }

    /// Dropped (and counted) when the queue is full.
    fn put(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
        ack: Option<Ack>,
    ) {
        let subject = match kind.per_channel() {
            true => self.keys.subject(app, target),
            false => self.keys.bus(),
        };
        // A message someone waits for (an API publish) is delivered here on its echo.
        let origin = crate::adapter::bus::origin(&self.keys.node, ack.is_some());
        let payload = crate::adapter::bus::encode(&origin, kind, app, target, except, frame);
        let msg = Outgoing {
            subject,
            payload,
            ack,
        };
        if self.bus_tx.try_send(msg).is_err() && crate::metrics::bus_dropped() {
            tracing::warn!("cluster bus queue full: messages dropped (soketi_bus_dropped_total)");
        }
    }

    /// Make sure this node hears the channel's subject before a socket is told it
    /// joined: at once when the subject is live, else after Redis acknowledged the
    /// `SUBSCRIBE` (one round trip, paid by a node's first subscribers to a channel).
    /// Not acknowledged within [`SUBSCRIBE_WAIT`]: `Unavailable`, and the join is
    /// refused (`pusher:subscription_error`), never told it succeeded before remote
    /// events can arrive. Without Redis there is nothing to wait for: the bus is
    /// down for every channel, and a socket joins this node's delivery only.
    fn listen<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, ()> {
        Box::pin(async move {
            let subject = self.keys.subject(app, channel);
            if self.subjects.want(&subject, app, channel) || !self.healthy() {
                return Ok(());
            }
            if !self.subjects.until_live(&subject, SUBSCRIBE_WAIT).await {
                tracing::warn!(
                    channel,
                    "bus subscription not acknowledged in time: join refused"
                );
                return Err(AdapterError::Unavailable);
            }
            Ok(())
        })
    }

    fn unlisten(&self, app: &AppState, channel: &str) {
        self.subjects
            .idle(&self.keys.subject(&app.app().raw.id, channel));
    }

    fn mark_dirty(&self, app: &str, channel: &str) {
        lock(&self.dirty).insert((app.to_string(), channel.to_string()));
    }

    /// The peers lost this node's count messages during the outage.
    fn recounted(&self, channels: &[ChannelKey]) {
        self.counts_written(channels)
    }

    fn occupy<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        present: bool,
    ) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async move {
            let nodes = self.occupancy(app, channel, present).await?;
            Some(nodes == usize::from(present))
        })
    }

    fn join<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        m: &'a Member,
        max: usize,
    ) -> Answer<'a, Presence> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            let (added, members, seq) =
                scripts::join(&mut conn, &self.keys, app, channel, m, 1, max)
                    .await
                    .map_err(|e| unavailable("presence join", e))?;
            match added {
                -1 => Err(JoinError::PresenceFull.into()),
                n => Ok((n == 1, members, seq)),
            }
        })
    }

    /// One socket of `user` leaves the channel's presence: the member when the
    /// user's last socket in the cluster left. Without Redis nothing is written
    /// (the leave is announced after reconnecting: [`super::repair`]).
    fn leave<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        user: &'a str,
    ) -> Answer<'a, Option<Member>> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            let removed = scripts::leave(&mut conn, &self.keys, app, channel, user)
                .await
                .map_err(|e| unavailable("presence leave", e))?;
            Ok(removed.then(|| Member {
                id_json: protocol::quote(user),
                id: user.to_string(),
                info_json: None,
            }))
        })
    }

    /// Announced after reconnecting, if the user is gone by then.
    fn leave_failed(&self, app: &str, channel: &str, member: Member) {
        let entry = (app.to_string(), channel.to_string(), member);
        lock(&self.failed_leaves).push(entry);
    }

    fn counts<'a>(&'a self, app: &'a AppState, channel: &'a str) -> Answer<'a, Option<Counts>> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            let peers = lock(&self.peers).clone();
            let field = keys::sub_field(&app.app().raw.id, channel);
            let local = app.counts(channel).map_or(0, |c| c.subscriptions);
            let mut pipe = ::redis::pipe();
            for peer in &peers {
                pipe.hget(self.keys.subs_of(peer), &field);
            }
            pipe.hget(self.keys.presence(&app.app().raw.id, channel), "count");
            let mut answers: Vec<Option<usize>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("counts", e))?;
            let users = answers.pop().flatten().unwrap_or(0);
            let subscriptions = local + answers.into_iter().flatten().sum::<usize>();
            Ok((subscriptions > 0).then_some(Counts {
                subscriptions,
                users,
            }))
        })
    }

    fn channels<'a>(
        &'a self,
        app: &'a AppState,
        prefix: &'a str,
    ) -> Answer<'a, Vec<(String, Counts)>> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            let peers = lock(&self.peers).clone();
            let mut totals: HashMap<String, usize> = app
                .channels(prefix)
                .into_iter()
                .map(|(n, c)| (n, c.subscriptions))
                .collect();
            for peer in &peers {
                let all: HashMap<String, usize> = conn
                    .hgetall(self.keys.subs_of(peer))
                    .await
                    .map_err(|e| unavailable("channels", e))?;
                for (field, n) in all {
                    if let Some(channel) = keys::channel_of(&field, &app.app().raw.id)
                        .filter(|c| c.starts_with(prefix))
                    {
                        *totals.entry(channel.to_string()).or_default() += n;
                    }
                }
            }
            let mut pipe = ::redis::pipe();
            let names: Vec<String> = totals.keys().cloned().collect();
            for name in &names {
                pipe.hget(self.keys.presence(&app.app().raw.id, name), "count");
            }
            let users: Vec<Option<usize>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("channels", e))?;
            let counts = names.into_iter().zip(users).map(|(name, users)| {
                let subscriptions = totals[&name];
                (
                    name,
                    Counts {
                        subscriptions,
                        users: users.unwrap_or(0),
                    },
                )
            });
            Ok(counts.filter(|(_, c)| c.subscriptions > 0).collect())
        })
    }

    fn members<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, Vec<Member>> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            scripts::members(&mut conn, &self.keys, app, channel)
                .await
                .map_err(|e| unavailable("members", e))
        })
    }

    /// Subscriptions to each channel on the other live nodes.
    fn remote_subscriptions<'a>(&'a self, channels: &'a [ChannelKey]) -> Answer<'a, Vec<usize>> {
        Box::pin(async move {
            let peers = self.peer_nodes();
            if peers.is_empty() {
                return Ok(vec![0; channels.len()]);
            }
            let mut conn = self.conn()?;
            let mut pipe = ::redis::pipe();
            for (app, channel) in channels {
                let field = sub_field(app, channel);
                for peer in &peers {
                    pipe.hget(self.keys.subs_of(peer), &field);
                }
            }
            let answers: Vec<Option<usize>> = pipe
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("subscription counts", e))?;
            let per_channel = answers.chunks(peers.len());
            Ok(per_channel.map(|c| c.iter().flatten().sum()).collect())
        })
    }

    fn cache_put<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        frame: &'a Frame,
        data: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(async move {
            let Ok(mut conn) = self.conn() else { return };
            let key = self.keys.cache(app, channel);
            let mut pipe = ::redis::pipe();
            pipe.hset_multiple(&key, &[("frame", frame.as_str()), ("data", data)])
                .pexpire(&key, ttl.as_millis() as i64);
            if let Err(e) = pipe.query_async::<()>(&mut conn).await {
                tracing::warn!(error = %e, channel, "cache write to Redis failed");
            }
        })
    }

    fn cache_get<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
    ) -> BoxFuture<'a, Option<(Frame, String, Duration)>> {
        Box::pin(async move {
            let mut conn = self.conn().ok()?;
            let key = self.keys.cache(app, channel);
            let mut pipe = ::redis::pipe();
            pipe.hget(&key, "frame").hget(&key, "data").pttl(&key);
            let (frame, data, ttl): (Option<String>, Option<String>, i64) =
                pipe.query_async(&mut conn).await.ok()?;
            Some((
                Frame::from(frame?),
                data?,
                Duration::from_millis(ttl.max(0) as u64),
            ))
        })
    }

    /// Take points from one of the app's per-second API budgets, shared by every
    /// node: one script per request, windows aligned on seconds of Unix time.
    fn take_budget<'a>(
        &'a self,
        app: &'a str,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Answer<'a, Budget> {
        Box::pin(async move {
            let mut conn = self.conn()?;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            let key = self.keys.rate(app, api.name(), now.as_secs());
            let (taken, used) = scripts::take(&mut conn, key, points, limit)
                .await
                .map_err(|e| unavailable("rate limit", e))?;
            Ok(rate::Usage::in_second(limit, used, taken, now))
        })
    }

    fn online_changed<'a>(
        &'a self,
        app: &'a AppState,
        user: &'a str,
        online: bool,
    ) -> Answer<'a, Option<bool>> {
        Box::pin(async move {
            let changed = match online {
                true => self.user_signed_in(app, user).await?,
                false => self.user_signed_out(app, user).await?,
            };
            Ok(changed.then_some(online))
        })
    }

    /// Whether each of `ids` is signed in on some node.
    fn online_users<'a>(&'a self, app: &'a str, ids: &'a [String]) -> Answer<'a, Vec<bool>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(Vec::new());
            }
            let mut conn = self.conn()?;
            let fields: Vec<String> = ids.iter().map(|id| format!("u|{id}")).collect();
            let counts: Vec<Option<i64>> = ::redis::cmd("HMGET")
                .arg(self.keys.online(app))
                .arg(&fields)
                .query_async(&mut conn)
                .await
                .map_err(|e| unavailable("watchlist status", e))?;
            Ok(counts.into_iter().map(|c| c.unwrap_or(0) > 0).collect())
        })
    }

    /// Leave the cluster at once (after the sockets have gone).
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(mut conn) = self.conn() {
                if let Err(e) = state::forget_node(&mut conn, &self.keys, &self.keys.node).await {
                    tracing::warn!(error = %e, "could not remove this node's keys");
                }
            }
            self.healthy.store(false, Ordering::Release);
        })
    }
}
