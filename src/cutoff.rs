//! What a clustered node cut off from its bus does with its own sockets.
//!
//! A node that lost its bus (Redis, NATS) keeps serving its sockets: local
//! events and client events still flow, but events published on other nodes
//! do not reach them. By default that is all (the node is not ready, so a load
//! balancer that checks `/ready` sends new connections elsewhere). With
//! `bus_lost_reconnect_secs = N` the node tells the sockets it had when the
//! bus was lost to reconnect (`pusher:error` + close 4200, which pusher-js
//! answers by reconnecting at once) once the bus has been gone for N s, spread
//! evenly over the next N s, so a load balancer can move them to a node that
//! still has the bus.
//!
//! No reconnect storm when the bus is down for every node: a node cannot tell
//! "I am cut off" from "the bus is down for all", so it bounds what it does in
//! both cases. Each socket is told at most once per outage (only sockets open
//! when the bus was lost; those that arrive during the outage, maybe closed by
//! another node, are kept: this node is the best the balancer has), the closes
//! come at most `sockets / N` per second, and they stop as soon as the bus is back.

use crate::node::Node;
use crate::protocol::code;
use crate::socket::Sink;
use std::sync::{Arc, Weak};
use std::time::Duration;

/// How often the bus's state is looked at, and the step of the spread closes.
const TICK: Duration = Duration::from_millis(100);
const MESSAGE: &str = "Cut off from the cluster. Please reconnect.";

/// The setting's duration, if it is on.
pub(crate) fn after(node: &Node) -> Option<Duration> {
    let secs = node.config.server.raw.bus_lost_reconnect_secs;
    let clustered = node.config.server.cluster.is_some() || node.config.server.nats.is_some();
    (secs > 0 && clustered).then(|| Duration::from_secs(secs))
}

/// Run until the node is dropped: after each loss of the bus that lasts
/// `after`, close the sockets open at the loss, spread over `after`.
pub(crate) async fn run(node: Weak<Node>, after: Duration) {
    loop {
        if !until(&node, true).await || !until(&node, false).await {
            return;
        }
        let Some(before) = node.upgrade().map(|n| snapshot(&n)) else {
            return;
        };
        tracing::warn!(
            sockets = before.len(),
            after_secs = after.as_secs(),
            "cluster bus lost: sockets open now are told to reconnect if it stays lost"
        );
        if stays_lost(&node, after).await {
            close_spread(&node, &before, after).await;
        }
    }
}

fn snapshot(node: &Node) -> Vec<Weak<Sink>> {
    let mut sinks = Vec::new();
    node.roster.each(|s| sinks.push(Arc::downgrade(s)));
    sinks
}

/// Wait until the bus is `up` (or down); false once the node is gone.
async fn until(node: &Weak<Node>, up: bool) -> bool {
    loop {
        match node.upgrade().map(|n| n.adapter.healthy()) {
            None => return false,
            Some(now) if now == up => return true,
            Some(_) => tokio::time::sleep(TICK).await,
        }
    }
}

/// Whether the bus stays lost for `span`.
async fn stays_lost(node: &Weak<Node>, span: Duration) -> bool {
    let end = tokio::time::Instant::now() + span;
    while tokio::time::Instant::now() < end {
        tokio::time::sleep(TICK).await;
        if node.upgrade().is_none_or(|n| n.adapter.healthy()) {
            return false;
        }
    }
    true
}

/// Close `sinks` with 4200, a share every [`TICK`] over `window`; stop if the bus is back.
async fn close_spread(node: &Weak<Node>, sinks: &[Weak<Sink>], window: Duration) {
    let ticks = (window.as_millis() / TICK.as_millis()).max(1) as u32;
    let per_tick = sinks.len().div_ceil(ticks as usize).max(1);
    let start = tokio::time::Instant::now();
    let mut told = 0;
    for (i, chunk) in sinks.chunks(per_tick).enumerate() {
        tokio::time::sleep_until(start + window * i as u32 / ticks).await;
        if node.upgrade().is_none_or(|n| n.adapter.healthy()) {
            tracing::info!(told, "cluster bus back: no more sockets told to reconnect");
            return;
        }
        for sink in chunk.iter().filter_map(Weak::upgrade) {
            sink.close(code::RECONNECT, MESSAGE);
            told += 1;
        }
    }
    tracing::warn!(
        told,
        "cut off from the cluster bus: sockets told to reconnect"
    );
}
