//! Draining at shutdown: sockets told to reconnect over the window, then the
//! delayed webhooks, the queue worker and the adapter, all within the grace period.

use super::jobs;
use crate::node::Node;
use std::time::Duration;

pub(super) async fn drain(node: &Node, worker: Option<crate::webhook::Worker>) {
    let window = node.config.server.reconnect_window;
    tracing::info!(
        connections = node.adapter.total_connections(),
        ?window,
        "draining"
    );
    let deadline = tokio::time::Instant::now() + window + node.config.server.shutdown_grace_period;
    node.roster.drain_over(window).await;
    while node.adapter.total_connections() > 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tracing::info!(remaining = node.adapter.total_connections(), "drained");
    flush_webhooks(node, deadline).await;
    jobs::stop(worker, deadline).await;
    node.adapter.shutdown().await;
}

/// Send the webhooks the closed sockets caused (vacated channels, removed
/// members) without their delay, waiting at most until `deadline` (plus a second).
async fn flush_webhooks(node: &Node, deadline: tokio::time::Instant) {
    let apps = node.adapter.apps();
    let flushes = futures_util::future::join_all(apps.iter().map(|a| a.webhooks.flush()));
    let until = deadline.max(tokio::time::Instant::now()) + Duration::from_secs(1);
    if tokio::time::timeout_at(until, flushes).await.is_err() {
        tracing::warn!("webhooks still being retried at shutdown were dropped");
    }
}
