//! Bus messages over NATS: the shared format of [`crate::adapter::bus`].

use super::Cluster;
use crate::adapter::bus::{self, Bus, Local};
use crate::adapter::cluster::Ack;
use crate::socket::Frame;
use async_nats::connection::State;
use async_nats::{Client, RequestErrorKind};
use bytes::Bytes;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

impl Cluster {
    /// Queue a message for the bus task, whether or not the node is ready yet
    /// (a resync's announcements are made before it is); dropped and counted
    /// when the queue is full.
    pub(super) fn enqueue(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
        ack: Option<Ack>,
    ) {
        let subject = match kind {
            Bus::Broadcast | Bus::Member(_) | Bus::Count => self.names.channel(app, target),
            Bus::ToUser
            | Bus::Terminate
            | Bus::Watch(_)
            | Bus::Kept(_)
            | Bus::Places
            | Bus::Marks
            | Bus::Probe
            | Bus::Probed => self.names.app(app),
        };
        // A message someone waits for (an API publish) is delivered here on its echo.
        let origin = bus::origin(&self.names.node, ack.is_some());
        let msg = Bytes::from(bus::encode(&origin, kind, app, target, except, frame));
        if self.bus_tx.try_send((subject, msg, ack)).is_err() && crate::metrics::bus_dropped() {
            tracing::warn!("cluster bus queue full: messages dropped (soketi_bus_dropped_total)");
        }
    }

    /// Handle a bus message from another node.
    pub(super) fn deliver(self: &Arc<Self>, payload: &[u8]) {
        let payload = String::from_utf8_lossy(payload);
        let node = &self.names.node;
        bus::deliver(&self.registry, node, &payload, |local| match local {
            Local::Count(app, channel) => self.peer_count_changed(app, channel),
            Local::Probe(app, browser, frame) => {
                crate::adapter::kept::answer_probe(self, app, node, browser, frame)
            }
        });
    }
}

/// Probe the connection ([`crate::adapter::probe`]) while it is up; when it
/// goes silent the node is not ready at once, and the client drops it for a
/// new one (the session ends on its `Disconnected`, the new connection
/// subscribes again and the node resyncs).
pub(super) async fn probe(cluster: Weak<Cluster>, client: Client) {
    let Some(ping) = cluster.upgrade().map(|c| c.names.ping()) else {
        return;
    };
    loop {
        while client.connection_state() != State::Connected {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let why = crate::adapter::probe::until_silent(|| {
            let request = client.request(ping.clone(), Bytes::new());
            async move {
                match request.await {
                    Err(e) if e.kind() != RequestErrorKind::NoResponders => Err(e),
                    _ => Ok(()),
                }
            }
        })
        .await;
        let Some(cluster) = cluster.upgrade() else {
            return;
        };
        cluster.healthy.store(false, Ordering::Release);
        tracing::warn!(reason = %why, "NATS connection silent: not ready, reconnecting");
        if client.force_reconnect().await.is_err() {
            return;
        }
        // The client takes the request asynchronously: let it leave `Connected`.
        for _ in 0..20 {
            if client.connection_state() != State::Connected {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
