//! Which channels owe their subscribers a `pusher_internal:subscription_count`,
//! and when each may have the next one: the throttle behind
//! [`crate::adapter::counts`], which reads the counts and sends the frames.
//!
//! The rule: a channel whose count was last sent as `N` gets the next one no
//! sooner than [`interval`]`(N)` = `N` × 10 ms, at most 5 s, after it. Changes
//! meanwhile are coalesced, and the latest count goes out once the interval has
//! passed (never a stale one; nothing when it is back to the value sent). So a
//! join storm into one channel costs each node at most about 100 count frames
//! per second while the channel has up to 500 subscribers and one frame per
//! subscriber every 5 s beyond, instead of one frame per subscriber per join
//! (quadratic in the storm's size).

use super::lock;
use crate::channel::{ChannelType, Kind};
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Per subscriber of the count last sent.
const PER_SUBSCRIBER: Duration = Duration::from_millis(10);
/// The longest a changed count waits.
pub(crate) const MAX_INTERVAL: Duration = Duration::from_secs(5);

/// The least time between two counts sent to a channel of `n` subscribers.
pub(crate) fn interval(n: usize) -> Duration {
    PER_SUBSCRIBER
        .saturating_mul(u32::try_from(n).unwrap_or(u32::MAX))
        .min(MAX_INTERVAL)
}

/// Channels that get counts: every kind but presence (whose members are the
/// count) and a user's own `#server-to-user-` channel.
pub(crate) fn counted(channel: &str) -> bool {
    !matches!(
        ChannelType::of(channel).kind,
        Kind::Presence | Kind::ServerToUser
    )
}

/// (app id, channel)
pub(crate) type ChannelKey = (String, String);

struct Sent {
    count: usize,
    at: Instant,
}

/// Channels whose count may have changed, and what each was last told.
#[derive(Default)]
pub struct Counter {
    dirty: Mutex<HashSet<ChannelKey>>,
    sent: Mutex<HashMap<ChannelKey, Sent>>,
    /// Woken when a channel becomes dirty.
    pub wake: tokio::sync::Notify,
}

impl Counter {
    /// The count of `channel` may have changed.
    pub(crate) fn mark(&self, app: &str, channel: &str) {
        let fresh = lock(&self.dirty).insert((app.to_string(), channel.to_string()));
        if fresh {
            self.wake.notify_one();
        }
    }

    /// Take the dirty channels whose interval has passed; the others stay.
    /// Also answers whether some stay (then the caller comes back later).
    pub(crate) fn due(&self, now: Instant) -> (Vec<ChannelKey>, bool) {
        let sent = lock(&self.sent);
        let mut dirty = lock(&self.dirty);
        let ready = |k: &ChannelKey| {
            sent.get(k)
                .is_none_or(|s| now.duration_since(s.at) >= interval(s.count))
        };
        let due: Vec<ChannelKey> = dirty.iter().filter(|k| ready(k)).cloned().collect();
        due.iter().for_each(|k| {
            dirty.remove(k);
        });
        (due, !dirty.is_empty())
    }

    /// Whether `count` differs from what the channel was last told; if so it is
    /// recorded as sent at `now`.
    pub(crate) fn changed(&self, key: &ChannelKey, count: usize, now: Instant) -> bool {
        let mut sent = lock(&self.sent);
        match sent.get(key) {
            Some(s) if s.count == count => false,
            _ => {
                sent.insert(key.clone(), Sent { count, at: now });
                true
            }
        }
    }

    /// The channel has no subscribers here any more: forget it.
    pub(crate) fn forget(&self, key: &ChannelKey) {
        lock(&self.sent).remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_interval_grows_with_the_channel_and_is_capped() {
        assert_eq!(interval(0), Duration::ZERO);
        assert_eq!(interval(1), Duration::from_millis(10));
        assert_eq!(interval(100), Duration::from_secs(1));
        assert_eq!(interval(500), MAX_INTERVAL);
        assert_eq!(interval(usize::MAX), MAX_INTERVAL);
    }

    #[test]
    fn changes_within_the_interval_are_coalesced() {
        let c = Counter::default();
        let t0 = Instant::now();
        let key = ("a".to_string(), "c".to_string());
        c.mark("a", "c");
        let (due, pending) = c.due(t0);
        assert_eq!((due.clone(), pending), (vec![key.clone()], false));
        assert!(c.changed(&key, 200, t0));
        c.mark("a", "c");
        c.mark("a", "c");
        assert_eq!(c.due(t0 + Duration::from_millis(500)), (vec![], true));
        let (due, pending) = c.due(t0 + Duration::from_secs(2));
        assert_eq!((due, pending), (vec![key.clone()], false));
        assert!(!c.changed(&key, 200, t0), "an unchanged count is not sent");
        assert!(c.changed(&key, 201, t0));
    }

    #[test]
    fn presence_and_user_channels_have_no_count() {
        assert!(counted("my-channel") && counted("private-x") && counted("cache-x"));
        assert!(!counted("presence-room") && !counted("#server-to-user-1"));
    }
}
