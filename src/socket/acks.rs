//! What a socket's client has confirmed receiving, for recovery after a
//! reconnect (`crate::recovery`), with nothing but what stock clients do: every
//! Pusher client answers `pusher:ping` with `pusher:pong`, in order, after
//! reading everything sent before the ping. So after a burst of kept events a
//! socket is sent one ping, and the pong confirms every kept event queued
//! before it. At most one such ping is outstanding; a pong that finds newer
//! events sends the next. The liveness sweep's pings are counted too (their
//! pongs come back in the same order) and confirm what was sent before them.
//!
//! Positions are kept event ids ([`Pos`]); the ledger holds, per tracked
//! channel, the last id queued to the socket and the last one confirmed.

use std::collections::VecDeque;

/// Wall-clock milliseconds since the epoch: places and kept events are
/// compared across nodes (processes), so never a process-local clock.
pub(crate) fn wall_ms() -> u64 {
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    since.map_or(0, |d| d.as_millis() as u64)
}

/// A place in a channel's kept events: after event `id` (`None`: before the
/// first one this node kept), as of `at` (ms since the epoch).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pos {
    pub id: Option<u64>,
    pub at: u64,
}

#[derive(Debug)]
struct Track {
    channel: String,
    /// The last kept event queued to the socket (or its place when it joined).
    queued: Option<u64>,
    /// The last one the client confirmed.
    confirmed: Pos,
}

/// One ping's view: the last kept event queued per channel when it was sent.
type Snapshot = (Vec<(String, Option<u64>)>, u64);

/// Told when a probe's ping is answered (see [`Acks::probe`]).
pub(crate) type Probe = tokio::sync::oneshot::Sender<()>;

/// A socket's ledger of kept events queued and confirmed, per channel.
#[derive(Debug, Default)]
pub(crate) struct Acks {
    tracks: Vec<Track>,
    /// Pings sent and not answered yet, oldest first; a probe's with its waiter.
    pings: VecDeque<(Option<Snapshot>, Option<Probe>)>,
    /// One of `pings` was sent for kept events (at most one is).
    asked: bool,
}

/// Pings a socket may have unanswered with their views kept; later ones keep
/// only their place in line (their pongs confirm nothing). At most one kept
/// ping is outstanding and the liveness sweep closes a socket that leaves its
/// pings unanswered, so the line stays short.
const MAX_PINGS: usize = 8;

impl Acks {
    /// Follow `channel`: the client has (or needs nothing before) `confirmed`,
    /// and was queued up to `queued`.
    pub(crate) fn track(&mut self, channel: &str, confirmed: Pos, queued: Option<u64>) {
        self.untrack(channel);
        self.tracks.push(Track {
            channel: channel.to_string(),
            queued,
            confirmed,
        });
    }

    pub(crate) fn untrack(&mut self, channel: &str) {
        self.tracks.retain(|t| t.channel != channel);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tracks.is_empty()
    }

    /// Kept event `id` of `channel` was queued; true when a ping should follow it.
    pub(crate) fn queued(&mut self, channel: &str, id: u64) -> bool {
        if let Some(t) = self.tracks.iter_mut().find(|t| t.channel == channel) {
            t.queued = Some(id);
        }
        !self.asked
    }

    /// Kept event `id` of `channel` is not for this socket (it sent it): it
    /// counts as had once everything before it is confirmed. True when a
    /// ping should follow (something before it waits for confirmation).
    pub(crate) fn passed(&mut self, channel: &str, id: u64) -> bool {
        let Some(t) = self.tracks.iter_mut().find(|t| t.channel == channel) else {
            return false;
        };
        let waiting = t.queued != t.confirmed.id;
        if !waiting {
            t.confirmed.id = Some(id);
        }
        t.queued = Some(id);
        waiting && !self.asked
    }

    /// Whether something queued is not confirmed yet.
    pub(crate) fn unconfirmed(&self) -> bool {
        self.tracks.iter().any(|t| t.queued != t.confirmed.id)
    }

    /// A ping is being queued now: remember what it will confirm.
    pub(crate) fn pinged(&mut self, now: u64, for_kept: bool) {
        let view = self.tracks.iter().map(|t| (t.channel.clone(), t.queued));
        let kept = (self.pings.len() < MAX_PINGS).then(|| (view.collect(), now));
        self.pings.push_back((kept, None));
        self.asked |= for_kept;
    }

    /// A ping is being queued to learn whether the client still answers:
    /// `probe` is told when its pong comes.
    pub(crate) fn probe(&mut self, now: u64, probe: Probe) {
        self.pinged(now, false);
        if let Some(last) = self.pings.back_mut() {
            last.1 = Some(probe);
        }
    }

    /// Whether `channel` is followed.
    pub(crate) fn tracks(&self, channel: &str) -> bool {
        self.tracks.iter().any(|t| t.channel == channel)
    }

    /// A pong came: the oldest ping's view is confirmed. True when newer kept
    /// events wait for a confirmation of their own (the caller pings again).
    pub(crate) fn ponged(&mut self) -> bool {
        let Some((answered, probe)) = self.pings.pop_front() else {
            return false;
        };
        if let Some(probe) = probe {
            let _ = probe.send(());
        }
        for (channel, id, at) in answered
            .iter()
            .flat_map(|(v, at)| v.iter().map(|(c, id)| (c, *id, *at)))
        {
            if let Some(t) = self.tracks.iter_mut().find(|t| &t.channel == channel) {
                t.confirmed = Pos { id, at };
            }
        }
        if self.pings.is_empty() {
            self.asked = false;
        }
        !self.asked && self.unconfirmed()
    }

    /// What the client confirmed in `channel`, if it is tracked.
    pub(crate) fn confirmed_in(&self, channel: &str) -> Option<Pos> {
        let track = self.tracks.iter().find(|t| t.channel == channel);
        track.map(|t| t.confirmed)
    }

    /// Per tracked channel, what the client confirmed.
    pub(crate) fn confirmed(&self) -> Vec<(String, Pos)> {
        let each = self.tracks.iter();
        each.map(|t| (t.channel.clone(), t.confirmed)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(id: Option<u64>, at: u64) -> Pos {
        Pos { id, at }
    }

    /// Events queued after a ping are not confirmed by its pong; the pong asks
    /// for another ping, whose pong confirms them.
    #[test]
    fn a_pong_confirms_only_what_its_ping_followed() {
        let mut a = Acks::default();
        a.track("c", pos(None, 1), None);
        assert!(a.queued("c", 10), "first event: ping");
        a.pinged(2, true);
        assert!(!a.queued("c", 11), "one kept ping at a time");
        assert_eq!(a.confirmed(), vec![("c".into(), pos(None, 1))]);
        assert!(a.ponged(), "11 is not confirmed yet");
        assert_eq!(a.confirmed(), vec![("c".into(), pos(Some(10), 2))]);
        a.pinged(3, true);
        assert!(!a.ponged());
        assert_eq!(a.confirmed(), vec![("c".into(), pos(Some(11), 3))]);
        assert!(!a.ponged(), "an unasked pong changes nothing");
    }

    /// A liveness ping sent before a kept one is answered first: its pong
    /// confirms only what preceded it.
    #[test]
    fn pongs_answer_pings_in_order() {
        let mut a = Acks::default();
        a.track("c", pos(Some(5), 1), Some(5));
        a.pinged(2, false);
        a.queued("c", 6);
        a.pinged(3, true);
        a.ponged();
        assert_eq!(a.confirmed(), vec![("c".into(), pos(Some(5), 2))]);
        a.ponged();
        assert_eq!(a.confirmed(), vec![("c".into(), pos(Some(6), 3))]);
    }
}
