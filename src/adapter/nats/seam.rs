//! The NATS backend under the adapter's seam: each primitive is one of the
//! methods beside it (one publish, or a JetStream read or compare-and-set).

use super::{lock, Cluster};
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
        let peers = lock(&self.peers);
        peers.values().filter_map(|p| p.conns.get(app)).sum()
    }

    fn peer_nodes(&self) -> Vec<String> {
        Cluster::peer_nodes(self)
    }

    /// Dropped (and counted) when NATS is down or the queue is full.
    fn publish(&self, kind: Bus, app: &str, target: &str, except: Option<&str>, frame: &Frame) {
        if !self.healthy() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let subject = match kind {
            Bus::Broadcast | Bus::Member(_) | Bus::Count => self.names.channel(app, target),
            Bus::ToUser | Bus::Terminate | Bus::Watch(_) => self.names.app(app),
        };
        let msg = self.bus_message(kind, app, target, except, frame);
        if self.bus_tx.try_send((subject, msg)).is_err() {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            tracing::warn!(dropped = n, "cluster bus queue full: message dropped");
        }
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

    fn occupy<'a>(
        &'a self,
        app: &'a str,
        channel: &'a str,
        present: bool,
    ) -> BoxFuture<'a, Option<bool>> {
        Box::pin(Cluster::occupy(self, app, channel, present))
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

    fn leave_failed(&self, app: &str, channel: &str, member: Member) {
        Cluster::leave_failed(self, app, channel, member)
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
        _online: bool,
    ) -> Answer<'a, Option<bool>> {
        // The entry follows this node's registry, whichever way it changed since.
        Box::pin(self.user_changed(app, user))
    }

    fn online_users<'a>(&'a self, app: &'a str, ids: &'a [String]) -> Answer<'a, Vec<bool>> {
        Box::pin(Cluster::online_users(self, app, ids))
    }

    fn shutdown(&self) -> BoxFuture<'_, ()> {
        Box::pin(Cluster::shutdown(self))
    }
}
