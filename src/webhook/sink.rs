//! Where a node's webhook jobs go when a durable queue is configured: the Redis
//! stream ([`super::queue`]) or SQS ([`super::sqs`]).

use super::queue::{self, Job};
use super::sqs;
use crate::config::WebhookSettings;
use std::sync::Arc;

pub(crate) enum Sink {
    Redis(Arc<queue::producer::Producer>),
    Sqs(Arc<sqs::Producer>),
}

impl Sink {
    /// The configured queue's producer; `None` for the in-memory queue, or
    /// (logged) when the queue cannot be used.
    pub(crate) fn for_settings(settings: &WebhookSettings) -> Option<Sink> {
        let made = if let Some(q) = &settings.redis_queue {
            queue::producer::producer(q, settings.queue)
                .map(Sink::Redis)
                .map_err(|e| e.to_string())
        } else if let Some(q) = &settings.sqs_queue {
            sqs::producer(q, settings.queue)
                .map(Sink::Sqs)
                .map_err(|e| e.to_string())
        } else {
            return None;
        };
        made.inspect_err(|e| tracing::error!(error = %e, "webhooks kept in memory instead"))
            .ok()
    }

    /// Queue a job without waiting; `false` when the local buffer is full.
    pub(crate) fn push(&self, job: Job) -> bool {
        match self {
            Sink::Redis(p) => p.push(job),
            Sink::Sqs(p) => p.push(job),
        }
    }

    /// Wait until the jobs pushed so far are in the queue.
    pub(crate) async fn flush(&self) {
        match self {
            Sink::Redis(p) => p.flush().await,
            Sink::Sqs(p) => p.flush().await,
        }
    }
}
