//! The NATS backend under the adapter's seam: each primitive is one publish, or
//! a JetStream read or compare-and-set. What the cluster answers as a whole is
//! here too: channel counts and lists, presence members, cache channels and the
//! HTTP API's rate-limit budgets.

use super::names::{self, Names};
use super::queries::{since_epoch, Cached};
use super::{chan, counts, lock, sync, unavailable, watch, Cluster};
use crate::adapter::bus::Bus;
use crate::adapter::cluster::{self, Ack, Answer, Budget, Presence};
use crate::channel::registry::counter::ChannelKey;
use crate::channel::registry::JoinError;
use crate::channel::registry::{AppState, Counts};
use crate::channel::Member;
use crate::rate;
use crate::socket::Frame;
use async_nats::jetstream::kv::{Operation, UpdateErrorKind};
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use std::sync::atomic::Ordering;
use std::time::Duration;

impl cluster::Cluster for Cluster {
    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn remote_connections(&self, app: &str) -> usize {
        let peers = lock(&self.peers);
        peers.values().filter_map(|p| p.conns.get(app)).sum()
    }

    /// The other live nodes, from their heartbeats (sorted).
    fn peer_nodes(&self) -> Vec<String> {
        let mut peers: Vec<String> = lock(&self.peers).keys().cloned().collect();
        peers.sort();
        peers
    }

    fn put(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
        ack: Option<Ack>,
    ) {
        self.enqueue(kind, app, target, except, frame, ack);
    }

    /// Hear the channel's subject (if not yet) and wait until the server has it.
    fn listen<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, ()> {
        Box::pin(async move {
            let Some(client) = self.client() else {
                return Ok(());
            };
            let subject = self.names.channel(app, channel);
            let ping = self.names.ping();
            self.interest.listen(&client, &subject, &ping).await;
            Ok(())
        })
    }

    /// Stop hearing the channel's subject if it has no local subscriber.
    fn unlisten(&self, app: &AppState, channel: &str) {
        let subject = self.names.channel(&app.app().raw.id, channel);
        self.interest
            .release(&subject, || app.counts(channel).is_none());
    }

    fn mark_dirty(&self, app: &str, channel: &str) {
        lock(&self.dirty).insert((app.to_string(), channel.to_string()));
    }

    /// Add this node to (remove it from) the channel's occupancy: `Some(true)`
    /// when that was the cluster-wide transition, `None` when JetStream cannot say.
    fn occupy<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        present: bool,
    ) -> BoxFuture<'a, Option<bool>> {
        Box::pin(async move {
            let kv = self.buckets().ok()?;
            let key = Names::chan_key(app, channel);
            let node = &self.names.node;
            let change = chan::change(&kv.chan, &key, |c| match present {
                true => c.nodes.insert(node.clone()) && c.nodes.len() == 1,
                false => c.nodes.remove(node) && c.nodes.is_empty(),
            });
            match change.await {
                Ok((transition, _)) => Some(transition),
                Err(e) => {
                    tracing::warn!(error = %e, channel, "occupancy update failed");
                    None
                }
            }
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
            let kv = self.buckets()?;
            let key = Names::chan_key(app, channel);
            let node = &self.names.node;
            let (added, chan) = chan::change(&kv.chan, &key, |c| c.join(node, m, 1, max))
                .await
                .map_err(|e| unavailable("presence join", e))?;
            match added {
                None => Err(JoinError::PresenceFull.into()),
                Some(added) => Ok((added, chan.member_list(), chan.seq)),
            }
        })
    }

    /// One socket of `user` leaves the channel's presence entry: the member when
    /// the user's last socket in the cluster left.
    fn leave<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        user: &'a str,
    ) -> Answer<'a, Option<Member>> {
        Box::pin(async move {
            let kv = self.buckets()?;
            let key = Names::chan_key(app, channel);
            let node = &self.names.node;
            chan::change(&kv.chan, &key, |c| c.leave(node, user))
                .await
                .map(|(m, _)| m)
                .map_err(|e| unavailable("presence leave", e))
        })
    }

    /// A leave JetStream did not take: announced after reconnecting.
    fn leave_failed(&self, app: &str, channel: &str, member: Member) {
        let entry = (app.to_string(), channel.to_string(), member);
        lock(&self.failed_leaves).push(entry);
    }

    fn counts<'a>(&'a self, app: &'a AppState, channel: &'a str) -> Answer<'a, Option<Counts>> {
        Box::pin(async move {
            let id = app.app().raw.id.clone();
            let pattern = format!("*.{}.{}", names::token(&id), names::token(channel));
            let remote = self
                .remote_subs(&pattern)
                .await
                .map_err(|e| unavailable("counts", e))?;
            let local = app.counts(channel).map_or(0, |c| c.subscriptions);
            let subscriptions = local + remote.values().sum::<usize>();
            if subscriptions == 0 {
                return Ok(None);
            }
            let users = self.users(&id, channel).await?;
            Ok(Some(Counts {
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
            let id = app.app().raw.id.clone();
            let pattern = format!("*.{}.>", names::token(&id));
            let mut totals = self
                .remote_subs(&pattern)
                .await
                .map_err(|e| unavailable("channels", e))?;
            totals.retain(|name, _| name.starts_with(prefix));
            for (name, c) in app.channels(prefix) {
                *totals.entry(name).or_default() += c.subscriptions;
            }
            let mut out = Vec::new();
            for (name, subscriptions) in totals.into_iter().filter(|(_, n)| *n > 0) {
                let users = match name.starts_with("presence-") {
                    true => self.users(&id, &name).await?,
                    false => 0,
                };
                out.push((
                    name,
                    Counts {
                        subscriptions,
                        users,
                    },
                ));
            }
            Ok(out)
        })
    }

    fn members<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, Vec<Member>> {
        Box::pin(async move {
            let kv = self.buckets()?;
            let key = Names::chan_key(app, channel);
            let (entry, _, _) = chan::read(&kv.chan, &key)
                .await
                .map_err(|e| unavailable("members", e))?;
            Ok(entry.member_list())
        })
    }

    /// Subscriptions to each channel on the other live nodes.
    fn remote_subscriptions<'a>(&'a self, channels: &'a [ChannelKey]) -> Answer<'a, Vec<usize>> {
        Box::pin(async move {
            let peers = self.peer_nodes();
            let mut totals = vec![0; channels.len()];
            if peers.is_empty() {
                return Ok(totals);
            }
            let kv = self.buckets()?;
            let mut keys = Vec::with_capacity(channels.len() * peers.len());
            for (i, (app, channel)) in channels.iter().enumerate() {
                keys.extend(peers.iter().map(|p| (i, Names::subs_key(p, app, channel))));
            }
            let counts: Vec<(usize, usize)> = futures_util::stream::iter(keys)
                .map(|(i, key)| {
                    let subs = kv.subs.clone();
                    async move { counts::subs_of(&subs, key).await.map(|n| (i, n)) }
                })
                .buffer_unordered(counts::IN_FLIGHT)
                .try_collect()
                .await
                .map_err(|e| unavailable("subscription counts", e))?;
            for (i, n) in counts {
                totals[i] += n;
            }
            Ok(totals)
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
            let Ok(kv) = self.buckets() else { return };
            let cached = Cached {
                frame: frame.to_string(),
                data: data.to_string(),
                until: (since_epoch() + ttl).as_millis() as u64,
            };
            let Ok(value) = serde_json::to_vec(&cached) else {
                return;
            };
            let key = Names::chan_key(app, channel);
            if let Err(e) = kv.cache.put(key, value.into()).await {
                tracing::warn!(error = %e, channel, "cache write to JetStream failed");
            }
        })
    }

    fn cache_get<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
    ) -> BoxFuture<'a, Option<(Frame, String, Duration)>> {
        Box::pin(async move {
            let kv = self.buckets().ok()?;
            let key = Names::chan_key(app, channel);
            let value = kv.cache.get(key).await.ok()??;
            let cached: Cached = serde_json::from_slice(&value).ok()?;
            let left = Duration::from_millis(cached.until).checked_sub(since_epoch())?;
            Some((Frame::from(cached.frame), cached.data, left))
        })
    }

    /// Take points from one of the app's per-second API budgets, shared by every
    /// node: a compare-and-set on the second's counter.
    fn take_budget<'a>(
        &'a self,
        app: &'a str,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Answer<'a, Budget> {
        Box::pin(async move {
            let kv = self.buckets()?;
            let now = since_epoch();
            let key = format!("{}.{}.{}", names::token(app), api.name(), now.as_secs());
            for _ in 0..64 {
                let entry = kv
                    .rate
                    .entry(key.as_str())
                    .await
                    .map_err(|e| unavailable("rate limit", e))?;
                let (used, revision) = match entry {
                    Some(e) if e.operation == Operation::Put => {
                        let used = std::str::from_utf8(&e.value)
                            .ok()
                            .and_then(|v| v.parse().ok());
                        (used.unwrap_or(0), e.revision)
                    }
                    Some(e) => (0, e.revision),
                    None => (0, 0),
                };
                if used + points > limit {
                    return Ok(rate::Usage::in_second(limit, used, false, now));
                }
                let value = (used + points).to_string();
                match kv.rate.update(key.as_str(), value.into(), revision).await {
                    Ok(_) => return Ok(rate::Usage::in_second(limit, used + points, true, now)),
                    Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                    Err(e) => return Err(unavailable("rate limit", e)),
                }
            }
            Err(unavailable("rate limit", "too many concurrent takes"))
        })
    }

    fn online_changed<'a>(
        &'a self,
        app: &'a AppState,
        user: &'a str,
        _online: bool,
    ) -> Answer<'a, Option<bool>> {
        // The entry follows this node's registry, whichever way it changed since.
        Box::pin(self.user_changed(app, user))
    }

    /// Whether each of `ids` is signed in on some node.
    fn online_users<'a>(&'a self, app: &'a str, ids: &'a [String]) -> Answer<'a, Vec<bool>> {
        Box::pin(async move {
            let kv = self.buckets()?;
            let keys: Vec<String> = ids.iter().map(|u| Names::chan_key(app, u)).collect();
            futures_util::stream::iter(keys)
                .map(|key| {
                    let online = kv.online.clone();
                    async move {
                        watch::read(&online, &key)
                            .await
                            .map(|(n, _, _)| !n.is_empty())
                    }
                })
                .buffered(watch::IN_FLIGHT)
                .try_collect()
                .await
                .map_err(|e| unavailable("watchlist status", e))
        })
    }

    /// Leave the cluster at once (after the sockets have gone).
    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            if let Ok(kv) = self.buckets() {
                sync::forget_own(self, &kv).await;
            }
            self.healthy.store(false, Ordering::Release);
            if let Some(client) = self.client() {
                let _ = tokio::time::timeout(Duration::from_secs(1), client.flush()).await;
            }
        })
    }
}
