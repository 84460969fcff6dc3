//! Cluster-wide subscription counts for `pusher_internal:subscription_count`.
//!
//! A channel's count is this node's subscribers plus what each live peer wrote
//! in its `P:subs:{node}` hash (flushed every 20 ms). After a node has written a
//! changed count of a channel whose app wants counts, it puts a `C` message on
//! the bus (after the write, on the same connection, so a node that reads the
//! hashes on hearing it sees the new value); every node with subscribers of the
//! channel then marks it, and [`crate::adapter::counts`] reads the total (one
//! pipelined round trip for all channels due) and tells its own subscribers. A
//! peer that dies or joins changes the list of live peers: every counted channel
//! here is marked then.

use super::Cluster;
use crate::adapter::cluster::Cluster as _;
use crate::channel::registry::counter::ChannelKey;

impl Cluster {
    /// This node's counts of `channels` were written: tell the other nodes of
    /// those whose app sends counts.
    pub(super) fn counts_written(&self, channels: &[ChannelKey]) {
        for (app, channel) in channels {
            self.count_written(self.registry.app(app).as_deref(), channel);
        }
    }
}
