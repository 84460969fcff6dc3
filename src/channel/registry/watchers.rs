//! Watchlists: which of this node's sockets watch which user ids, for
//! `pusher_internal:watchlist_events` (whether a user is online is the
//! adapter's answer: signed in on this node, or anywhere in the cluster).

use super::{lock, AppState};
use crate::socket::{Frame, Sink};
use std::collections::HashMap;
use std::sync::Arc;

/// Watched user id -> the sockets watching it, by key.
pub(super) type Watchers = HashMap<String, HashMap<u64, Arc<Sink>>>;

impl AppState {
    /// `sink` watches every id of `ids`.
    pub fn watch(&self, sink: &Arc<Sink>, ids: &[String]) {
        let mut watchers = lock(&self.watchers);
        for id in ids {
            let sockets = watchers.entry(id.clone()).or_default();
            sockets.insert(sink.key, sink.clone());
        }
    }

    /// The socket `key` stops watching `ids`.
    pub fn unwatch(&self, key: u64, ids: &[String]) {
        let mut watchers = lock(&self.watchers);
        for id in ids {
            if let Some(sockets) = watchers.get_mut(id) {
                sockets.remove(&key);
                if sockets.is_empty() {
                    watchers.remove(id);
                }
            }
        }
    }

    /// Queue `frame` for every socket here that watches `user`; answers how many took it.
    pub fn tell_watchers(&self, user: &str, frame: &Frame) -> usize {
        let targets: Vec<Arc<Sink>> = match lock(&self.watchers).get(user) {
            Some(sockets) => sockets.values().cloned().collect(),
            None => return 0,
        };
        targets.iter().filter(|s| s.send(frame)).count()
    }

    /// Whether each of `ids` is signed in on this node.
    pub fn signed_in_here(&self, ids: &[String]) -> Vec<bool> {
        let state = lock(&self.state);
        ids.iter().map(|id| state.users.contains_key(id)).collect()
    }

    /// Users signed in on this node (to register again after a Redis outage).
    pub fn signed_in_users(&self) -> Vec<String> {
        lock(&self.state).users.keys().cloned().collect()
    }
}
