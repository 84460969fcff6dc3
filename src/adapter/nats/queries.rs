//! What the seam's cluster-wide answers read (see `seam.rs`): the peers'
//! subscription entries, a channel's presence users and the cache channels' record.

use super::chan::{self, kv_err, KvError};
use super::names::{self, Names};
use super::scan::scan;
use super::{lock, unavailable, Cluster};
use crate::adapter::AdapterError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A cache channel's last event in JetStream.
#[derive(Serialize, Deserialize)]
pub(super) struct Cached {
    pub(super) frame: String,
    pub(super) data: String,
    /// Expiry, ms since the Unix epoch.
    pub(super) until: u64,
}

pub(super) fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Cluster {
    /// Subscription counts of the other live nodes, by channel, for keys matching `pattern`.
    pub(super) async fn remote_subs(
        &self,
        pattern: &str,
    ) -> Result<HashMap<String, usize>, KvError> {
        let kv = self.buckets().map_err(kv_err)?;
        let items = scan(&kv.subs, pattern).await?;
        let peers = lock(&self.peers);
        let mut totals = HashMap::new();
        for item in items {
            let Some((node, _, channel)) = names::parse_subs_key(&item.key) else {
                continue;
            };
            let n: usize = std::str::from_utf8(&item.value)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if peers.contains_key(&node) {
                *totals.entry(channel).or_default() += n;
            }
        }
        Ok(totals)
    }

    pub(super) async fn users(&self, app: &str, channel: &str) -> Result<usize, AdapterError> {
        let kv = self.buckets()?;
        let key = Names::chan_key(app, channel);
        let (entry, _, _) = chan::read(&kv.chan, &key)
            .await
            .map_err(|e| unavailable("presence count", e))?;
        Ok(entry.members.len())
    }
}
