//! Writing one node's part of the shared state: from its local truth after a
//! (re)connect, or as nothing when the node died or leaves.

use super::chan::{self, kv_err, Chan, KvError};
use super::names::{self, Names};
use super::scan::scan;
use super::{lock, Buckets, Bus, Cluster};
use crate::channel::Member;
use crate::protocol;
use crate::socket::Frame;
use async_nats::jetstream::kv::Operation;
use async_nats::Client;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What one node has in one channel: subscribers or not, members and their sockets.
#[derive(Default)]
struct Part {
    occupied: bool,
    members: Vec<(Member, usize)>,
}

/// channel key -> (app, channel, this node's part).
type Parts = HashMap<String, (String, String, Part)>;

/// (app, channel, user) announced as gone, with the member.
pub(crate) type Gone = HashMap<(String, String, String), Member>;

/// Removals found by a resync are announced again after this long, for nodes
/// whose own reconnect came later (the bus does not keep messages). Clients
/// ignore a `member_removed` for a member they do not have.
const REPEAT_AFTER: Duration = Duration::from_secs(3);

/// After (re)connecting: make every channel entry hold this node's local truth,
/// re-register its counts and signed-in users, and tell everyone what changed meanwhile.
pub(crate) async fn resync(
    cluster: &Cluster,
    client: &Client,
    kv: &Buckets,
) -> Result<(), KvError> {
    let me = cluster.names.node.clone();
    let mark = format!("purged.{}", names::token(&me));
    let purged = matches!(
        kv.marks.entry(mark.as_str()).await.map_err(kv_err)?,
        Some(e) if e.operation == Operation::Put
    );
    if purged {
        kv.marks.delete(mark).await.map_err(kv_err)?;
    }
    let lock_key = format!("purge.{}", names::token(&me));
    kv.locks.delete(lock_key).await.map_err(kv_err)?;
    let parts = local_parts(cluster);
    let mut gone = rewrite(cluster, kv, &me, parts, purged).await?;
    announce_failed_leaves(cluster, kv, &mut gone).await?;
    let again = Instant::now() + REPEAT_AFTER;
    *lock(&cluster.repeat_gone) = Some((again, gone));
    register_counts(cluster, kv).await?;
    super::watch::resync(cluster, kv, purged).await?;
    listen_to_local_channels(cluster, client).await;
    Ok(())
}

fn local_parts(cluster: &Cluster) -> Parts {
    let mut parts = Parts::new();
    for state in cluster.registry.apps() {
        let app = state.app().raw.id.clone();
        for (channel, _) in state.channels("") {
            let key = Names::chan_key(&app, &channel);
            let entry = parts
                .entry(key)
                .or_insert_with(|| (app.clone(), channel, Part::default()));
            entry.2.occupied = true;
        }
        for (channel, members) in state.local_presence() {
            let key = Names::chan_key(&app, &channel);
            let entry = parts
                .entry(key)
                .or_insert_with(|| (app.clone(), channel, Part::default()));
            entry.2.members = members;
        }
    }
    parts
}

/// Rewrite `node`'s part of every entry that mentions it or that `parts` names;
/// announce members gone for good, and (when `announce_added`) members new again.
async fn rewrite(
    cluster: &Cluster,
    kv: &Buckets,
    node: &str,
    mut parts: Parts,
    announce_added: bool,
) -> Result<Gone, KvError> {
    let mut todo: Vec<(String, String, String, Part)> = Vec::new();
    for item in scan(&kv.chan, ">").await? {
        let part = parts.remove(&item.key);
        if part.is_none() && !chan::decode(&item.value).mentions(node) {
            continue;
        }
        let Some((app, channel)) = names::parse_chan_key(&item.key) else {
            continue;
        };
        let part = part.map(|(_, _, p)| p).unwrap_or_default();
        todo.push((item.key, app, channel, part));
    }
    todo.extend(parts.into_iter().map(|(k, (a, c, p))| (k, a, c, p)));
    let mut gone = Gone::new();
    for (key, app, channel, part) in todo {
        let set = |c: &mut Chan| c.set_node(node, part.occupied, &part.members);
        let ((added, removed), _) = chan::change(&kv.chan, &key, set).await?;
        for m in removed {
            cluster.announce_gone(&app, &channel, &m);
            gone.insert((app.clone(), channel.clone(), m.id.clone()), m);
        }
        for m in added.iter().filter(|_| announce_added) {
            let frame = protocol::member_added(&channel, &m.id_json, m.info_json.as_deref());
            cluster.enqueue(
                Bus::Broadcast,
                &app,
                &channel,
                None,
                &Frame::from(frame),
                None,
            );
        }
    }
    Ok(gone)
}

/// Leaves that could not be written while NATS was away: if the user has no
/// socket left here and is not in the entry now, nobody was told yet.
async fn announce_failed_leaves(
    cluster: &Cluster,
    kv: &Buckets,
    gone: &mut Gone,
) -> Result<(), KvError> {
    let failed: Vec<(String, String, Member)> = lock(&cluster.failed_leaves).drain(..).collect();
    for (app, channel, m) in failed {
        if gone.contains_key(&(app.clone(), channel.clone(), m.id.clone())) {
            continue;
        }
        let here = cluster
            .registry
            .app(&app)
            .is_some_and(|s| s.members(&channel).iter().any(|x| x.id == m.id));
        let key = Names::chan_key(&app, &channel);
        let (entry, _, _) = chan::read(&kv.chan, &key).await?;
        if !here && !entry.members.contains_key(&m.id) {
            cluster.announce_gone(&app, &channel, &m);
            gone.insert((app, channel, m.id.clone()), m);
        }
    }
    Ok(())
}

/// The second announcement of a resync's removals, for users still gone.
pub(crate) async fn repeat_gone(cluster: &Cluster, kv: &Buckets) -> Result<(), KvError> {
    let due = {
        let mut repeat = lock(&cluster.repeat_gone);
        match repeat.take() {
            Some((at, gone)) if at <= Instant::now() => gone,
            other => {
                *repeat = other;
                return Ok(());
            }
        }
    };
    for ((app, channel, user), m) in due {
        let key = Names::chan_key(&app, &channel);
        let (entry, _, _) = chan::read(&kv.chan, &key).await?;
        let here = cluster
            .registry
            .app(&app)
            .is_some_and(|s| s.members(&channel).iter().any(|x| x.id == user));
        if !here && !entry.members.contains_key(&user) {
            cluster.announce_gone(&app, &channel, &m);
        }
    }
    Ok(())
}

/// Replace this node's subscription counts with the local ones.
async fn register_counts(cluster: &Cluster, kv: &Buckets) -> Result<(), KvError> {
    let me = &cluster.names.node;
    let mut dirty = lock(&cluster.dirty).clone();
    for item in scan(&kv.subs, &format!("{}.>", names::token(me))).await? {
        if let Some((_, app, channel)) = names::parse_subs_key(&item.key) {
            dirty.insert((app, channel));
        }
    }
    for state in cluster.registry.apps() {
        for (channel, _) in state.channels("") {
            dirty.insert((state.app().raw.id.clone(), channel));
        }
    }
    lock(&cluster.dirty).extend(dirty);
    Ok(())
}

/// Subjects of channels that got local subscribers before the client existed.
async fn listen_to_local_channels(cluster: &Cluster, client: &Client) {
    for state in cluster.registry.apps() {
        let app = state.app().raw.id.clone();
        for (channel, _) in state.channels("") {
            let subject = cluster.names.channel(&app, &channel);
            if !cluster.interest.is_listening(&subject) {
                cluster
                    .interest
                    .listen(client, &subject, &cluster.names.ping())
                    .await;
            }
        }
    }
}

/// Remove a dead node: its part of every channel entry, its signed-in users,
/// its counts, its heartbeat.
pub(crate) async fn purge(cluster: &Cluster, kv: &Buckets, node: &str) -> Result<(), KvError> {
    rewrite(cluster, kv, node, Parts::new(), false).await?;
    super::watch::purge(cluster, kv, node).await?;
    forget(kv, node).await?;
    let mark = format!("purged.{}", names::token(node));
    kv.marks.put(mark, "1".into()).await.map_err(kv_err)?;
    Ok(())
}

/// Delete a node's heartbeat and subscription counts.
async fn forget(kv: &Buckets, node: &str) -> Result<(), KvError> {
    for item in scan(&kv.subs, &format!("{}.>", names::token(node))).await? {
        kv.subs.delete(item.key).await.map_err(kv_err)?;
    }
    kv.nodes
        .delete(Names::node_key(node))
        .await
        .map_err(kv_err)?;
    Ok(())
}

/// Leave the cluster at once (after the sockets have gone).
pub(crate) async fn forget_own(cluster: &Cluster, kv: &Buckets) {
    let me = cluster.names.node.clone();
    if let Err(e) = rewrite(cluster, kv, &me, Parts::new(), false).await {
        tracing::warn!(error = %e, "could not remove this node's part of the channels");
    }
    if let Err(e) = super::watch::purge(cluster, kv, &me).await {
        tracing::warn!(error = %e, "could not remove this node's signed-in users");
    }
    if let Err(e) = forget(kv, &me).await {
        tracing::warn!(error = %e, "could not remove this node's keys");
    }
}
