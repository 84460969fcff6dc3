//! `pusher_internal:subscription_count` (apps with `enable_subscription_count`):
//! sent to the subscribers of a non-presence channel when its count, across the
//! cluster, changes. pusher-js re-emits it on the channel as
//! `pusher:subscription_count` with `{subscription_count: N}`.
//!
//! A subscribe or unsubscribe marks the channel in the registry's
//! [`Counter`](crate::channel::registry::counter::Counter) (in a cluster, so does a
//! peer's count message, see [`super::redis`]'s and [`super::nats`]'s `counts.rs`). One task per node
//! wakes on a mark, waits one [`TICK`] so a burst is coalesced, reads the counts
//! of the channels whose throttle interval has passed (N × 10 ms after the last
//! count sent, at most 5 s: see the counter's docs) and sends each changed one to
//! this node's subscribers. It keeps ticking while marked channels wait, and
//! sleeps when none do. Each node tells only its own subscribers; the count is the
//! same on every node once the per-node counts have been flushed. A clustered
//! node also looks every second whether its live peers changed (a node died or
//! joined) or it is back from a Redis or NATS outage, and then counts every
//! channel again.

use super::Adapter;
use crate::channel::registry::counter::{counted, ChannelKey};
use crate::channel::registry::AppState;
use crate::protocol;
use crate::socket::Frame;
use std::time::{Duration, Instant};

/// How long a marked channel waits, at least, so that a burst of joins is one count.
pub(crate) const TICK: Duration = Duration::from_millis(25);
/// How often a clustered node checks whether its peers changed.
const PEER_CHECK: Duration = Duration::from_secs(1);

impl Adapter {
    /// A subscription of `channel` came or went.
    pub(super) fn count_changed(&self, app: &AppState, channel: &str) {
        let config = app.app();
        if config.raw.enable_subscription_count && counted(channel) {
            self.registry().counter.mark(&config.raw.id, channel);
        }
    }

    /// Start the node's count task; without a tokio runtime (a node built
    /// for a fuzz target, say) there is none, and no counts are sent.
    pub(crate) fn start_counts(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::debug!("no runtime: subscription counts are not sent");
            return;
        };
        let adapter = self.clone();
        runtime.spawn(async move { adapter.run_counts().await });
    }

    async fn run_counts(&self) {
        let counter = &self.registry().counter;
        let clustered = self.cluster.is_some();
        let mut view = (self.peers(), self.healthy());
        loop {
            tokio::select! {
                _ = counter.wake.notified() => {}
                _ = tokio::time::sleep(PEER_CHECK), if clustered => {}
            }
            let now = (self.peers(), self.healthy());
            if now != view {
                let back = now.1 && !view.1;
                view = now;
                self.cluster_changed(back);
            }
            loop {
                tokio::time::sleep(TICK).await;
                if !self.send_counts().await {
                    break;
                }
            }
        }
    }

    fn peers(&self) -> Vec<String> {
        self.cluster
            .as_ref()
            .map_or_else(Vec::new, |c| c.peer_nodes())
    }

    /// A peer came or went, or Redis or NATS came back: every count here may be
    /// off. After an outage the peers are told too (their bus messages were
    /// lost): with NATS by the resync, which writes every count again.
    fn cluster_changed(&self, reconnected: bool) {
        let mut channels = Vec::new();
        let apps = self.apps().into_iter();
        for app in apps.filter(|a| a.app().raw.enable_subscription_count) {
            for (channel, _) in app.channels("") {
                self.count_changed(&app, &channel);
                channels.push((app.app().raw.id.clone(), channel));
            }
        }
        if let (Some(c), true) = (&self.cluster, reconnected) {
            c.recounted(&channels);
        }
    }

    /// Send the counts that are due; answers whether marked channels still wait.
    async fn send_counts(&self) -> bool {
        let counter = &self.registry().counter;
        let now = Instant::now();
        let (due, waiting) = counter.due(now);
        let here: Vec<(ChannelKey, usize)> = due
            .into_iter()
            .filter_map(|key| match self.local_count(&key) {
                0 => {
                    counter.forget(&key);
                    None
                }
                n => Some((key, n)),
            })
            .collect();
        if here.is_empty() {
            return waiting;
        }
        let keys: Vec<ChannelKey> = here.iter().map(|(k, _)| k.clone()).collect();
        let remote = match &self.cluster {
            None => Ok(vec![0; keys.len()]),
            Some(c) => c.remote_subscriptions(&keys).await,
        };
        let Ok(remote) = remote else {
            // Retried while the node is connected; after an outage every channel is counted again.
            let retry = self.healthy();
            tracing::debug!(
                channels = keys.len(),
                retry,
                "subscription counts not read from the cluster"
            );
            if retry {
                keys.iter()
                    .for_each(|(app, channel)| counter.mark(app, channel));
            }
            return waiting || retry;
        };
        for ((key, local), elsewhere) in here.into_iter().zip(remote) {
            let total = local + elsewhere;
            if counter.changed(&key, total, now) {
                self.tell_count(&key, total);
            }
        }
        waiting
    }

    fn local_count(&self, (app, channel): &ChannelKey) -> usize {
        let app = self.app(app);
        app.and_then(|a| a.counts(channel))
            .map_or(0, |c| c.subscriptions)
    }

    /// `subscription_count` to this node's subscribers of the channel.
    fn tell_count(&self, (app, channel): &ChannelKey, total: usize) {
        let Some(state) = self.app(app) else { return };
        let frame = Frame::from(protocol::subscription_count(channel, total));
        let told = state.broadcast(channel, &frame, None);
        tracing::trace!(app, channel, total, told, "subscription_count sent");
    }
}
