//! One app's kept events on this node: per recovery channel the last events
//! (bounded by count and age) in the order the bus delivered them, which is the
//! same order on every node; an event's id, stamped by the node that took the
//! publish, is its position everywhere. Guarded by the app's registry lock, so
//! that appending an event and handing it to the channel's sockets is one step.

use super::{Bounds, Replay};
use crate::socket::acks::Pos;
use crate::socket::Frame;
use std::collections::{HashMap, VecDeque};

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
    fn trim(&mut self, now: u64, b: Bounds) {
        while let Some(front) = self.events.front() {
            let old = front.at.saturating_add(b.max_age_ms) < now;
            if !old && self.events.len() <= b.max_events {
                break;
            }
            self.dropped = self.events.pop_front().map(|k| k.id);
        }
    }
}

/// The kept events of one app's recovery channels.
#[derive(Debug)]
pub(crate) struct History {
    rings: HashMap<String, Ring>,
    /// Since when this node has every event of the app (when it first knew the app).
    since: u64,
    appends: u32,
}

/// A channel without events for this many max ages is forgotten (its last id with it).
const FORGET_AFTER: u64 = 10;

impl History {
    pub(crate) fn new(now: u64) -> History {
        History {
            rings: HashMap::new(),
            since: now,
            appends: 0,
        }
    }

    pub(crate) fn append(&mut self, channel: &str, kept: Kept, b: Bounds) {
        let now = kept.at;
        let ring = self.rings.entry(channel.to_string()).or_default();
        ring.last = Some((kept.id, kept.at));
        ring.events.push_back(kept);
        ring.trim(now, b);
        self.appends = self.appends.wrapping_add(1);
        if self.appends.is_multiple_of(1024) {
            self.sweep(now, b);
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
        ring.trim(now, b);
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
        ring.trim(now, b);
        ring.events.iter().cloned().collect()
    }

    /// Drop events past their age, and channels quiet for long.
    fn sweep(&mut self, now: u64, b: Bounds) {
        let forget = b.max_age_ms.saturating_mul(FORGET_AFTER);
        self.rings.retain(|_, ring| {
            ring.trim(now, b);
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
