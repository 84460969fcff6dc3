//! One app's kept events on this node: per recovery channel the last events
//! (bounded by count and age) in the order the bus delivered them, which is the
//! same order on every node; an event's id, stamped by the node that took the
//! publish, is its position everywhere. Guarded by the app's registry lock, so
//! that appending an event and handing it to the channel's sockets is one step.

use super::{Bounds, Replay};
use crate::socket::acks::Pos;
use crate::socket::Frame;
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};

/// One kept event.
#[derive(Debug, Clone)]
pub(crate) struct Kept {
    pub id: u64,
    /// When this node kept it (ms since the epoch).
    pub at: u64,
    pub frame: Frame,
}

#[derive(Debug, Default)]
struct Ring {
    events: VecDeque<Kept>,
    /// The newest event ever kept here, and when.
    last: Option<(u64, u64)>,
    /// The newest event dropped for the bounds.
    dropped: Option<u64>,
}

impl Ring {
    /// Drop the events past the bounds; returns how many.
    fn trim(&mut self, now: u64, b: Bounds) -> usize {
        let mut n = 0;
        while let Some(front) = self.events.front() {
            let old = front.at.saturating_add(b.max_age_ms) < now;
            if !old && self.events.len() <= b.max_events {
                break;
            }
            self.dropped = self.events.pop_front().map(|k| k.id);
            n += 1;
        }
        n
    }
}

/// The kept events of one app's recovery channels.
#[derive(Debug)]
pub(crate) struct History {
    rings: HashMap<String, Ring>,
    /// Since when this node has every event of the app (when it first knew the app).
    since: u64,
    appends: u32,
    /// Events kept over every channel (bounded by `recovery_max_kept`).
    total: usize,
    /// Whether the app-wide bound was ever reached (said once in the log).
    capped: bool,
}

/// A channel without events for this many max ages is forgotten (its last id with it).
const FORGET_AFTER: u64 = 10;

impl History {
    pub(crate) fn new(now: u64) -> History {
        History {
            rings: HashMap::new(),
            since: now,
            appends: 0,
            total: 0,
            capped: false,
        }
    }

    pub(crate) fn append(&mut self, channel: &str, kept: Kept, b: Bounds) {
        let now = kept.at;
        let ring = self.rings.entry(channel.to_string()).or_default();
        ring.last = Some((kept.id, kept.at));
        ring.events.push_back(kept);
        self.total = (self.total + 1).saturating_sub(ring.trim(now, b));
        self.appends = self.appends.wrapping_add(1);
        if self.appends.is_multiple_of(1024) {
            self.sweep(now, b);
        }
        if self.total > b.max_kept {
            self.evict(b.max_kept - b.max_kept / 10);
        }
    }

    /// Past the app's bound: drop the oldest events of every channel, oldest
    /// first, until `to` are left (a return from before them is told
    /// `history_trimmed`).
    fn evict(&mut self, to: usize) {
        if !self.capped {
            self.capped = true;
            tracing::warn!(
                kept = self.total,
                "recovery history past recovery_max_kept: the oldest kept events are dropped"
            );
        }
        let fronts = self.rings.iter().filter_map(|(c, r)| {
            let front = r.events.front()?;
            Some(Reverse((front.at, c.clone())))
        });
        let mut oldest: BinaryHeap<_> = fronts.collect();
        while self.total > to {
            let Some(Reverse((_, channel))) = oldest.pop() else {
                return;
            };
            let Some(ring) = self.rings.get_mut(&channel) else {
                continue;
            };
            ring.dropped = ring.events.pop_front().map(|k| k.id);
            self.total -= 1;
            if let Some(front) = ring.events.front() {
                oldest.push(Reverse((front.at, channel)));
            }
        }
    }

    /// Where a socket joining `channel` now stands: after its newest event.
    pub(crate) fn head(&self, channel: &str, now: u64) -> Pos {
        let last = self.rings.get(channel).and_then(|r| r.last);
        Pos {
            id: last.map(|(id, _)| id),
            at: now,
        }
    }

    /// The events of `channel` after `from`, or why they cannot all be given.
    pub(crate) fn replay(&mut self, channel: &str, from: Pos, now: u64, b: Bounds) -> Replay {
        let covered = self.since <= from.at;
        let Some(ring) = self.rings.get_mut(channel) else {
            // No event here since FORGET_AFTER max ages (or since the node knew the app).
            return match covered {
                true => Replay::Events(Vec::new()),
                false => Replay::Failed("history_unavailable"),
            };
        };
        self.total = self.total.saturating_sub(ring.trim(now, b));
        let frames = |from: usize, ring: &Ring| {
            let each = ring.events.iter().skip(from);
            Replay::Events(each.map(|k| (k.id, k.frame.clone())).collect())
        };
        match from.id {
            Some(id) if ring.last.map(|(last, _)| last) == Some(id) => Replay::Events(Vec::new()),
            Some(id) => match ring.events.iter().position(|k| k.id == id) {
                Some(at) => frames(at + 1, ring),
                None if ring.dropped == Some(id) => frames(0, ring),
                None => Replay::Failed("history_trimmed"),
            },
            // Nothing kept here when it joined: what came after it joined.
            None if ring.dropped.is_none() && covered => {
                let first = ring.events.iter().position(|k| k.at >= from.at);
                frames(first.unwrap_or(ring.events.len()), ring)
            }
            None => Replay::Failed("history_trimmed"),
        }
    }

    /// The kept events of `channel`, oldest first.
    pub(crate) fn events(&mut self, channel: &str, now: u64, b: Bounds) -> Vec<Kept> {
        let Some(ring) = self.rings.get_mut(channel) else {
            return Vec::new();
        };
        self.total = self.total.saturating_sub(ring.trim(now, b));
        ring.events.iter().cloned().collect()
    }

    /// Drop events past their age, and channels quiet for long.
    fn sweep(&mut self, now: u64, b: Bounds) {
        let forget = b.max_age_ms.saturating_mul(FORGET_AFTER);
        let total = &mut self.total;
        self.rings.retain(|_, ring| {
            *total = total.saturating_sub(ring.trim(now, b));
            let quiet = ring
                .last
                .is_none_or(|(_, at)| at.saturating_add(forget) < now);
            !(ring.events.is_empty() && quiet)
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const B: Bounds = Bounds {
        max_events: 3,
        max_age_ms: 1_000,
        max_kept: 1_000,
    };

    fn kept(id: u64, at: u64) -> Kept {
        Kept {
            id,
            at,
            frame: Frame::from(format!("e{id}")),
        }
    }

    fn ids(r: Replay) -> Result<Vec<u64>, &'static str> {
        match r {
            Replay::Events(e) => Ok(e.into_iter().map(|(id, _)| id).collect()),
            Replay::Failed(why) => Err(why),
        }
    }

    fn pos(id: Option<u64>, at: u64) -> Pos {
        Pos { id, at }
    }

    #[test]
    fn replays_after_a_position_until_it_is_trimmed() {
        let mut h = History::new(0);
        for id in [10, 20, 30] {
            h.append("c", kept(id, id), B);
        }
        assert_eq!(
            ids(h.replay("c", pos(Some(10), 50), 50, B)),
            Ok(vec![20, 30])
        );
        assert_eq!(ids(h.replay("c", pos(Some(30), 50), 50, B)), Ok(vec![]));
        assert_eq!(
            ids(h.replay("c", pos(None, 5), 50, B)),
            Ok(vec![10, 20, 30])
        );
        h.append("c", kept(40, 40), B);
        assert_eq!(
            ids(h.replay("c", pos(Some(10), 50), 50, B)),
            Ok(vec![20, 30, 40]),
            "10 was the last dropped"
        );
        h.append("c", kept(50, 50), B);
        assert_eq!(
            h.replay("c", pos(Some(10), 60), 60, B).failed(),
            Some("history_trimmed")
        );
        assert_eq!(
            h.replay("c", pos(None, 5), 60, B).failed(),
            Some("history_trimmed")
        );
        // At 1045, 30 and 40 aged out: a socket at 40 missed only 50, one at 20 missed 30 and 40 too.
        let at_40 = h.replay("c", pos(Some(40), 1_045), 1_045, B);
        assert_eq!(ids(at_40), Ok(vec![50]));
        let at_20 = h.replay("c", pos(Some(20), 1_045), 1_045, B);
        assert_eq!(at_20.failed(), Some("history_trimmed"));
    }

    #[test]
    fn past_the_apps_bound_the_oldest_events_of_any_channel_go() {
        let b = Bounds { max_kept: 5, ..B };
        let mut h = History::new(0);
        h.append("a", kept(1, 1), b);
        h.append("b", kept(2, 2), b);
        h.append("a", kept(3, 3), b);
        h.append("b", kept(4, 4), b);
        h.append("b", kept(5, 5), b);
        assert_eq!(h.total, 5);
        // The sixth: back to 5 - 5/10 = 5, the oldest (1, of a) dropped.
        h.append("c", kept(6, 6), b);
        assert_eq!(h.total, 5);
        assert_eq!(
            h.replay("a", pos(None, 0), 10, b).failed(),
            Some("history_trimmed")
        );
        assert_eq!(ids(h.replay("a", pos(Some(1), 10), 10, b)), Ok(vec![3]));
        assert_eq!(ids(h.replay("b", pos(None, 0), 10, b)), Ok(vec![2, 4, 5]));
        // Rings trimmed by their own bounds leave the count right.
        for id in 7..12 {
            h.append("c", kept(id, id), b);
        }
        assert_eq!(h.total, 5);
        assert_eq!(
            ids(h.replay("c", pos(None, 0), 12, b)).ok(),
            None,
            "c's own bound dropped its oldest"
        );
        let left: usize = h.rings.values().map(|r| r.events.len()).sum();
        assert_eq!(left, h.total);
    }

    #[test]
    fn a_node_that_knew_the_app_later_cannot_vouch_for_before() {
        let mut h = History::new(100);
        assert_eq!(ids(h.replay("c", pos(None, 150), 200, B)), Ok(vec![]));
        assert_eq!(
            h.replay("c", pos(Some(7), 50), 200, B).failed(),
            Some("history_unavailable")
        );
        h.append("c", kept(1, 120), B);
        h.append("c", kept(2, 160), B);
        assert_eq!(
            ids(h.replay("c", pos(None, 150), 200, B)),
            Ok(vec![2]),
            "only what came after it joined"
        );
    }
}
