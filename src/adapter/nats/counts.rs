//! Cluster-wide subscription counts for `pusher_internal:subscription_count`.
//!
//! A channel's count is this node's subscribers plus each live peer's entry
//! `{peer}.{app}.{channel}` in `P_subs` (the same entries channel queries sum,
//! flushed every 20 ms when changed). After a node has written a changed count
//! of a channel whose app wants counts, it puts a `C` message on the channel's
//! subject (after JetStream acknowledged the write, so a node that reads the
//! entries on hearing it sees the new value). Only nodes with subscribers of
//! the channel listen to that subject, and only they send counts: each marks
//! the channel, and [`crate::adapter::counts`] reads the total (one direct get
//! per peer and channel due, 32 in flight) and tells its own subscribers. A
//! node whose first subscriber joins reads the entries after its subscription
//! reached the server, so it either sees a peer's write or hears its `C`. A
//! peer that dies, leaves or joins changes the list of live peers, and a node
//! back from an outage rewrites (and so announces) all its counts: every
//! counted channel is marked then.

use super::Cluster;
use crate::channel::registry::counter::counted;
use crate::channel::registry::AppState;
use async_nats::jetstream::kv::{EntryError, Operation, Store};

/// Direct gets in flight at once.
pub(super) const IN_FLIGHT: usize = 32;

impl Cluster {
    /// A peer's count of the channel changed: count it again if it has subscribers here.
    pub(super) fn peer_count_changed(&self, app: &AppState, channel: &str) {
        let config = app.app();
        let here = app.counts(channel).is_some();
        if config.raw.enable_subscription_count && counted(channel) && here {
            self.registry.counter.mark(&config.raw.id, channel);
        }
    }
}

/// One node's count of one channel (0 when it has no entry).
pub(super) async fn subs_of(subs: &Store, key: String) -> Result<usize, EntryError> {
    let entry = subs.entry(key).await?;
    let live = entry.filter(|e| e.operation == Operation::Put);
    let n = live.and_then(|e| std::str::from_utf8(&e.value).ok()?.parse().ok());
    Ok(n.unwrap_or(0))
}
