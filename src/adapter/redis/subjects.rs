//! The delivery subjects this node listens to: a channel's subject while the node
//! has local subscribers to it, plus the node-wide subject of rare kinds.
//!
//! The registry is the truth about who is subscribed here; this table tracks what
//! Redis was asked and acknowledged. Connections ask ([`Subjects::want`]) after
//! joining the registry and wait until the subject is live; the bus task sends
//! the `SUBSCRIBE`s and `UNSUBSCRIBE`s, one at a time in order over the one link,
//! so a subject's commands never race each other:
//!
//! - `Wanted`: a `SUBSCRIBE` is queued or in flight; waiters are answered when Redis
//!   acknowledges it, so an event published after a socket's `subscription_succeeded`
//!   reaches this node.
//! - `Live`: acknowledged. When the last local subscriber leaves, the subject is kept
//!   for [`LINGER`] (churn such as page reloads pays no round trips), then, if the
//!   registry still has nobody, it becomes `Leaving` under this table's lock.
//! - `Leaving`: the `UNSUBSCRIBE` is in flight. A socket joining now waits; once the
//!   `UNSUBSCRIBE` is acknowledged the subject is subscribed again before it is told.
//!   Redis subscriptions are sets, so a repeated `SUBSCRIBE` never duplicates an event.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// How long a subject stays subscribed after its last local subscriber left.
pub(crate) const LINGER: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    Wanted,
    Live,
    Leaving { again: bool },
}

struct Entry {
    app: String,
    channel: String,
    state: State,
}

#[derive(Default)]
struct Table {
    entries: HashMap<String, Entry>,
    pending: Vec<String>,
    idle: VecDeque<(Instant, String)>,
}

pub(crate) struct Subjects {
    table: Mutex<Table>,
    /// Bumped whenever subjects become live.
    live: watch::Sender<u64>,
    /// Wakes the bus task when subjects are waiting for their `SUBSCRIBE`.
    pub wake: Notify,
}

impl Default for Subjects {
    fn default() -> Self {
        Subjects {
            table: Mutex::default(),
            live: watch::channel(0).0,
            wake: Notify::new(),
        }
    }
}

impl Subjects {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Ask for `subject` (of `app`'s `channel`); true if it is live already.
    pub(crate) fn want(&self, subject: &str, app: &str, channel: &str) -> bool {
        let mut t = self.lock();
        let state = t.entries.get_mut(subject).map(|e| &mut e.state);
        match state {
            Some(State::Live) => return true,
            Some(State::Wanted) | Some(State::Leaving { again: true }) => return false,
            Some(s @ State::Leaving { again: false }) => *s = State::Leaving { again: true },
            None => {
                let entry = Entry {
                    app: app.to_string(),
                    channel: channel.to_string(),
                    state: State::Wanted,
                };
                t.entries.insert(subject.to_string(), entry);
                t.pending.push(subject.to_string());
                drop(t);
                self.wake.notify_one();
            }
        }
        false
    }

    pub(crate) fn is_live(&self, subject: &str) -> bool {
        let t = self.lock();
        t.entries
            .get(subject)
            .is_some_and(|e| e.state == State::Live)
    }

    /// Wait until `subject` is live; false if that took longer than `limit`.
    pub(crate) async fn until_live(&self, subject: &str, limit: Duration) -> bool {
        let mut rx = self.live.subscribe();
        let wait = async {
            while !self.is_live(subject) {
                if rx.changed().await.is_err() {
                    return false;
                }
            }
            true
        };
        tokio::time::timeout(limit, wait).await.unwrap_or(false)
    }

    /// The last local subscriber of `subject` left: check it again after [`LINGER`].
    pub(crate) fn idle(&self, subject: &str) {
        let mut t = self.lock();
        t.idle.push_back((Instant::now(), subject.to_string()));
    }

    /// Subjects waiting for their `SUBSCRIBE`.
    pub(crate) fn take_pending(&self) -> Vec<String> {
        std::mem::take(&mut self.lock().pending)
    }

    /// Redis acknowledged these `SUBSCRIBE`s. Each is checked again after
    /// [`LINGER`], in case its subscribers left while it was being subscribed.
    pub(crate) fn mark_live(&self, subjects: &[String]) {
        let mut t = self.lock();
        let now = Instant::now();
        for s in subjects {
            if let Some(e) = t.entries.get_mut(s) {
                e.state = State::Live;
                t.idle.push_back((now, s.clone()));
            }
        }
        drop(t);
        self.live.send_modify(|n| *n += 1);
    }

    /// Idle subjects past [`LINGER`] that still have no local subscriber (as
    /// `empty(app, channel)` tells), now `Leaving`: the caller unsubscribes them.
    pub(crate) fn take_idle(&self, empty: impl Fn(&str, &str) -> bool) -> Vec<String> {
        let mut t = self.lock();
        let mut leaving = Vec::new();
        while let Some((since, _)) = t.idle.front() {
            if since.elapsed() < LINGER {
                break;
            }
            let Some((_, subject)) = t.idle.pop_front() else {
                break;
            };
            if let Some(e) = t.entries.get_mut(&subject) {
                if e.state == State::Live && empty(&e.app, &e.channel) {
                    e.state = State::Leaving { again: false };
                    leaving.push(subject);
                }
            }
        }
        leaving
    }

    /// Redis acknowledged these `UNSUBSCRIBE`s: forget them, or subscribe again
    /// those a socket asked for meanwhile.
    pub(crate) fn mark_left(&self, subjects: &[String]) {
        let mut t = self.lock();
        for s in subjects {
            match t.entries.get(s).map(|e| e.state) {
                Some(State::Leaving { again: true }) => {
                    if let Some(e) = t.entries.get_mut(s) {
                        e.state = State::Wanted;
                    }
                    t.pending.push(s.clone());
                }
                Some(State::Leaving { again: false }) => {
                    t.entries.remove(s);
                }
                _ => {}
            }
        }
        let again = !t.pending.is_empty();
        drop(t);
        if again {
            self.wake.notify_one();
        }
    }

    /// A new link has no subscriptions: every known subject is to be subscribed
    /// again (those nobody needs are dropped after [`LINGER`]).
    pub(crate) fn reset(&self) -> Vec<String> {
        let mut t = self.lock();
        t.pending.clear();
        for e in t.entries.values_mut() {
            e.state = State::Wanted;
        }
        t.entries.keys().cloned().collect()
    }

    /// Subjects subscribed or being subscribed.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_subject_is_subscribed_once_and_told_when_live() {
        let s = Subjects::default();
        assert!(!s.want("x", "a", "c"));
        assert!(!s.want("x", "a", "c"));
        assert_eq!(s.take_pending(), vec!["x".to_string()]);
        assert!(s.take_pending().is_empty());
        s.mark_live(&["x".into()]);
        assert!(s.want("x", "a", "c"));
    }

    #[test]
    fn joining_while_leaving_subscribes_again_after_the_unsubscribe() {
        let s = Subjects::default();
        s.want("x", "a", "c");
        s.take_pending();
        s.mark_live(&["x".into()]);
        {
            let mut t = s.lock();
            t.entries.get_mut("x").unwrap().state = State::Leaving { again: false };
        }
        assert!(!s.want("x", "a", "c"), "must wait for the new SUBSCRIBE");
        assert!(
            s.take_pending().is_empty(),
            "not before the UNSUBSCRIBE is acked"
        );
        s.mark_left(&["x".into()]);
        assert_eq!(s.take_pending(), vec!["x".to_string()]);
        s.mark_live(&["x".into()]);
        assert!(s.want("x", "a", "c"));
    }

    #[test]
    fn a_subject_left_alone_is_forgotten_after_its_unsubscribe() {
        let s = Subjects::default();
        s.want("x", "a", "c");
        s.take_pending();
        s.mark_live(&["x".into()]);
        assert!(s.take_idle(|_, _| true).is_empty(), "lingers first");
        s.lock().idle.iter_mut().for_each(|(t, _)| *t -= LINGER);
        assert!(
            s.take_idle(|_, _| false).is_empty(),
            "still has subscribers"
        );
        s.idle("x");
        s.lock().idle.iter_mut().for_each(|(t, _)| *t -= LINGER);
        assert_eq!(s.take_idle(|_, _| true), vec!["x".to_string()]);
        s.mark_left(&["x".into()]);
        assert_eq!(s.len(), 0);
    }
}
