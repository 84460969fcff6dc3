//! What `mode` and `queue_driver` make this node do with webhook jobs: with the
//! Redis or SQS queue, `full` and `worker` nodes start a queue worker; the
//! in-memory queue has no worker (each node sends its own webhooks, whatever its mode).

use crate::config::Mode;
use crate::node::Node;
use crate::webhook::queue::worker::Lookup;
use crate::webhook::{queue, sqs, Worker};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// The node's queue worker, if it runs one; says so in the logs either way.
pub(super) fn start(node: &Arc<Node>) -> Option<Worker> {
    let server = &node.config.server;
    let mode = server.mode;
    let (redis, sqs) = (&server.webhooks.redis_queue, &server.webhooks.sqs_queue);
    if redis.is_none() && sqs.is_none() {
        match mode {
            Mode::Full => {}
            Mode::Server => tracing::warn!("mode \"server\" with the in-memory webhook queue: this node still sends its own webhooks (set queue_driver = \"redis\" to leave them to workers)"),
            Mode::Worker => tracing::warn!("mode \"worker\" without queue_driver = \"redis\": there are no webhook jobs to take, this node does nothing"),
        }
        return None;
    }
    if !mode.processes_queue() {
        tracing::info!(
            mode = mode.name(),
            "webhook jobs go to the queue; worker nodes deliver them"
        );
        return None;
    }
    let weak = Arc::downgrade(node);
    let apps: Lookup = Arc::new(move |id| weak.upgrade()?.config.apps.by_id(id));
    // A worker is ready once it reads jobs; other nodes' readiness ignores the queue
    // (their jobs wait in memory while Redis is away).
    let up = match mode {
        Mode::Worker => {
            node.queue_up.store(false, Ordering::Release);
            node.queue_up.clone()
        }
        _ => Arc::default(),
    };
    let (settings, port) = (server.webhooks.clone(), server.raw.port);
    let started = match (redis, sqs) {
        (Some(q), _) => {
            queue::worker::start(q, settings, port, up, apps).map_err(|e| e.to_string())
        }
        (_, Some(q)) => sqs::start_worker(q, settings, port, up, apps).map_err(|e| e.to_string()),
        _ => return None,
    };
    match started {
        Ok(worker) => {
            tracing::info!(mode = mode.name(), "delivering webhook jobs from the queue");
            Some(worker)
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook queue worker not started");
            None
        }
    }
}

/// At shutdown, once the webhooks are flushed: stop the worker, letting its
/// deliveries in flight end until `deadline` plus a second.
pub(super) async fn stop(worker: Option<Worker>, deadline: Instant) {
    let until = deadline.max(Instant::now()) + Duration::from_secs(1);
    if let Some(w) = worker {
        w.stop(until).await;
    }
}
