//! A socket's side of recovery: kept events are queued under its ledger's
//! lock, together with the ping that will confirm them, so the ledger's view
//! and the order of the socket's frames always agree ([`super::acks`]).

use super::acks::{wall_ms, Acks, Pos};
use super::{Frame, Sink};
use crate::protocol;
use std::sync::MutexGuard;

fn ping() -> Frame {
    Frame::from_static(protocol::ping())
}

impl Sink {
    fn ledger(&self) -> MutexGuard<'_, Option<Box<Acks>>> {
        self.acks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follow a recovery channel this socket joined (see [`Acks::track`]); with
    /// `queued` past `confirmed` (a replay), a ping is queued to confirm it.
    pub(crate) fn track_kept(&self, channel: &str, confirmed: Pos, queued: Option<u64>) {
        let mut ledger = self.ledger();
        let acks = ledger.get_or_insert_with(Box::default);
        acks.track(channel, confirmed, queued);
        let replayed = queued.filter(|_| queued != confirmed.id);
        if replayed.is_some_and(|id| acks.queued(channel, id)) {
            acks.pinged(wall_ms(), true);
            self.send(&ping());
        }
    }

    pub(crate) fn untrack_kept(&self, channel: &str) {
        let mut ledger = self.ledger();
        if let Some(acks) = ledger.as_mut() {
            acks.untrack(channel);
            if acks.is_empty() {
                *ledger = None;
            }
        }
    }

    /// Deliver kept event `id` of `channel` with `put` (the sink's own send,
    /// or a fan-out's queue), and a ping after it unless one is already on its
    /// way. False when the socket refused it (full queue).
    pub(crate) fn send_kept(
        &self,
        channel: &str,
        id: u64,
        frame: &Frame,
        mut put: impl FnMut(&Frame) -> bool,
    ) -> bool {
        let mut ledger = self.ledger();
        if !put(frame) {
            return false;
        }
        if let Some(acks) = ledger.as_mut() {
            if acks.queued(channel, id) {
                acks.pinged(wall_ms(), true);
                put(&ping());
            }
        }
        true
    }

    /// Kept event `id` of `channel` was published with this socket excluded
    /// (its sender): it counts as had, so a replay never echoes it back.
    pub(crate) fn pass_kept(&self, channel: &str, id: u64) {
        let mut ledger = self.ledger();
        if let Some(acks) = ledger.as_mut() {
            if acks.passed(channel, id) {
                acks.pinged(wall_ms(), true);
                self.send(&ping());
            }
        }
    }

    /// The liveness sweep queues a ping (with `queue`, under the ledger's
    /// lock): it confirms what was sent before it.
    pub(crate) fn pinging(&self, queue: impl FnOnce()) {
        let mut ledger = self.ledger();
        if let Some(acks) = ledger.as_mut() {
            acks.pinged(wall_ms(), false);
        }
        queue();
    }

    /// The client answered a ping; pings again when newer kept events wait.
    pub(crate) fn ponged(&self) {
        let mut ledger = self.ledger();
        if let Some(acks) = ledger.as_mut() {
            if acks.ponged() {
                acks.pinged(wall_ms(), true);
                self.send(&ping());
            }
        }
    }

    /// Whether this socket follows recovery channel `channel`.
    pub(crate) fn tracks_kept(&self, channel: &str) -> bool {
        self.ledger().as_ref().is_some_and(|a| a.tracks(channel))
    }

    /// Ping the client; the answer resolves once its pong comes (never, if
    /// the socket is gone unnoticed).
    pub(crate) fn probe(&self) -> tokio::sync::oneshot::Receiver<()> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let mut ledger = self.ledger();
        let acks = ledger.get_or_insert_with(Box::default);
        acks.probe(wall_ms(), tx);
        self.send(&ping());
        rx
    }

    /// What the client confirmed in recovery channel `channel`.
    pub(crate) fn confirmed_in(&self, channel: &str) -> Option<Pos> {
        self.ledger().as_ref().and_then(|a| a.confirmed_in(channel))
    }

    /// What the client confirmed, per recovery channel.
    pub(crate) fn confirmed(&self) -> Vec<(String, Pos)> {
        self.ledger()
            .as_ref()
            .map(|a| a.confirmed())
            .unwrap_or_default()
    }
}
