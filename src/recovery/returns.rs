//! Where the sockets that closed stood, by browser and channel, until the
//! browser comes back: per app on every node (a closing socket's node tells
//! the others over the bus). A browser is its `herald_session` cookie; all its
//! tabs share it, so a browser may leave several places on one channel, taken
//! oldest first.

use crate::socket::acks::Pos;
use std::collections::{HashMap, VecDeque};

/// A closed socket's place in one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Left {
    pub pos: Pos,
    /// When the socket closed (ms since the epoch).
    pub closed: u64,
}

/// Places kept per app, at most; the oldest go first past it.
const MAX_PLACES: usize = 100_000;
/// Places kept per browser and channel (its tabs).
const MAX_TABS: usize = 8;

#[derive(Debug, Default)]
pub(crate) struct Returns {
    places: HashMap<(String, String), VecDeque<Left>>,
    /// Every place by closing time, for the sweep: (closed, browser, channel).
    order: VecDeque<(u64, String, String)>,
}

impl Returns {
    pub(crate) fn put(&mut self, browser: &str, channel: &str, left: Left) {
        let key = (browser.to_string(), channel.to_string());
        let tabs = self.places.entry(key).or_default();
        if tabs.len() >= MAX_TABS || tabs.contains(&left) {
            return;
        }
        tabs.push_back(left);
        self.order
            .push_back((left.closed, browser.to_string(), channel.to_string()));
        if self.order.len() > MAX_PLACES {
            self.forget_oldest();
        }
    }

    /// Take the oldest place `browser` left in `channel`.
    pub(crate) fn take(&mut self, browser: &str, channel: &str) -> Option<Left> {
        let key = (browser.to_string(), channel.to_string());
        let tabs = self.places.get_mut(&key)?;
        let left = tabs.pop_front();
        if tabs.is_empty() {
            self.places.remove(&key);
        }
        left
    }

    /// Another node's socket took this place: drop it here too.
    pub(crate) fn taken(&mut self, browser: &str, channel: &str, left: Left) {
        let key = (browser.to_string(), channel.to_string());
        if let Some(tabs) = self.places.get_mut(&key) {
            tabs.retain(|l| *l != left);
            if tabs.is_empty() {
                self.places.remove(&key);
            }
        }
    }

    /// Forget places that closed before `before`.
    pub(crate) fn sweep(&mut self, before: u64) {
        while self
            .order
            .front()
            .is_some_and(|(closed, _, _)| *closed < before)
        {
            self.forget_oldest();
        }
    }

    fn forget_oldest(&mut self) {
        let Some((closed, browser, channel)) = self.order.pop_front() else {
            return;
        };
        let key = (browser, channel);
        if let Some(tabs) = self.places.get_mut(&key) {
            tabs.retain(|l| l.closed != closed);
            if tabs.is_empty() {
                self.places.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn left(id: u64, closed: u64) -> Left {
        Left {
            pos: Pos {
                id: Some(id),
                at: closed,
            },
            closed,
        }
    }

    #[test]
    fn places_are_taken_once_oldest_first_and_swept() {
        let mut r = Returns::default();
        r.put("b", "c", left(1, 10));
        r.put("b", "c", left(2, 20));
        r.put("b", "d", left(3, 30));
        r.put("b", "c", left(2, 20));
        assert_eq!(r.take("b", "c"), Some(left(1, 10)));
        r.taken("b", "c", left(2, 20));
        assert_eq!(r.take("b", "c"), None);
        assert_eq!(r.take("x", "d"), None);
        r.sweep(31);
        assert_eq!(r.take("b", "d"), None);
    }
}
