//! When a quiet socket gets a `pusher:ping`, when it is given up on (4201) and
//! when an unsigned socket runs out of time to sign in (4009), as plain state
//! behind one timer: activity only moves a timestamp, so a busy socket does not
//! touch the timer wheel.

use crate::protocol::code;
use tokio::time::{Duration, Instant};

pub struct Liveness {
    activity_timeout: Duration,
    pong_timeout: Duration,
    last_activity: Instant,
    pinged_at: Option<Instant>,
    signin_deadline: Option<Instant>,
}

/// What the timer's firing means.
#[derive(Debug, PartialEq)]
pub enum Verdict {
    Wait,
    Ping,
    Close(u16, &'static str, &'static str),
}

impl Liveness {
    pub fn new(activity: Duration, pong: Duration, signin: Option<Duration>) -> Liveness {
        let now = Instant::now();
        Liveness {
            activity_timeout: activity,
            pong_timeout: pong,
            last_activity: now,
            pinged_at: None,
            signin_deadline: signin.map(|d| now + d),
        }
    }

    /// Any inbound frame counts as activity.
    pub fn activity(&mut self) {
        self.last_activity = Instant::now();
    }

    /// Decide at the timer's deadline; `signed_in` ends the sign-in clock.
    pub fn check(&mut self, signed_in: bool) -> Verdict {
        let now = Instant::now();
        if signed_in {
            self.signin_deadline = None;
        }
        if self.signin_deadline.is_some_and(|d| now >= d) {
            return Verdict::Close(
                code::UNAUTHORIZED,
                "Connection not authorized within timeout.",
                "sign-in timeout",
            );
        }
        if let Some(pinged) = self.pinged_at {
            if self.last_activity > pinged {
                self.pinged_at = None;
            } else if now >= pinged + self.pong_timeout {
                return Verdict::Close(
                    code::PONG_TIMEOUT,
                    "Pong reply not received in time",
                    "pong timeout",
                );
            } else {
                return Verdict::Wait;
            }
        }
        if now >= self.last_activity + self.activity_timeout {
            self.pinged_at = Some(now);
            return Verdict::Ping;
        }
        Verdict::Wait
    }

    /// When [`Liveness::check`] should run next.
    pub fn next_deadline(&self) -> Instant {
        let liveness = match self.pinged_at {
            Some(pinged) => pinged + self.pong_timeout,
            None => self.last_activity + self.activity_timeout,
        };
        self.signin_deadline.map_or(liveness, |d| d.min(liveness))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[tokio::test(start_paused = true)]
    async fn quiet_sockets_are_pinged_then_dropped() {
        let mut live = Liveness::new(30 * S, 30 * S, None);
        tokio::time::sleep(29 * S).await;
        assert_eq!(live.check(false), Verdict::Wait);
        tokio::time::sleep(S).await;
        assert_eq!(live.check(false), Verdict::Ping);
        assert_eq!(live.next_deadline(), Instant::now() + 30 * S);
        tokio::time::sleep(30 * S).await;
        assert!(matches!(live.check(false), Verdict::Close(4201, ..)));
    }

    #[tokio::test(start_paused = true)]
    async fn activity_after_a_ping_counts_as_the_answer() {
        let mut live = Liveness::new(30 * S, 30 * S, None);
        tokio::time::sleep(30 * S).await;
        assert_eq!(live.check(false), Verdict::Ping);
        tokio::time::sleep(S).await;
        live.activity();
        tokio::time::sleep(29 * S).await;
        assert_eq!(live.check(false), Verdict::Wait);
        assert_eq!(live.next_deadline(), Instant::now() + S);
    }

    #[tokio::test(start_paused = true)]
    async fn sign_in_clock_stops_once_signed_in() {
        let mut live = Liveness::new(30 * S, 30 * S, Some(3 * S));
        assert_eq!(live.next_deadline(), Instant::now() + 3 * S);
        tokio::time::sleep(3 * S).await;
        assert!(matches!(live.check(false), Verdict::Close(4009, ..)));
        let mut live = Liveness::new(30 * S, 30 * S, Some(3 * S));
        tokio::time::sleep(3 * S).await;
        assert_eq!(live.check(true), Verdict::Wait);
        assert_eq!(live.next_deadline(), Instant::now() + 27 * S);
    }
}
