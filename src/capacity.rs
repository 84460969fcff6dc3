//! How many connections a node takes on its main port, and from whom, so that
//! strangers can never take all of its descriptors (a leaf).
//!
//! At start the soft `RLIMIT_NOFILE` is raised to the hard limit. Of that many
//! descriptors, a node admits `max_node_connections` connections (default: the
//! limit less a reserve of a sixteenth, between 64 and 2,048). Past that cap a
//! connection is still read, briefly, so that it hears why: an upgrade gets
//! `pusher:error` 4100 (pusher-js backs off and retries), HTTP gets 503 — except
//! signed API requests, which are served from the reserve, so a node full of
//! WebSockets still takes publishes. Past the limit less [`KEPT`] descriptors
//! (Redis, webhooks, PostgreSQL, the metrics port) connections are closed at once.
//! With `max_connections_per_ip`, one source address gets at most that many
//! (upgrades 4100, HTTP 503 past it). A connection from a trusted proxy is not
//! counted under the proxy's address: each of its requests is counted, while it
//! runs, under the client address `X-Forwarded-For` gives, and a WebSocket keeps
//! that [`Share`] for its life (see [`crate::config::proxies`]).
//!
//! A connection holds its [`Pass`] from accept to close, and a WebSocket takes
//! it along on its upgrade: a request refused on the connection neither gives
//! it back nor frees a second upgrade from it (the server closes a connection
//! after refusing a WebSocket). The metrics port counts its own connections
//! under [`Slots`] (`metrics_max_connections`). Each HTTP request on either port
//! has a deadline ([`deadline`]).

pub(crate) mod deadline;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// Descriptors never given to main-port connections.
pub(crate) const KEPT: usize = 32;

/// The process's descriptor limit, after raising the soft limit to the hard one (once).
pub(crate) fn descriptors() -> usize {
    static LIMIT: OnceLock<usize> = OnceLock::new();
    *LIMIT.get_or_init(|| {
        let raised = rlimit::increase_nofile_limit(u64::MAX);
        let limit = match raised {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "cannot raise the descriptor limit");
                rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
            }
        };
        usize::try_from(limit).unwrap_or(usize::MAX)
    })
}

/// Whether a connection is within the caps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Admission {
    Admitted,
    /// The node holds `max_node_connections` already.
    OverNode,
    /// Its address holds `max_connections_per_ip` already.
    OverAddress,
}

/// The node's count of open main-port connections, by address when capped per address.
#[derive(Debug)]
pub struct Gate {
    max: usize,
    hard: usize,
    per_ip: Option<usize>,
    open: AtomicUsize,
    by_ip: Mutex<HashMap<IpAddr, usize>>,
}

impl Gate {
    /// A gate for `limit` descriptors; `max` and `per_ip` as configured.
    pub(crate) fn new(limit: usize, max: Option<usize>, per_ip: Option<usize>) -> Arc<Gate> {
        let hard = limit.saturating_sub(KEPT).max(1);
        let reserve = (limit / 16).clamp(64, 2048);
        let max = max.unwrap_or(limit.saturating_sub(reserve)).clamp(1, hard);
        Arc::new(Gate {
            max,
            hard,
            per_ip,
            open: AtomicUsize::new(0),
            by_ip: Mutex::default(),
        })
    }

    /// Connections admitted before the node counts as full.
    pub(crate) fn max(&self) -> usize {
        self.max
    }

    /// Count a connection from `ip`: a pass to hold while it is open, or `None`
    /// when even the reserve is gone (close it at once). A connection from a
    /// trusted proxy passes `None`: its requests are counted by [`Gate::share`].
    pub(crate) fn enter(self: &Arc<Self>, ip: Option<IpAddr>) -> Option<Pass> {
        let open = self.open.fetch_add(1, Ordering::Relaxed);
        if open >= self.hard {
            self.open.fetch_sub(1, Ordering::Relaxed);
            return None;
        }
        let mut admission = match open >= self.max {
            true => Admission::OverNode,
            false => Admission::Admitted,
        };
        let share = ip.and_then(|ip| self.share(ip)).map(|(share, over)| {
            if over {
                admission = Admission::OverAddress;
            }
            share
        });
        Some(Pass {
            gate: self.clone(),
            share,
            admission,
        })
    }

    /// Count one more connection (or proxied request) from `ip` when addresses
    /// are capped: its share, and whether `ip` was at its cap already.
    pub(crate) fn share(self: &Arc<Self>, ip: IpAddr) -> Option<(Share, bool)> {
        let cap = self.per_ip?;
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        let n = by_ip.entry(ip).or_default();
        let over = *n >= cap;
        *n += 1;
        let share = Share {
            gate: self.clone(),
            ip,
        };
        Some((share, over))
    }

    fn leave(&self, ip: IpAddr) {
        let mut by_ip = self.by_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = by_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                by_ip.remove(&ip);
            }
        }
    }
}

/// One address's place under `max_connections_per_ip`, given back when dropped.
#[derive(Debug)]
pub(crate) struct Share {
    gate: Arc<Gate>,
    ip: IpAddr,
}

impl Drop for Share {
    fn drop(&mut self) {
        self.gate.leave(self.ip);
    }
}

/// One open connection's place in the [`Gate`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Pass {
    gate: Arc<Gate>,
    share: Option<Share>,
    pub admission: Admission,
}

impl Pass {
    /// Hold `share` (a proxied client's) for as long as this pass.
    pub(crate) fn keep(&mut self, share: Option<Share>) {
        if share.is_some() {
            self.share = share;
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        self.gate.open.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A cap on the open connections of a side port (the metrics port): a
/// connection holds a [`Slot`] while it is open.
#[derive(Debug)]
pub(crate) struct Slots {
    max: usize,
    open: AtomicUsize,
}

impl Slots {
    pub(crate) fn new(max: usize) -> Arc<Slots> {
        Arc::new(Slots {
            max: max.max(1),
            open: AtomicUsize::new(0),
        })
    }

    /// A slot, or `None` when `max` connections are open.
    pub(crate) fn take(self: &Arc<Self>) -> Option<Slot> {
        let taken = self
            .open
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            });
        taken.ok().map(|_| Slot(self.clone()))
    }
}

/// One connection's place under [`Slots`], given back when dropped.
#[derive(Debug)]
pub(crate) struct Slot(Arc<Slots>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn over_the_cap_passes_say_so_and_past_the_reserve_there_are_none() {
        let ip: IpAddr = [127, 0, 0, 1].into();
        let gate = Gate::new(100, Some(2), None);
        let a = gate.enter(Some(ip)).unwrap();
        let b = gate.enter(Some(ip)).unwrap();
        let over: Vec<_> = (0..66).map(|_| gate.enter(Some(ip)).unwrap()).collect();
        assert_eq!(
            (a.admission, b.admission),
            (Admission::Admitted, Admission::Admitted)
        );
        assert!(over.iter().all(|p| p.admission == Admission::OverNode));
        assert!(gate.enter(Some(ip)).is_none(), "only KEPT descriptors left");
        drop((a, over));
        assert_eq!(gate.open.load(Ordering::Relaxed), 1);
        assert_eq!(gate.enter(Some(ip)).unwrap().admission, Admission::Admitted);
    }

    #[test]
    fn one_address_gets_its_share_and_others_theirs() {
        let (x, y): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let gate = Gate::new(10_000, None, Some(2));
        let held: Vec<_> = (0..2).map(|_| gate.enter(Some(x)).unwrap()).collect();
        assert_eq!(
            gate.enter(Some(x)).unwrap().admission,
            Admission::OverAddress
        );
        assert_eq!(gate.enter(Some(y)).unwrap().admission, Admission::Admitted);
        drop(held);
        assert_eq!(gate.enter(Some(x)).unwrap().admission, Admission::Admitted);
        assert!(gate.by_ip.lock().unwrap().len() <= 1);
    }

    #[test]
    fn a_proxied_connection_counts_its_clients_not_the_proxy() {
        let (client, other): (IpAddr, IpAddr) = ([203, 0, 113, 1].into(), [203, 0, 113, 2].into());
        let gate = Gate::new(10_000, None, Some(1));
        let mut held = Vec::new();
        for _ in 0..3 {
            let pass = gate.enter(None).unwrap();
            assert_eq!(
                pass.admission,
                Admission::Admitted,
                "the proxy is not capped"
            );
            held.push(pass);
        }
        let (share, over) = gate.share(client).unwrap();
        assert!(!over);
        held[0].keep(Some(share));
        assert!(gate.share(client).unwrap().1, "the client is at its cap");
        assert!(!gate.share(other).unwrap().1);
        drop(held);
        assert_eq!(gate.open.load(Ordering::Relaxed), 0);
        assert!(!gate.share(client).unwrap().1, "given back with the pass");
        assert!(Gate::new(100, None, None).share(client).is_none());
    }

    #[test]
    fn slots_run_out_and_come_back() {
        let slots = Slots::new(2);
        let (a, _b) = (slots.take().unwrap(), slots.take().unwrap());
        assert!(slots.take().is_none());
        drop(a);
        assert!(slots.take().is_some());
        assert!(Slots::new(0).take().is_some(), "at least one");
    }

    #[test]
    fn the_default_cap_leaves_a_reserve() {
        assert_eq!(Gate::new(20_000, None, None).max(), 18_750);
        assert_eq!(Gate::new(1024, None, None).max(), 960);
        assert_eq!(Gate::new(1_048_576, None, None).max(), 1_046_528);
        assert_eq!(Gate::new(1024, Some(5000), None).max(), 992);
    }
}
