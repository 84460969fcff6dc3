//! The bounded probe on a bus link: a round trip every [`EVERY`] that must be
//! answered within [`DEADLINE`], so a link that went silent (bytes stop both
//! ways, no RST, no FIN: a partition, a dead middlebox) is noticed in at most
//! `EVERY + DEADLINE` (2 s), whatever the kernel's TCP keepalive says and
//! whatever else is waiting on the link. The probe runs beside the bus task, so
//! a command stuck on the silent link cannot delay it.
//!
//! Redis and Redis Cluster send `PING` (to every master on a cluster); NATS sends
//! a request to a subject nobody answers, which the server answers itself.

use std::future::Future;
use std::time::Duration;
use tokio::time::MissedTickBehavior;

/// How often the link is probed.
pub(crate) const EVERY: Duration = Duration::from_millis(500);
/// How long a probe may wait for its answer.
pub(crate) const DEADLINE: Duration = Duration::from_millis(1500);

/// Run `ping` every [`EVERY`] until one fails or is not answered within
/// [`DEADLINE`]; returns why.
pub(crate) async fn until_silent<F, Fut, E>(mut ping: F) -> String
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut tick = tokio::time::interval(EVERY);
    tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        match tokio::time::timeout(DEADLINE, ping()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return format!("probe failed: {e}"),
            Err(_) => return format!("probe unanswered for {DEADLINE:?}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[tokio::test(start_paused = true)]
    async fn a_silent_link_is_noticed_within_every_plus_deadline() {
        let answered = AtomicU32::new(0);
        let start = tokio::time::Instant::now();
        let why = until_silent(|| {
            let n = answered.fetch_add(1, Ordering::Relaxed);
            async move {
                if n >= 3 {
                    std::future::pending::<()>().await;
                }
                Ok::<(), std::io::Error>(())
            }
        })
        .await;
        assert!(why.contains("unanswered"), "{why}");
        // Three answers (at 0, 0.5, 1 s), the fourth probe at 1.5 s is never answered.
        assert_eq!(start.elapsed(), EVERY * 3 + DEADLINE);
    }
}
