//! Every open socket of the node, for the two things that concern all of them:
//! the liveness sweep (one task per node instead of one timer per socket) and
//! the drain at shutdown (4200 to everyone).
//!
//! Sockets sit in a slab of `Arc<Sink>`; a socket's task holds a [`Seat`] that
//! frees its slot when the task ends. The sweeper walks the slab in chunks,
//! never holding the lock while it writes: it collects the sockets to ping or
//! close, then asks their sinks, whose tasks do the writing.

use crate::config::Config;
use crate::protocol::{self, code};
use crate::socket::liveness::{now_ms, Timeouts, Verdict};
use crate::socket::{Frame, Sink, Wakes};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

/// Sockets examined per lock hold.
const CHUNK: usize = 1024;
/// The sweep period is a tenth of the shortest timeout, within these bounds.
const MIN_TICK: Duration = Duration::from_millis(10);
const MAX_TICK: Duration = Duration::from_secs(1);
const DRAIN_MESSAGE: &str = "Server closed. Please reconnect shortly.";
/// The drain's step when it is spread over a window.
const DRAIN_TICK: Duration = Duration::from_millis(10);

#[derive(Default)]
pub struct Roster {
    slots: Mutex<Slots>,
    /// Set under the slots' lock, so a socket is either seen by the drain or
    /// sees the flag when it is seated.
    draining: AtomicBool,
}

#[derive(Default)]
struct Slots {
    sinks: Vec<Option<Arc<Sink>>>,
    free: Vec<u32>,
}

/// A socket's place in the roster, given back when dropped.
pub(crate) struct Seat {
    roster: Arc<Roster>,
    slot: u32,
}

impl Drop for Seat {
    fn drop(&mut self) {
        let mut slots = self.roster.lock();
        slots.sinks[self.slot as usize] = None;
        slots.free.push(self.slot);
    }
}

impl Roster {
    fn lock(&self) -> MutexGuard<'_, Slots> {
        self.slots.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seat `sink`; a roster that is already draining closes it at once.
    pub(crate) fn seat(self: &Arc<Self>, sink: &Arc<Sink>) -> Seat {
        let (slot, draining) = {
            let mut slots = self.lock();
            let slot = match slots.free.pop() {
                Some(slot) => {
                    slots.sinks[slot as usize] = Some(sink.clone());
                    slot
                }
                None => {
                    slots.sinks.push(Some(sink.clone()));
                    (slots.sinks.len() - 1) as u32
                }
            };
            (slot, self.is_draining())
        };
        if draining {
            sink.close(code::RECONNECT, DRAIN_MESSAGE);
        }
        Seat {
            roster: self.clone(),
            slot,
        }
    }

    /// Call `f` on every seated socket, a chunk at a time, outside the lock.
    pub(crate) fn each(&self, mut f: impl FnMut(&Arc<Sink>)) {
        let mut at = 0;
        let mut batch = Vec::with_capacity(CHUNK);
        loop {
            {
                let slots = self.lock();
                let end = (at + CHUNK).min(slots.sinks.len());
                batch.extend(slots.sinks[at.min(end)..end].iter().flatten().cloned());
                at = end;
                if batch.is_empty() && at >= slots.sinks.len() {
                    return;
                }
            }
            batch.drain(..).for_each(|s| f(&s));
        }
    }

    /// Tell every seated socket, and every one seated from now on, to reconnect (4200).
    #[cfg(test)]
    pub(crate) fn drain(&self) {
        {
            let _slots = self.lock();
            self.draining.store(true, Ordering::SeqCst);
        }
        self.each(|sink| sink.close(code::RECONNECT, DRAIN_MESSAGE));
    }

    /// The same, spread over `window` so the node taking over is not hit by
    /// every client in the same millisecond: a share of the sockets every
    /// [`DRAIN_TICK`], as many at a time as it takes to be done by the window's
    /// end (a few sockets all go in the first tick).
    pub(crate) async fn drain_over(&self, window: Duration) {
        {
            let _slots = self.lock();
            self.draining.store(true, Ordering::SeqCst);
        }
        let mut sinks = Vec::new();
        self.each(|sink| sinks.push(sink.clone()));
        let ticks = (window.as_millis() / DRAIN_TICK.as_millis()).max(1) as u32;
        let per_tick = sinks.len().div_ceil(ticks as usize).max(1);
        let start = tokio::time::Instant::now();
        for (i, chunk) in sinks.chunks(per_tick).enumerate() {
            tokio::time::sleep_until(start + window * i as u32 / ticks).await;
            chunk
                .iter()
                .for_each(|sink| sink.close(code::RECONNECT, DRAIN_MESSAGE));
        }
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// Run the liveness sweep over `roster` until it (or the configuration
/// `timing` reads from) is dropped. `timing` gives each round's timeouts and
/// the pause before the next ([`timing`]).
pub(crate) async fn sweep(roster: Weak<Roster>, timing: impl Fn() -> Option<(Timeouts, Duration)>) {
    let ping = Frame::from(protocol::ping().to_string());
    loop {
        let Some(roster) = roster.upgrade() else {
            return;
        };
        let Some((timeouts, tick)) = timing() else {
            return;
        };
        let now = now_ms();
        let mut wakes = Wakes::default();
        roster.each(|sink| match sink.live.check(now, timeouts) {
            Verdict::Wait => {}
            Verdict::Ping => sink.pinging(|| {
                wakes.queue(sink, &ping);
            }),
            Verdict::Close(code, message) => {
                if code == code::POLICY {
                    crate::metrics::refused("frame_timeout");
                }
                tracing::debug!(socket_id = %sink.socket_id(), code, message, "liveness close");
                sink.close(code, message);
            }
        });
        drop((wakes, roster));
        tokio::time::sleep(tick).await;
    }
}

/// The node's timeouts and the sweep period they call for.
pub(crate) fn timing(config: &Config) -> (Timeouts, Duration) {
    let server = &config.server;
    let timeouts = Timeouts {
        activity: server.activity_timeout,
        pong: server.pong_timeout,
        frame: server.guard.frame_timeout,
    };
    let signin = config
        .apps
        .iter()
        .filter(|a| a.raw.enable_user_authentication)
        .map(|a| Duration::from_millis(a.limits.user_authentication_timeout_ms))
        .min();
    let shortest = [
        Some(timeouts.activity),
        Some(timeouts.pong),
        Some(timeouts.frame),
        signin,
    ]
    .into_iter()
    .flatten()
    .min()
    .unwrap_or(MAX_TICK);
    (timeouts, (shortest / 10).clamp(MIN_TICK, MAX_TICK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::{Liveness, SocketId};

    /// How many sockets are seated.
    fn seated(roster: &Roster) -> usize {
        let slots = roster.lock();
        slots.sinks.len() - slots.free.len()
    }

    fn sink(key: u64) -> Arc<Sink> {
        Sink::new(SocketId::new(1, key), 8, Liveness::new(None))
    }

    /// Whether the sink was asked to close, and with which code.
    fn close_code(sink: &Sink) -> Option<u16> {
        sink.take().close.map(|(code, _)| code)
    }

    #[test]
    fn seats_are_reused_and_the_drain_reaches_every_socket_even_late_ones() {
        let roster = Arc::new(Roster::default());
        let (a, b) = (sink(1), sink(2));
        let seat_a = roster.seat(&a);
        let _seat_b = roster.seat(&b);
        assert_eq!(seated(&roster), 2);
        drop(seat_a);
        assert_eq!(seated(&roster), 1);
        let c = sink(3);
        let seat_c = roster.seat(&c);
        assert_eq!(seat_c.slot, 0, "the freed slot is reused");
        assert_eq!(close_code(&b), None);
        roster.drain();
        assert_eq!(close_code(&b), Some(code::RECONNECT));
        assert_eq!(close_code(&c), Some(code::RECONNECT));
        assert_eq!(close_code(&a), None, "a left before the drain");
        let late = sink(4);
        let _seat = roster.seat(&late);
        assert_eq!(close_code(&late), Some(code::RECONNECT));
    }

    #[tokio::test(start_paused = true)]
    async fn a_spread_drain_reaches_everyone_evenly_within_its_window() {
        let roster = Arc::new(Roster::default());
        let sinks: Vec<_> = (0..1000).map(sink).collect();
        let _seats: Vec<_> = sinks.iter().map(|s| roster.seat(s)).collect();
        let start = tokio::time::Instant::now();
        let drain = roster.drain_over(Duration::from_secs(1));
        tokio::pin!(drain);
        let closed = |sinks: &[Arc<Sink>]| sinks.iter().filter(|s| close_code(s).is_some()).count();
        // Halfway through the window about half have been told, and upgrades are refused.
        tokio::select! {
            _ = &mut drain => panic!("the drain ended early"),
            _ = tokio::time::sleep(Duration::from_millis(505)) => {}
        }
        let half = closed(&sinks);
        assert!(roster.is_draining());
        assert!(
            (450..=560).contains(&half),
            "{half} told after half the window"
        );
        drain.await;
        assert_eq!(closed(&sinks), 1000);
        assert!(start.elapsed() <= Duration::from_secs(1));
    }
}
