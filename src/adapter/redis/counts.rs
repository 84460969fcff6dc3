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

use super::keys::sub_field;
use super::{lock, unavailable, Cluster};
use crate::adapter::cluster::Cluster as _;
use crate::adapter::AdapterError;
use crate::channel::registry::counter::ChannelKey;

impl Cluster {
    /// The other live nodes, from the last heartbeat.
    pub(crate) fn peer_nodes(&self) -> Vec<String> {
        lock(&self.peers).clone()
    }

    /// Subscriptions to each channel on the other live nodes.
    pub(crate) async fn remote_subscriptions(
        &self,
        channels: &[ChannelKey],
    ) -> Result<Vec<usize>, AdapterError> {
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
    }

    /// This node's counts of `channels` were written: tell the other nodes of
    /// those whose app sends counts.
    pub(super) fn counts_written(&self, channels: &[ChannelKey]) {
        for (app, channel) in channels {
            self.count_written(self.registry.app(app).as_deref(), channel);
        }
    }
}
