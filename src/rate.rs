//! Per-second budgets for Soketi's per-app rate limits (backend events and read
//! requests on the HTTP API). A leaf: a fixed one-second window per budget,
//! counted on this node ([`Budget`]) or, with the Redis adapter, per second of
//! Unix time in Redis for the whole cluster ([`Usage::in_second`]).

use std::sync::Mutex;
use std::time::{Duration, Instant};

const WINDOW: Duration = Duration::from_secs(1);

/// Points used in the current window.
#[derive(Debug, Default)]
pub struct Budget {
    window: Mutex<Option<(Instant, i64)>>,
}

/// The state of a budget after a request, for the `X-RateLimit-*` headers.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Usage {
    pub limit: i64,
    pub remaining: i64,
    /// Until the window resets.
    pub retry_after: Duration,
}

/// Which of an app's HTTP API budgets a request draws from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Api {
    /// `max_backend_events_per_sec`: one point per channel of each event.
    Events,
    /// `max_read_req_per_sec`: one point per channel query.
    Reads,
}

impl Api {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Api::Events => "events",
            Api::Reads => "reads",
        }
    }
}

impl Usage {
    /// The answer of a budget counted per second of Unix time (`now` since the
    /// epoch), of which `used` points are spent; `taken`: this request's were.
    pub(crate) fn in_second(
        limit: i64,
        used: i64,
        taken: bool,
        now: Duration,
    ) -> Result<Usage, Usage> {
        let into = Duration::from_nanos(u64::from(now.subsec_nanos()));
        let usage = Usage {
            limit,
            remaining: (limit - used).max(0),
            retry_after: WINDOW.saturating_sub(into),
        };
        if taken {
            Ok(usage)
        } else {
            Err(usage)
        }
    }

    /// `X-RateLimit-Limit`, `X-RateLimit-Remaining` and `Retry-After` (seconds, like Soketi).
    pub(crate) fn headers(&self) -> Vec<(&'static str, String)> {
        vec![
            ("X-RateLimit-Limit", self.limit.to_string()),
            ("X-RateLimit-Remaining", self.remaining.to_string()),
            ("Retry-After", format!("{}", self.retry_after.as_secs_f64())),
        ]
    }
}

impl Budget {
    /// Take `points` out of `limit` per second. `None`: unlimited (negative limit).
    /// `Err`: over the limit; nothing was taken.
    pub(crate) fn take(&self, limit: i64, points: i64) -> Option<Result<Usage, Usage>> {
        self.take_at(limit, points, Instant::now())
    }

    fn take_at(&self, limit: i64, points: i64, now: Instant) -> Option<Result<Usage, Usage>> {
        if limit < 0 {
            return None;
        }
        let mut w = self.window.lock().unwrap_or_else(|e| e.into_inner());
        let (start, used) = match *w {
            Some((start, used)) if now.duration_since(start) < WINDOW => (start, used),
            _ => (now, 0),
        };
        let retry_after = WINDOW.saturating_sub(now.duration_since(start));
        let allowed = used + points <= limit;
        let used = if allowed { used + points } else { used };
        *w = Some((start, used));
        let usage = Usage {
            limit,
            remaining: limit - used,
            retry_after,
        };
        Some(if allowed { Ok(usage) } else { Err(usage) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_allows_limit_points_then_refuses_until_it_resets() {
        let b = Budget::default();
        let t = Instant::now();
        assert_eq!(b.take_at(-1, 100, t), None);
        let first = b.take_at(3, 2, t).unwrap().unwrap();
        assert_eq!((first.remaining, first.retry_after), (1, WINDOW));
        let refused = b.take_at(3, 2, t + Duration::from_millis(400)).unwrap();
        let refused = refused.unwrap_err();
        assert_eq!(refused.remaining, 1);
        assert_eq!(refused.retry_after, Duration::from_millis(600));
        assert!(b
            .take_at(3, 1, t + Duration::from_millis(500))
            .unwrap()
            .is_ok());
        assert!(b.take_at(3, 3, t + WINDOW).unwrap().is_ok());
        let h = first.headers();
        assert_eq!(h[0], ("X-RateLimit-Limit", "3".to_string()));
        assert_eq!(h[2], ("Retry-After", "1".to_string()));
    }
}
