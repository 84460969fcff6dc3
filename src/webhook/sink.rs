//! Where a node's webhook jobs go when a durable queue is configured: the Redis
//! stream ([`super::queue`]) or SQS ([`super::sqs`]), both behind one
//! [`Producer`] handle.

use super::handoff::Producer;
use super::{queue, sqs};
use crate::config::WebhookSettings;
use std::sync::Arc;

/// The configured queue's producer; `None` for the in-memory queue, or
/// (logged) when the queue cannot be used.
pub(crate) fn for_settings(settings: &WebhookSettings) -> Option<Arc<Producer>> {
    let made = if let Some(q) = &settings.redis_queue {
        queue::producer::producer(q, settings.queue).map_err(|e| e.to_string())
    } else if let Some(q) = &settings.sqs_queue {
        sqs::producer(q, settings.queue).map_err(|e| e.to_string())
    } else {
        return None;
    };
    made.inspect_err(|e| tracing::error!(error = %e, "webhooks kept in memory instead"))
        .ok()
}
