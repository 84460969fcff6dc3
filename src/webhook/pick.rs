//! Which events any webhook wants, and the clock events are stamped with.

use super::Event;
use crate::config::webhooks::Webhook;
use std::time::{SystemTime, UNIX_EPOCH};

/// Whether any webhook wants the event, or a delayed event it may cancel.
pub(super) fn relevant(hooks: &[Webhook], event: &Event) -> bool {
    hooks.iter().any(|w| {
        w.wants(event.kind(), event.channel())
            || event.cancels().is_some_and(|k| w.wants(k, event.channel()))
    })
}

pub(super) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
