//! Watchlists: which of this node's sockets watch which user ids, for
//! `pusher_internal:watchlist_events` (whether a user is online is the
//! adapter's answer: signed in on this node, or anywhere in the cluster).
//!
//! Each watcher remembers the status it was last told of each id, so it hears
//! only changes: an announcement that arrives late over the cluster bus (after
//! the status it got on signing in already said so) is not repeated.

use super::{lock, AppState};
use crate::socket::{Frame, Sink};
use std::collections::HashMap;
use std::sync::Arc;

pub(super) struct Watcher {
    sink: Arc<Sink>,
    /// Online as last told; `None` until the status on signing in is known.
    online: Option<bool>,
}

/// Watched user id -> the sockets watching it, by key.
pub(super) type Watchers = HashMap<String, HashMap<u64, Watcher>>;

impl AppState {
    /// `sink` watches every id of `ids` (their status not told yet).
    pub(crate) fn watch(&self, sink: &Arc<Sink>, ids: &[String]) {
        let mut watchers = lock(&self.watchers);
        for id in ids {
            let sockets = watchers.entry(id.clone()).or_default();
            let fresh = Watcher {
                sink: sink.clone(),
                online: None,
            };
            sockets.insert(sink.key, fresh);
        }
    }

    /// The socket `key` was told `online[i]` for `ids[i]`, unless a change
    /// reached it meanwhile (that one is queued behind, so it stands).
    pub(crate) fn watched_status(&self, key: u64, ids: &[String], online: &[bool]) {
        let mut watchers = lock(&self.watchers);
        for (id, &now) in ids.iter().zip(online) {
            let watcher = watchers.get_mut(id).and_then(|s| s.get_mut(&key));
            if let Some(w) = watcher.filter(|w| w.online.is_none()) {
                w.online = Some(now);
            }
        }
    }

    /// The socket `key` stops watching `ids`.
    pub(crate) fn unwatch(&self, key: u64, ids: &[String]) {
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

    /// `user` went online (or offline): queue `frame` for every socket here
    /// watching it that was not told so already; answers how many took it.
    pub(crate) fn tell_watchers(&self, user: &str, online: bool, frame: &Frame) -> usize {
        let targets: Vec<Arc<Sink>> = {
            let mut watchers = lock(&self.watchers);
            let Some(sockets) = watchers.get_mut(user) else {
                return 0;
            };
            let changed = sockets.values_mut().filter(|w| w.online != Some(online));
            changed
                .map(|w| {
                    w.online = Some(online);
                    w.sink.clone()
                })
                .collect()
        };
        targets.iter().filter(|s| s.send(frame)).count()
    }

    /// Whether each of `ids` is signed in on this node.
    pub(crate) fn signed_in_here(&self, ids: &[String]) -> Vec<bool> {
        let state = lock(&self.state);
        ids.iter().map(|id| state.users.contains_key(id)).collect()
    }

    /// Users signed in on this node (to register again after a Redis outage).
    pub(crate) fn signed_in_users(&self) -> Vec<String> {
        lock(&self.state).users.keys().cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Liveness, SocketId};

    /// A watcher hears each change once, also when the same change comes again
    /// (late over the bus) or was already in its status on signing in.
    #[test]
    fn a_watcher_is_told_only_changes() {
        let config = crate::config::RawConfig::default().build().unwrap();
        let app = AppState::new(config.apps.iter().next().unwrap());
        let sink = Sink::new(SocketId::new(1, 1), 64, Liveness::new(None));
        let ids = ["x".to_string(), "y".to_string()];
        app.watch(&sink, &ids);
        let on = Frame::from("on");
        assert_eq!(
            app.tell_watchers("y", true, &on),
            1,
            "during the status query"
        );
        app.watched_status(sink.key, &ids, &[true, false]);
        assert_eq!(
            app.tell_watchers("x", true, &on),
            0,
            "x was online in the status"
        );
        assert_eq!(app.tell_watchers("y", true, &on), 0, "y was told already");
        assert_eq!(app.tell_watchers("y", false, &on), 1);
        assert_eq!(app.tell_watchers("x", false, &on), 1);
        app.unwatch(sink.key, &ids);
        assert_eq!(app.tell_watchers("x", true, &on), 0);
    }
}
