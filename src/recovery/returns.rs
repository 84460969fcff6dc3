//! Where the sockets that closed stood, by browser and channel, until the
//! browser comes back: per app on every node (a closing socket's node tells
//! the others over the bus). A browser is its `herald_session` cookie; all its
//! tabs share it, so a browser may leave several places on one channel, taken
//! oldest first.

use crate::socket::acks::Pos;
use crate::socket::Sink;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

/// A closed socket's place in one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Left {
    pub pos: Pos,
    /// When the socket closed (ms since the epoch).
    pub closed: u64,
}

impl Left {
    /// A place no socket can resume from: its tab is told `recovery_failed`.
    /// Left for the other tabs when a browser's tabs left different places in
    /// one channel (which tab is which cannot be told apart).
    pub(crate) fn unsure(closed: u64) -> Left {
        Left {
            pos: Pos { id: None, at: 0 },
            closed,
        }
    }

    pub(crate) fn is_unsure(&self) -> bool {
        self.pos.at == 0
    }
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
    /// This node's open sockets by browser.
    sockets: HashMap<Arc<str>, Vec<Arc<Sink>>>,
    /// Other nodes' open sockets by browser and channel: (node, since).
    marks: HashMap<(String, String), Vec<Marked>>,
    /// How many marks are kept.
    marked: usize,
    /// The answers to this node's probes under way, and how many sockets
    /// wait for them (two tabs may return at once).
    answers: HashMap<(String, String), (usize, Vec<Answer>)>,
    /// Told when a place is left or a probe answered (for those waiting on one).
    pub(crate) changed: Arc<tokio::sync::Notify>,
}

/// The key of a browser's entries in a channel.
fn key(browser: &str, channel: &str) -> (String, String) {
    (browser.to_string(), channel.to_string())
}

/// An open socket on another node: (node, where it joined).
pub(crate) type Marked = (Arc<str>, Pos);

/// A node's answer to a probe: how many of the browser's sockets there
/// answered a ping, and how many did not and were closed.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Answer {
    pub node: Arc<str>,
    pub live: usize,
    pub closed: usize,
}

/// Marks kept per app, at most; past it a socket is not marked (if its node
/// dies, its browser's return is taken for a fresh one, as unmarked).
const MAX_MARKS: usize = 200_000;

impl Returns {
    pub(crate) fn put(&mut self, browser: &str, channel: &str, left: Left) {
        let key = key(browser, channel);
        let tabs = self.places.entry(key).or_default();
        if tabs.len() >= MAX_TABS || tabs.contains(&left) {
            return;
        }
        tabs.push_back(left);
        self.changed.notify_waiters();
        self.order
            .push_back((left.closed, browser.to_string(), channel.to_string()));
        if self.order.len() > MAX_PLACES {
            self.forget_oldest();
        }
    }

    /// Take a place `browser` left in `channel`: the oldest when its tabs left
    /// the same one; when they left different ones, all of them (the caller
    /// leaves [`Left::unsure`] places for the other tabs).
    pub(crate) fn take(&mut self, browser: &str, channel: &str) -> Vec<Left> {
        let key = key(browser, channel);
        let Some(tabs) = self.places.get_mut(&key) else {
            return Vec::new();
        };
        let first = tabs.front().map(|l| l.pos.id);
        let same = tabs.iter().all(|l| Some(l.pos.id) == first);
        let taken = match tabs.iter().position(Left::is_unsure) {
            // A tab still owed its `ambiguous` takes it first.
            Some(at) => tabs.remove(at).into_iter().collect(),
            None if same => tabs.pop_front().into_iter().collect(),
            None => tabs.drain(..).collect(),
        };
        if tabs.is_empty() {
            self.places.remove(&key);
        }
        taken
    }

    /// Another node's socket took this place: drop it here too.
    pub(crate) fn taken(&mut self, browser: &str, channel: &str, left: Left) {
        let key = key(browser, channel);
        if let Some(tabs) = self.places.get_mut(&key) {
            tabs.retain(|l| *l != left);
            if tabs.is_empty() {
                self.places.remove(&key);
            }
        }
    }

    /// A socket of `browser` opened on this node.
    pub(crate) fn opened(&mut self, browser: &Arc<str>, sink: &Arc<Sink>) {
        self.sockets
            .entry(browser.clone())
            .or_default()
            .push(sink.clone());
    }

    /// It closed.
    pub(crate) fn closed(&mut self, browser: &str, key: u64) {
        if let Some(open) = self.sockets.get_mut(browser) {
            open.retain(|s| s.key != key);
            if open.is_empty() {
                self.sockets.remove(browser);
            }
        }
    }

    /// The other open sockets of `browser` on this node that follow `channel`.
    pub(crate) fn others_in(&self, browser: &str, channel: &str, key: u64) -> Vec<Arc<Sink>> {
        let open = self.sockets.get(browser).into_iter().flatten();
        let others = open.filter(|s| s.key != key && s.tracks_kept(channel));
        others.cloned().collect()
    }

    /// Whether `browser` left a place in `channel`.
    pub(crate) fn has(&self, browser: &str, channel: &str) -> bool {
        self.places.contains_key(&key(browser, channel))
    }

    /// A socket of `browser` on `node` follows `channel` since `since`.
    pub(crate) fn mark(&mut self, browser: &str, channel: &str, node: &str, since: Pos) {
        if self.marked >= MAX_MARKS {
            return;
        }
        let key = key(browser, channel);
        self.marks
            .entry(key)
            .or_default()
            .push((node.into(), since));
        self.marked += 1;
    }

    /// One such socket on `node` stopped following it (`all`: every one).
    pub(crate) fn unmark(&mut self, browser: &str, channel: &str, node: &str, all: bool) {
        let key = key(browser, channel);
        let Some(marks) = self.marks.get_mut(&key) else {
            return;
        };
        let before = marks.len();
        match all {
            true => marks.retain(|(n, _)| &**n != node),
            false => {
                if let Some(at) = marks.iter().position(|(n, _)| &**n == node) {
                    marks.swap_remove(at);
                }
            }
        }
        self.marked -= before - marks.len();
        if marks.is_empty() {
            self.marks.remove(&key);
        }
    }

    /// The other nodes' sockets of `browser` in `channel`.
    pub(crate) fn marks(&self, browser: &str, channel: &str) -> Vec<Marked> {
        let key = key(browser, channel);
        self.marks.get(&key).cloned().unwrap_or_default()
    }

    /// This node probes the other nodes for `browser` in `channel`: collect
    /// their answers (`false`: stop).
    pub(crate) fn asking(&mut self, browser: &str, channel: &str, asking: bool) {
        let key = key(browser, channel);
        let waiting = self.answers.entry(key.clone()).or_default();
        match asking {
            true => waiting.0 += 1,
            false => waiting.0 = waiting.0.saturating_sub(1),
        }
        if waiting.0 == 0 {
            self.answers.remove(&key);
        }
    }

    /// A node answered a probe (kept only while this node asks).
    pub(crate) fn answered(&mut self, browser: &str, channel: &str, answer: Answer) {
        let key = key(browser, channel);
        if let Some((_, answers)) = self.answers.get_mut(&key) {
            answers.push(answer);
            self.changed.notify_waiters();
        }
    }

    /// The answers so far.
    pub(crate) fn answers(&self, browser: &str, channel: &str) -> Vec<Answer> {
        let key = key(browser, channel);
        self.answers
            .get(&key)
            .map(|a| a.1.clone())
            .unwrap_or_default()
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
    fn marks_are_counted_per_node() {
        let mut r = Returns::default();
        let at = |at| Pos { id: None, at };
        r.mark("b", "c", "n1", at(1));
        r.mark("b", "c", "n1", at(2));
        r.mark("b", "c", "n2", at(3));
        r.unmark("b", "c", "n1", false);
        assert_eq!(r.marks("b", "c").len(), 2);
        r.unmark("b", "c", "n1", true);
        assert_eq!(r.marks("b", "c"), vec![("n2".into(), at(3))]);
        r.unmark("b", "c", "n2", false);
        assert_eq!((r.marks("b", "c"), r.marked), (vec![], 0));
        let answer = Answer {
            node: "n1".into(),
            live: 1,
            closed: 0,
        };
        r.answered("b", "c", answer.clone());
        assert_eq!(r.answers("b", "c"), vec![], "not asked");
        r.asking("b", "c", true);
        r.asking("b", "c", true);
        r.answered("b", "c", answer.clone());
        r.asking("b", "c", false);
        assert_eq!(r.answers("b", "c"), vec![answer], "one still asks");
        r.asking("b", "c", false);
        assert_eq!(r.answers("b", "c"), vec![]);
    }

    #[test]
    fn places_are_taken_once_oldest_first_and_swept() {
        let mut r = Returns::default();
        r.put("b", "c", left(1, 10));
        r.put("b", "c", left(2, 20));
        r.put("b", "d", left(3, 30));
        r.put("b", "c", left(2, 20));
        assert_eq!(
            r.take("b", "c"),
            vec![left(1, 10), left(2, 20)],
            "different places: all"
        );
        r.put("b", "c", left(2, 20));
        r.put("b", "c", left(2, 21));
        assert_eq!(
            r.take("b", "c"),
            vec![left(2, 20)],
            "the same place: the oldest"
        );
        r.taken("b", "c", left(2, 21));
        assert_eq!(r.take("b", "c"), vec![]);
        assert_eq!(r.take("x", "d"), vec![]);
        r.sweep(31);
        assert_eq!(r.take("b", "d"), vec![]);
    }
}
