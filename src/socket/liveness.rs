//! When a quiet socket gets a `pusher:ping`, when it is given up on (4201) and
//! when an unsigned socket runs out of time to sign in (4009).
//!
//! The state is four atomics in the socket's [`Sink`](super::Sink): the
//! socket's task only stamps its activity, and the node's one sweeper
//! (`crate::roster`) decides for every socket on each round. An idle socket
//! therefore owns no timer at all.

use crate::protocol::code;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Milliseconds since the process's first reading (never 0, which means "none").
pub(crate) fn now_ms() -> u64 {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    epoch.elapsed().as_millis() as u64 + 1
}

#[derive(Debug)]
pub struct Liveness {
    last_activity: AtomicU64,
    /// When the sweeper sent `pusher:ping` and is waiting for an answer; 0: not waiting.
    pinged_at: AtomicU64,
    /// When an unsigned socket must have signed in; 0: no clock.
    signin_deadline: AtomicU64,
    /// Since when an inbound frame (or fragmented message) is incomplete; 0: none is.
    partial_since: AtomicU64,
}

/// What a sweep decides for one socket.
#[derive(Debug, PartialEq)]
pub(crate) enum Verdict {
    Wait,
    Ping,
    Close(u16, &'static str),
}

/// The node-wide timeouts a verdict depends on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timeouts {
    pub activity: Duration,
    pub pong: Duration,
    /// A started frame must be complete within this.
    pub frame: Duration,
}

impl Liveness {
    /// Fresh state; `signin` starts the sign-in clock.
    pub fn new(signin: Option<Duration>) -> Liveness {
        let now = now_ms();
        Liveness {
            last_activity: AtomicU64::new(now),
            pinged_at: AtomicU64::new(0),
            signin_deadline: AtomicU64::new(signin.map_or(0, |d| now + d.as_millis() as u64)),
            partial_since: AtomicU64::new(0),
        }
    }

    /// After reading: whether an inbound frame or message is `incomplete`, and
    /// whether it `restarted`: the unfinished one started in this read, after
    /// one that completed. Otherwise it runs from the first read that left it
    /// unfinished (a fragmented message from its first fragment, whatever
    /// control frames came between).
    pub(crate) fn reading(&self, incomplete: bool, restarted: bool) {
        let since = self.partial_since.load(Relaxed);
        match (incomplete, restarted) {
            (false, _) if since != 0 => self.partial_since.store(0, Relaxed),
            (false, _) => {}
            (true, true) => self.partial_since.store(now_ms(), Relaxed),
            (true, false) if since == 0 => self.partial_since.store(now_ms(), Relaxed),
            (true, false) => {}
        }
    }

    /// Any inbound frame counts as activity.
    pub(crate) fn activity(&self) {
        self.last_activity.store(now_ms(), Relaxed);
    }

    /// Signed in or authorized for a private channel: the sign-in clock stops.
    pub(crate) fn authorized(&self) {
        self.signin_deadline.store(0, Relaxed);
    }

    /// Decide at `now`. Only the sweeper calls this (it alone moves `pinged_at`).
    pub(crate) fn check(&self, now: u64, t: Timeouts) -> Verdict {
        let deadline = self.signin_deadline.load(Relaxed);
        if deadline != 0 && now >= deadline {
            return Verdict::Close(
                code::UNAUTHORIZED,
                "Connection not authorized within timeout.",
            );
        }
        let partial = self.partial_since.load(Relaxed);
        if partial != 0 && now >= partial + t.frame.as_millis() as u64 {
            return Verdict::Close(code::POLICY, "Frame not completed in time");
        }
        let last = self.last_activity.load(Relaxed);
        let pinged = self.pinged_at.load(Relaxed);
        if pinged != 0 {
            if last >= pinged {
                self.pinged_at.store(0, Relaxed);
            } else if now >= pinged + t.pong.as_millis() as u64 {
                return Verdict::Close(code::PONG_TIMEOUT, "Pong reply not received in time");
            } else {
                return Verdict::Wait;
            }
        }
        if now >= last + t.activity.as_millis() as u64 {
            // Strictly after any activity stamped at this same millisecond.
            self.pinged_at.store(now.max(last + 1), Relaxed);
            return Verdict::Ping;
        }
        Verdict::Wait
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Timeouts = Timeouts {
        activity: Duration::from_secs(30),
        pong: Duration::from_secs(30),
        frame: Duration::from_secs(15),
    };

    #[test]
    fn a_frame_that_never_completes_is_closed_with_1008() {
        let live = Liveness::new(None);
        live.reading(true, false);
        let start = live.partial_since.load(Relaxed);
        live.reading(true, false);
        assert_eq!(live.partial_since.load(Relaxed), start, "the same frame");
        assert_eq!(live.check(start + 14_999, T), Verdict::Wait);
        assert!(matches!(
            live.check(start + 15_000, T),
            Verdict::Close(1008, _)
        ));
        live.reading(false, true);
        assert_eq!(live.check(start + 15_000, T), Verdict::Wait);
    }

    #[test]
    fn quiet_sockets_are_pinged_then_dropped() {
        let live = Liveness::new(None);
        let start = live.last_activity.load(Relaxed);
        assert_eq!(live.check(start + 29_999, T), Verdict::Wait);
        assert_eq!(live.check(start + 30_000, T), Verdict::Ping);
        assert_eq!(live.check(start + 59_999, T), Verdict::Wait);
        assert!(matches!(
            live.check(start + 60_000, T),
            Verdict::Close(4201, _)
        ));
    }

    #[test]
    fn activity_after_a_ping_counts_as_the_answer() {
        let live = Liveness::new(None);
        let start = live.last_activity.load(Relaxed);
        assert_eq!(live.check(start + 30_000, T), Verdict::Ping);
        live.last_activity.store(start + 31_000, Relaxed);
        assert_eq!(live.check(start + 60_000, T), Verdict::Wait);
        assert_eq!(live.check(start + 61_000, T), Verdict::Ping);
    }

    #[test]
    fn sign_in_clock_stops_once_authorized() {
        let live = Liveness::new(Some(Duration::from_secs(3)));
        let start = live.last_activity.load(Relaxed);
        assert_eq!(live.check(start + 2_999, T), Verdict::Wait);
        assert!(matches!(
            live.check(start + 3_000, T),
            Verdict::Close(4009, _)
        ));
        let live = Liveness::new(Some(Duration::from_secs(3)));
        live.authorized();
        assert_eq!(live.check(start + 3_000, T), Verdict::Wait);
    }
}
