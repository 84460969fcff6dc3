//! The `channel_vacated` / `member_removed` delay: such events wait out
//! `vacate_delay` and are forgotten if their channel (or member) comes back
//! meanwhile.
//!
//! Bounded and O(1) per event, whoever churns channels: waiting events are keyed
//! by (kind, channel, user) so a return cancels its event without a scan; their
//! deadlines form a FIFO (one delay for all, so they come due in arrival order)
//! whose front is the next timer; a cancelled event leaves an empty slot that
//! goes when it comes due. At most `cap` slots wait per app and node; beyond
//! that, an event skips the delay (sent at once rather than held, counted in
//! `webhooks_undelayed_total`), so memory stays bounded and nothing is lost.

use super::{Event, Stamped};
use std::collections::{HashMap, VecDeque};
use tokio::time::Instant;

/// Delayed events (and slots of cancelled ones) waiting per app and node at
/// most: with the default 3 s delay, over 3,000 channels vacated per second.
pub(super) const MAX_DELAYED: usize = 10_000;

/// What a return cancels: the event's kind, channel and presence user.
type Key = (&'static str, String, Option<String>);

fn key_of(kind: &'static str, event: &Event) -> Key {
    (
        kind,
        event.channel().to_string(),
        event.user().map(str::to_string),
    )
}

pub(super) struct Delayed {
    /// Oldest first; a cancelled event leaves `None` in its slot until it is due.
    queue: VecDeque<(Instant, Option<Stamped>)>,
    /// The sequence number of `queue[0]`; slot `n` is `queue[n - base]`.
    base: u64,
    /// The slot of each waiting event.
    slots: HashMap<Key, u64>,
    cap: usize,
}

impl Delayed {
    pub(super) fn new(cap: usize) -> Delayed {
        Delayed {
            queue: VecDeque::new(),
            base: 0,
            slots: HashMap::new(),
            cap,
        }
    }

    /// When the oldest slot is due.
    pub(super) fn next_due(&self) -> Option<Instant> {
        self.queue.front().map(|(due, _)| *due)
    }

    /// Forget the waiting event of `kind` that `back` (a return) cancels; true if one waited.
    pub(super) fn cancel(&mut self, kind: &'static str, back: &Event) -> bool {
        let Some(seq) = self.slots.remove(&key_of(kind, back)) else {
            return false;
        };
        if let Some(slot) = self.queue.get_mut((seq - self.base) as usize) {
            slot.1 = None;
        }
        true
    }

    /// Hold `s` until `due`; handed back (`Some(s)`) when `cap` slots wait
    /// already. The same event again (same kind, channel and user) replaces the
    /// one waiting.
    pub(super) fn hold(&mut self, due: Instant, s: Stamped) -> Option<Stamped> {
        while self.queue.front().is_some_and(|(_, s)| s.is_none()) {
            self.pop();
        }
        if self.queue.len() >= self.cap {
            return Some(s);
        }
        let seq = self.base + self.queue.len() as u64;
        if let Some(old) = self.slots.insert(key_of(s.event.kind(), &s.event), seq) {
            if let Some(slot) = self.queue.get_mut((old - self.base) as usize) {
                slot.1 = None;
            }
        }
        self.queue.push_back((due, Some(s)));
        None
    }

    /// The events due by `now`, oldest first.
    pub(super) fn due(&mut self, now: Instant) -> Vec<Stamped> {
        let mut out = Vec::new();
        while self.queue.front().is_some_and(|(due, _)| *due <= now) {
            if let Some(s) = self.pop() {
                self.slots.remove(&key_of(s.event.kind(), &s.event));
                out.push(s);
            }
        }
        out
    }

    fn pop(&mut self) -> Option<Stamped> {
        let (_, s) = self.queue.pop_front()?;
        self.base += 1;
        s
    }

    /// Slots held (waiting events and cancelled ones not yet due).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.queue.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn vacated(channel: &str) -> Stamped {
        Stamped {
            event: Event::ChannelVacated {
                channel: channel.into(),
            },
            time_ms: 1,
        }
    }

    fn occupied(channel: &str) -> Event {
        Event::ChannelOccupied {
            channel: channel.into(),
        }
    }

    #[test]
    fn a_return_cancels_its_event_and_the_rest_come_due_in_order() {
        let mut d = Delayed::new(100);
        let t0 = Instant::now();
        let later = |ms| t0 + Duration::from_millis(ms);
        for (i, c) in ["a", "b", "c"].iter().enumerate() {
            assert!(d.hold(later(10 + i as u64), vacated(c)).is_none());
        }
        assert!(d.cancel("channel_vacated", &occupied("b")));
        assert!(!d.cancel("channel_vacated", &occupied("b")));
        assert!(!d.cancel("channel_vacated", &occupied("zzz")));
        assert_eq!(d.next_due(), Some(later(10)));
        assert!(d.due(later(9)).is_empty());
        let names = |v: Vec<Stamped>| -> Vec<String> {
            v.into_iter()
                .map(|s| s.event.channel().to_string())
                .collect()
        };
        assert_eq!(names(d.due(later(20))), ["a", "c"]);
        assert_eq!((d.len(), d.slots.len(), d.next_due()), (0, 0, None));
    }

    #[test]
    fn the_same_event_twice_waits_once() {
        let mut d = Delayed::new(100);
        let t0 = Instant::now();
        assert!(d.hold(t0, vacated("a")).is_none());
        assert!(d.hold(t0, vacated("a")).is_none());
        assert_eq!(d.due(t0).len(), 1);
        assert!(d.slots.is_empty());
    }

    /// A stranger churning channels (leave, come back, leave...) and vacating
    /// fresh ones: what is held never exceeds the cap, each step costs a map
    /// access and a FIFO push or pop (no scan), and beyond the cap events are
    /// handed back to be sent at once, not lost.
    #[test]
    fn churn_is_bounded_by_the_cap() {
        let cap = 1_000;
        let mut d = Delayed::new(cap);
        let due = Instant::now() + Duration::from_secs(3);
        let mut handed_back = 0;
        for i in 0..50_000 {
            let channel = format!("c{}", i % 5_000);
            if d.hold(due, vacated(&channel)).is_some() {
                handed_back += 1;
            }
            if i % 2 == 0 {
                d.cancel("channel_vacated", &occupied(&channel));
            }
            assert!(d.len() <= cap && d.slots.len() <= cap);
        }
        assert!(handed_back > 0);
        let released = d.due(due);
        assert!(released.len() <= cap);
        assert_eq!((d.len(), d.slots.len()), (0, 0));
    }
}
