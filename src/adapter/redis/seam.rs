//! The Redis backend under the adapter's seam: each primitive is one of the
//! methods beside it (one script or pipeline per round trip).

use super::{lock, Cluster, Outgoing};
use crate::adapter::bus::Bus;
use crate::adapter::cluster::{self, Answer, Budget, Presence};
use crate::channel::registry::counter::ChannelKey;
use crate::channel::registry::{AppState, Counts};
use crate::channel::Member;
use crate::rate;
use crate::socket::Frame;
use futures_util::future::BoxFuture;
use std::sync::atomic::Ordering;
use std::time::Duration;

impl cluster::Cluster for Cluster {
    fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Acquire)
    }

    fn remote_connections(&self, app: &str) -> usize {
        lock(&self.remote_conns).get(app).copied().unwrap_or(0)
    }

    fn peer_nodes(&self) -> Vec<String> {
        Cluster::peer_nodes(self)
    }

    /// Dropped (and counted) when Redis is down or the queue is full.
    fn publish(&self, kind: Bus, app: &str, target: &str, except: Option<&str>, frame: &Frame) {
        if !self.healthy() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let subject = match kind.per_channel() {
            true => self.keys.subject(app, target),
            false => self.keys.bus(),
        };
        let payload = self.bus_message(kind, app, target, except, frame);
        if self.bus_tx.try_send(Outgoing { subject, payload }).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped = n, "cluster bus queue full: message dropped");
        }
    }

    fn listen<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, ()> {
        Box::pin(Cluster::listen(self, app, channel))
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
        Box::pin(Cluster::join(self, app, channel, m, max))
    }

    fn leave<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        user: &'a str,
    ) -> Answer<'a, Option<Member>> {
        Box::pin(Cluster::leave(self, app, channel, user))
    }

    /// Announced after reconnecting, if the user is gone by then.
    fn leave_failed(&self, app: &str, channel: &str, member: Member) {
        let entry = (app.to_string(), channel.to_string(), member);
        lock(&self.failed_leaves).push(entry);
    }

    fn counts<'a>(&'a self, app: &'a AppState, channel: &'a str) -> Answer<'a, Option<Counts>> {
        Box::pin(Cluster::counts(self, app, channel))
    }

    fn channels<'a>(
        &'a self,
        app: &'a AppState,
        prefix: &'a str,
    ) -> Answer<'a, Vec<(String, Counts)>> {
        Box::pin(Cluster::channels(self, app, prefix))
    }

    fn members<'a>(&'a self, app: &'a str, channel: &'a str) -> Answer<'a, Vec<Member>> {
        Box::pin(Cluster::members(self, app, channel))
    }

    fn remote_subscriptions<'a>(&'a self, channels: &'a [ChannelKey]) -> Answer<'a, Vec<usize>> {
        Box::pin(Cluster::remote_subscriptions(self, channels))
    }

    fn cache_put<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        frame: &'a Frame,
        data: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, ()> {
        Box::pin(Cluster::cache_put(self, app, channel, frame, data, ttl))
    }

    fn cache_get<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
    ) -> BoxFuture<'a, Option<(Frame, String, Duration)>> {
        Box::pin(Cluster::cache_get(self, app, channel))
    }

    fn take_budget<'a>(
        &'a self,
        app: &'a str,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Answer<'a, Budget> {
        Box::pin(Cluster::take_budget(self, app, api, limit, points))
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

    fn online_users<'a>(&'a self, app: &'a str, ids: &'a [String]) -> Answer<'a, Vec<bool>> {
        Box::pin(Cluster::online_users(self, app, ids))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Cluster::shutdown(self))
    }
}
