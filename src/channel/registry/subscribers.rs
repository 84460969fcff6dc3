//! A channel's local subscribers: a list walked by fan-out, with an index by
//! key once the channel is large, and for presence which announcements each
//! subscriber still needs.

use crate::socket::{Frame, Sink, Wakes};
use std::collections::HashMap;
use std::sync::Arc;

/// Channels with up to this many local subscribers are written to by the
/// publisher itself (lowest latency); larger fan-outs go through the sockets'
/// tasks, which run on every thread and batch under load.
pub(super) const DIRECT_FANOUT_MAX: usize = 32;

pub(super) struct Subscriber {
    pub(super) key: u64,
    pub(super) sink: Arc<Sink>,
    /// Presence channels only (boxed: most subscriptions are not presence).
    pub(super) presence: Option<Box<PresenceSub>>,
}

pub(super) struct PresenceSub {
    pub(super) user: String,
    pub(super) seen: Seen,
}

/// Which `member_added` a presence subscriber still needs. With the Redis
/// adapter, its `subscription_succeeded` lists every member up to its own
/// join's sequence number; later joins are announced with higher numbers.
pub(super) enum Seen {
    /// Every announcement (single node: members are announced under this lock).
    All,
    /// Those numbered above its own join.
    After(u64),
    /// Its join is still running in Redis: held until its number is known.
    Pending(Vec<(u64, Frame)>),
}

/// A channel's local subscribers; keys are unique. A list, because one or a
/// few per channel is the common case and fan-out walks it; past
/// [`INDEX_FROM`] subscribers an index by key keeps joins and leaves O(1).
#[derive(Default)]
pub(super) struct Subscribers {
    pub(super) list: Vec<Subscriber>,
    /// Key -> position in `list`, kept while the channel is large. Boxed: a
    /// pointer in every channel instead of a map's 48 bytes.
    #[allow(clippy::box_collection)]
    pub(super) index: Option<Box<HashMap<u64, usize>>>,
}

/// Subscribers from which a channel keeps an index (dropped below half of it).
const INDEX_FROM: usize = 16;

impl Subscribers {
    pub(super) fn position(&self, key: u64) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.list.iter().position(|s| s.key == key),
        }
    }

    pub(super) fn contains(&self, key: u64) -> bool {
        self.position(key).is_some()
    }

    pub(super) fn get_mut(&mut self, key: u64) -> Option<&mut Subscriber> {
        let at = self.position(key)?;
        self.list.get_mut(at)
    }

    pub(super) fn push(&mut self, s: Subscriber) {
        if self.list.capacity() == 0 {
            self.list.reserve_exact(1);
        }
        if let Some(index) = self.index.as_mut() {
            index.insert(s.key, self.list.len());
        }
        self.list.push(s);
        if self.index.is_none() && self.list.len() >= INDEX_FROM {
            let index = self.list.iter().enumerate().map(|(at, s)| (s.key, at));
            self.index = Some(Box::new(index.collect()));
        }
    }

    pub(super) fn remove(&mut self, key: u64) -> Option<Subscriber> {
        let at = self.position(key)?;
        let s = self.list.swap_remove(at);
        if let Some(index) = self.index.as_mut() {
            index.remove(&key);
            if let Some(moved) = self.list.get(at) {
                index.insert(moved.key, at);
            }
            if self.list.len() < INDEX_FROM / 2 {
                self.index = None;
            }
        }
        if self.list.len() * 4 < self.list.capacity() {
            self.list.shrink_to_fit();
        }
        Some(s)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Hand `frame` to every subscriber `wants` picks (it may also update them);
    /// returns how many took it. Large channels go through the sockets' tasks.
    pub(super) fn deliver(
        &mut self,
        frame: &Frame,
        mut wants: impl FnMut(&mut Subscriber) -> bool,
    ) -> usize {
        let direct = self.list.len() <= DIRECT_FANOUT_MAX;
        let targets = self
            .list
            .iter_mut()
            .filter_map(|s| wants(s).then_some(&s.sink));
        if direct {
            targets.filter(|sink| sink.send(frame)).count()
        } else {
            let mut wakes = Wakes::default();
            targets.filter(|sink| wakes.queue(sink, frame)).count()
        }
    }

    pub(super) fn len(&self) -> usize {
        self.list.len()
    }
}

#[cfg(test)]
#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Liveness, SocketId};

    fn subscriber(key: u64) -> Subscriber {
        let sink = Sink::new(SocketId::new(1, key), 4, Liveness::new(None));
        Subscriber {
            key,
            sink,
            presence: None,
        }
    }

    /// Joins and leaves in a scrambled order, across the size where the index
    /// is built and dropped: every lookup agrees with a plain set.
    #[test]
    fn subscribers_index_agrees_with_the_list() {
        let mut subs = Subscribers::default();
        let mut truth = std::collections::BTreeSet::new();
        let mut x: u64 = 7;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) % 40;
            if truth.contains(&key) {
                assert_eq!(subs.remove(key).map(|s| s.key), Some(key));
                truth.remove(&key);
            } else {
                assert!(subs.remove(key).is_none());
                subs.push(subscriber(key));
                truth.insert(key);
            }
            assert_eq!(subs.len(), truth.len());
            for k in 0..40 {
                assert_eq!(subs.contains(k), truth.contains(&k), "key {k}");
            }
            if let Some(index) = &subs.index {
                for (at, s) in subs.list.iter().enumerate() {
                    assert_eq!(index.get(&s.key), Some(&at));
                }
            }
        }
    }
}
