//! Cache channels: the last API event of each, for a while.

use super::{lock, AppState};
use crate::socket::Frame;
use std::time::{Duration, Instant};

pub(super) struct Cached {
    frame: Frame,
    data: String,
    expires: Instant,
}

impl AppState {
    /// Keep the last API event of a cache channel.
    pub(crate) fn cache_put(&self, name: &str, frame: &Frame, data: &str, ttl: Duration) {
        let mut cache = lock(&self.cache);
        let now = Instant::now();
        cache.retain(|_, c| c.expires > now);
        let cached = Cached {
            frame: frame.clone(),
            data: data.to_string(),
            expires: now + ttl,
        };
        cache.insert(name.to_string(), cached);
    }

    /// The cached frame, its raw `data` and the time it has left.
    pub(crate) fn cache_get(&self, name: &str) -> Option<(Frame, String, Duration)> {
        let cache = lock(&self.cache);
        let c = cache.get(name)?;
        let left = c.expires.checked_duration_since(Instant::now())?;
        Some((c.frame.clone(), c.data.clone(), left))
    }
}
