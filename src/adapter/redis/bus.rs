//! The bus over the node's one link: subscribing and unsubscribing delivery
//! subjects, and publishing the queued messages in order.

use super::{Bus, Cluster, Outgoing};
use crate::adapter::bus::{self, Local};
use crate::adapter::cluster::Ack;
use crate::redis_link::Conn;
use crate::socket::Frame;
use ::redis::RedisResult;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, Notify};

/// Publishes sent in one pipeline at most.
const MAX_PIPELINE: usize = 512;

/// Subscribe the link to `subjects`, one command each (each is acknowledged on its own).
pub(crate) async fn subscribe(conn: &mut Conn, subjects: &[String]) -> RedisResult<()> {
    let mut pipe = ::redis::pipe();
    for s in subjects {
        pipe.cmd(conn.subscribe_cmd()).arg(s).ignore();
    }
    pipe.query_async(conn).await
}

/// Unsubscribe the subjects whose last local subscriber left more than `LINGER` ago.
pub(crate) async fn unsubscribe_idle(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let empty = |app: &str, channel: &str| {
        cluster
            .registry
            .app(app)
            .is_none_or(|a| a.counts(channel).is_none())
    };
    let leaving = cluster.subjects.take_idle(empty);
    if leaving.is_empty() {
        return Ok(());
    }
    let mut pipe = ::redis::pipe();
    for s in &leaving {
        pipe.cmd(conn.unsubscribe_cmd()).arg(s).ignore();
    }
    pipe.query_async::<()>(conn).await?;
    cluster.subjects.mark_left(&leaving);
    Ok(())
}

/// Publish the queued messages in order, pipelined. On a Redis Cluster one
/// pipeline per subject (its slot), sent together: a subject's order is kept.
pub(crate) async fn send_bus(
    conn: &mut Conn,
    first: Outgoing,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> RedisResult<()> {
    let mut batch = vec![first];
    while batch.len() < MAX_PIPELINE {
        match rx.try_recv() {
            Ok(msg) => batch.push(msg),
            Err(_) => break,
        }
    }
    let acks: Vec<Ack> = batch.iter_mut().filter_map(|m| m.ack.take()).collect();
    publish_batch(conn, batch).await?;
    // Redis replied to every PUBLISH: the subscribers' connections have them.
    for ack in acks {
        let _ = ack.send(());
    }
    Ok(())
}

/// Send one batch of publishes and wait for every reply.
async fn publish_batch(conn: &mut Conn, batch: Vec<Outgoing>) -> RedisResult<()> {
    let publish = conn.publish_cmd();
    if !conn.sharded() {
        let mut pipe = ::redis::pipe();
        for m in batch {
            pipe.cmd(publish).arg(m.subject).arg(m.payload).ignore();
        }
        return pipe.query_async(conn).await;
    }
    let mut groups: Vec<(String, ::redis::Pipeline)> = Vec::new();
    for m in batch {
        let at = match groups.iter().position(|(s, _)| *s == m.subject) {
            Some(i) => i,
            None => {
                groups.push((m.subject.clone(), ::redis::pipe()));
                groups.len() - 1
            }
        };
        groups[at]
            .1
            .cmd(publish)
            .arg(m.subject)
            .arg(m.payload)
            .ignore();
    }
    let sends = groups.iter().map(|(_, pipe)| {
        let mut c = conn.clone();
        async move { pipe.query_async::<()>(&mut c).await }
    });
    futures_util::future::try_join_all(sends).await.map(|_| ())
}

impl Cluster {
    /// An unsubscribe of `subject` that this node did not send (it sends them only
    /// for `Leaving` subjects, and never for the node-wide one).
    pub(super) fn unasked(&self, subject: &str) -> bool {
        subject == self.keys.bus() || self.subjects.is_live(subject)
    }

    /// This node's message of `kind`, for [`bus::deliver`] on the other nodes.
    pub(super) fn bus_message(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
    ) -> String {
        bus::encode(&self.keys.node, kind, app, target, except, frame)
    }

    /// Handle a bus message from another node.
    pub(super) fn deliver(self: &Arc<Self>, payload: &str) {
        let node = &self.keys.node;
        bus::deliver(&self.registry, node, payload, |local| match local {
            Local::Count(app, channel) => self.registry.counter.mark(&app.app().raw.id, channel),
            Local::Probe(app, browser, frame) => {
                crate::adapter::kept::answer_probe(self, app, node, browser, frame)
            }
        });
    }
}

/// Probe the link ([`crate::adapter::probe`]) until it goes silent; then the
/// node is not ready at once, and `lost` makes the bus task start a new link.
pub(crate) async fn probe(cluster: std::sync::Weak<Cluster>, conn: Conn, lost: Arc<Notify>) {
    let why = crate::adapter::probe::until_silent(|| {
        let mut c = conn.clone();
        async move { ::redis::cmd("PING").query_async::<()>(&mut c).await }
    })
    .await;
    if let Some(cluster) = cluster.upgrade() {
        cluster.healthy.store(false, Ordering::Release);
    }
    tracing::warn!(reason = %why, "Redis link silent: not ready, starting a new link");
    lost.notify_one();
}
