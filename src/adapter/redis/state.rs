//! The adapter's background task: connect, resync, read the bus, send the bus,
//! heartbeat, purge dead nodes, and start over when Redis goes away.

use super::bus::{send_bus, subscribe, unsubscribe_idle};
use super::keys::{field_parts, sub_field, Keys};
use super::repair::Removed;
use super::{lock, repair, scripts, Cluster, Outgoing};
use crate::protocol;
use crate::redis_link::Conn;
use crate::socket::Frame;
use ::redis::{AsyncCommands, PushInfo, PushKind, RedisResult, Value};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, Notify};

const HEARTBEAT: Duration = Duration::from_secs(1);
const HEARTBEAT_TTL_MS: u64 = 5_000;
const FLUSH: Duration = Duration::from_millis(20);

/// Run forever: (re)connect with back-off, then serve until the connection fails.
pub(crate) async fn run(cluster: Arc<Cluster>) {
    let Some(mut rx) = lock(&cluster.bus_rx).take() else {
        return;
    };
    let mut backoff = Duration::from_millis(100);
    loop {
        let lost = Arc::new(Notify::new());
        match connect(&cluster, &lost).await {
            Ok(conn) => {
                backoff = Duration::from_millis(100);
                *lock(&cluster.conn) = Some(conn.clone());
                cluster.healthy.store(true, Ordering::Release);
                tracing::info!(node = %cluster.keys.node, cluster = conn.sharded(), "connected to Redis: cluster bus up");
                let probe = Arc::downgrade(&cluster);
                let probe = tokio::spawn(super::bus::probe(probe, conn.clone(), lost.clone()));
                let reason = serve(&cluster, conn, &lost, &mut rx).await;
                probe.abort();
                cluster.healthy.store(false, Ordering::Release);
                *lock(&cluster.conn) = None;
                tracing::warn!(
                    reason,
                    "lost Redis: serving local sockets only, API publishes answer 503"
                );
            }
            Err(e) => tracing::warn!(error = %e, "cannot reach Redis; retrying (node not ready)"),
        }
        while rx.try_recv().is_ok() {
            crate::metrics::bus_dropped();
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// What the link does with pushes: deliveries of the current link go to the
/// registry at once (in the order Redis sent them); a lost link wakes `lost`.
/// Deliveries of an older link (still draining) are ignored.
fn pushes(cluster: &Arc<Cluster>, lost: &Arc<Notify>) -> impl Fn(PushInfo) -> Result<(), ()> {
    let weak = Arc::downgrade(cluster);
    let lost = lost.clone();
    let epoch = cluster.epoch.fetch_add(1, Ordering::AcqRel) + 1;
    move |info: PushInfo| {
        match info.kind {
            PushKind::Message | PushKind::SMessage => {
                crate::metrics::bus_received();
                let (Some(c), Some(Value::BulkString(payload))) =
                    (weak.upgrade(), info.data.get(1))
                else {
                    return Ok(());
                };
                if c.epoch.load(Ordering::Acquire) == epoch {
                    c.deliver(&String::from_utf8_lossy(payload));
                }
            }
            // Redis Cluster drops a subject's listeners when its slot moves: a
            // `sunsubscribe` this node did not ask for. Start over on a new link
            // (the old one may take the push for a command's answer).
            PushKind::SUnsubscribe => {
                let Some(c) = weak.upgrade() else {
                    return Ok(());
                };
                if let Some(Value::BulkString(name)) = info.data.first() {
                    let name = String::from_utf8_lossy(name);
                    if c.epoch.load(Ordering::Acquire) == epoch && c.unasked(&name) {
                        tracing::warn!(subject = %name, "Redis moved a subject's slot: reconnecting");
                        lost.notify_one();
                    }
                }
            }
            PushKind::Disconnection => lost.notify_one(),
            _ => {}
        }
        Ok(())
    }
}

async fn connect(cluster: &Arc<Cluster>, lost: &Arc<Notify>) -> RedisResult<Conn> {
    let mut conn = Conn::with_pushes(&cluster.target, pushes(cluster, lost)).await?;
    let mut subjects = cluster.subjects.reset();
    subjects.push(cluster.keys.bus());
    subscribe(&mut conn, &subjects).await?;
    cluster.subjects.mark_live(&subjects);
    resync(cluster, &mut conn).await?;
    heartbeat(cluster, &mut conn).await?;
    Ok(conn)
}

/// How often idle subjects are checked for their `UNSUBSCRIBE`.
const SWEEP: Duration = Duration::from_millis(500);

async fn serve(
    cluster: &Cluster,
    mut conn: Conn,
    lost: &Notify,
    rx: &mut mpsc::Receiver<Outgoing>,
) -> &'static str {
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut flush = tokio::time::interval(FLUSH);
    let mut sweep = tokio::time::interval(SWEEP);
    loop {
        tokio::select! {
            _ = lost.notified() => return "bus connection closed",
            _ = cluster.subjects.wake.notified() => {
                let pending = cluster.subjects.take_pending();
                if subscribe(&mut conn, &pending).await.is_err() {
                    return "bus subscribe failed";
                }
                cluster.subjects.mark_live(&pending);
            }
            Some(first) = rx.recv() => {
                if send_bus(&mut conn, first, rx).await.is_err() {
                    return "bus publish failed";
                }
            }
            _ = flush.tick() => {
                if flush_counts(cluster, &mut conn).await.is_err()
                    || repair::settle_occupancy(cluster, &mut conn).await.is_err()
                {
                    return "count update failed";
                }
            }
            _ = sweep.tick() => {
                if unsubscribe_idle(cluster, &mut conn).await.is_err() {
                    return "bus unsubscribe failed";
                }
            }
            _ = beat.tick() => {
                if heartbeat(cluster, &mut conn).await.is_err()
                    || repair::repeat_gone(cluster, &mut conn).await.is_err()
                {
                    return "heartbeat failed";
                }
            }
        }
    }
}

/// Write this node's changed subscription counts.
async fn flush_counts(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let dirty: Vec<(String, String)> = lock(&cluster.dirty).drain().collect();
    if dirty.is_empty() {
        return Ok(());
    }
    let key = cluster.keys.subs_of(&cluster.keys.node);
    let mut pipe = ::redis::pipe();
    for (app, channel) in &dirty {
        let n = cluster
            .registry
            .app(app)
            .and_then(|a| a.counts(channel))
            .map_or(0, |c| c.subscriptions);
        match n {
            0 => pipe.hdel(&key, sub_field(app, channel)).ignore(),
            n => pipe.hset(&key, sub_field(app, channel), n).ignore(),
        };
    }
    pipe.query_async::<()>(conn).await?;
    cluster.counts_written(&dirty);
    Ok(())
}

/// Announce this node, publish its connection counts, learn the peers, purge dead ones.
async fn heartbeat(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let keys = &cluster.keys;
    let conns: Vec<(String, usize)> = cluster
        .registry
        .apps()
        .iter()
        .map(|a| (a.app().raw.id.clone(), a.connection_count()))
        .collect();
    let mut pipe = ::redis::pipe();
    pipe.set_ex(keys.heartbeat_of(&keys.node), 1, HEARTBEAT_TTL_MS / 1000)
        .ignore();
    pipe.sadd(keys.nodes(), &keys.node).ignore();
    pipe.del(keys.conns_of(&keys.node)).ignore();
    if !conns.is_empty() {
        pipe.hset_multiple(keys.conns_of(&keys.node), &conns)
            .ignore();
    }
    pipe.smembers(keys.nodes());
    let (nodes,): (Vec<String>,) = pipe.query_async(conn).await?;
    let others: Vec<String> = nodes.into_iter().filter(|n| *n != keys.node).collect();
    let mut pipe = ::redis::pipe();
    for n in &others {
        pipe.exists(keys.heartbeat_of(n));
    }
    let alive: Vec<bool> = pipe.query_async(conn).await?;
    let (live, dead): (Vec<_>, Vec<_>) = others.into_iter().zip(alive).partition(|(_, a)| *a);
    let live: Vec<String> = live.into_iter().map(|(n, _)| n).collect();
    let mut totals: HashMap<String, usize> = HashMap::new();
    for n in &live {
        let per_app: HashMap<String, usize> = conn.hgetall(keys.conns_of(n)).await?;
        per_app
            .into_iter()
            .for_each(|(app, c)| *totals.entry(app).or_default() += c);
    }
    *lock(&cluster.remote_conns) = totals;
    *lock(&cluster.peers) = live;
    for (node, _) in dead {
        let locked: bool = ::redis::cmd("SET")
            .arg(keys.purge_lock(&node))
            .arg(&keys.node)
            .arg("NX")
            .arg("PX")
            .arg(10_000)
            .query_async::<Option<String>>(conn)
            .await?
            .is_some();
        if locked {
            tracing::warn!(dead = %node, "node stopped heartbeating: removing its presence members");
            purge_node(cluster, conn, &node).await?;
            super::watch::purge_node(cluster, conn, &node).await?;
            forget_node(conn, keys, &node).await?;
            conn.set_ex::<_, _, ()>(keys.purged_mark(&node), 1, 3600)
                .await?;
        }
    }
    Ok(())
}

/// Remove a node's presence contributions and announce members that left for good.
async fn purge_node(cluster: &Cluster, conn: &mut Conn, node: &str) -> RedisResult<()> {
    let subscribed: Vec<String> = conn.hkeys(cluster.keys.subs_of(node)).await?;
    let mut pipe = ::redis::pipe();
    for field in &subscribed {
        if let Some((app, channel)) = field_parts(field) {
            pipe.srem(cluster.keys.occupancy(app, channel), node)
                .ignore();
        }
    }
    pipe.query_async::<()>(conn).await?;
    let channels: Vec<String> = conn.smembers(cluster.keys.npres_of(node)).await?;
    for field in channels {
        let Some((app, channel)) = field_parts(&field) else {
            continue;
        };
        let removed = scripts::purge(conn, &cluster.keys, node, app, channel).await?;
        let Some(state) = cluster.registry.app(app) else {
            continue;
        };
        for m in removed {
            let frame = Frame::from(protocol::member_removed(channel, &m.id_json));
            state.broadcast(channel, &frame, None);
            let bus: &dyn crate::adapter::cluster::Cluster = cluster;
            bus.publish(super::Bus::Broadcast, app, channel, None, &frame);
        }
    }
    Ok(())
}

/// Delete every key a node owns.
pub(crate) async fn forget_node(conn: &mut Conn, keys: &Keys, node: &str) -> RedisResult<()> {
    let mut pipe = ::redis::pipe();
    pipe.srem(keys.nodes(), node).ignore();
    for key in [
        keys.heartbeat_of(node),
        keys.conns_of(node),
        keys.subs_of(node),
        keys.npres_of(node),
        keys.nonline_of(node),
    ] {
        pipe.del(key).ignore();
    }
    pipe.query_async(conn).await
}

/// After (re)connecting: replace what Redis holds for this node with the local truth.
async fn resync(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let mut removed = purge_own(cluster, conn).await?;
    repair::note_counted(cluster, conn).await?;
    register_counts(cluster, conn).await?;
    repair::settle_occupancy(cluster, conn).await?;
    // Members this node still has were known to its own sockets all along; other nodes
    // only need them again if a peer purged this node (and announced them gone).
    let purged: bool = conn
        .del(cluster.keys.purged_mark(&cluster.keys.node))
        .await?;
    let seen = repair::users(&removed);
    let mut announce = rejoin_presence(cluster, conn, &mut removed, purged).await?;
    announce.extend(repair::gone_meanwhile(cluster, conn, removed, &seen).await?);
    publish_all(cluster, conn, announce).await?;
    let watched = super::watch::resync(cluster, conn, purged).await?;
    super::watch::publish_resync(cluster, conn, watched).await
}

/// Purge what this node had registered in each presence channel before.
async fn purge_own(cluster: &Cluster, conn: &mut Conn) -> RedisResult<Removed> {
    let keys = &cluster.keys;
    let mut removed = Removed::new();
    let stale: Vec<String> = conn.smembers(keys.npres_of(&keys.node)).await?;
    for field in stale {
        if let Some((app, channel)) = field_parts(&field) {
            let gone = scripts::purge(conn, keys, &keys.node, app, channel).await?;
            removed.insert((app.to_string(), channel.to_string()), gone);
        }
    }
    Ok(removed)
}

/// Register this node's subscription counts and occupancy anew.
async fn register_counts(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let keys = &cluster.keys;
    let mut pipe = ::redis::pipe();
    pipe.del(keys.subs_of(&keys.node))
        .del(keys.npres_of(&keys.node))
        .ignore();
    for state in cluster.registry.apps() {
        for (channel, counts) in state.channels("") {
            pipe.hset(
                keys.subs_of(&keys.node),
                sub_field(&state.app().raw.id, &channel),
                counts.subscriptions,
            )
            .ignore();
            pipe.sadd(keys.occupancy(&state.app().raw.id, &channel), &keys.node)
                .ignore();
        }
    }
    pipe.query_async::<()>(conn).await
}

/// Join this node's presence members again; returns the announcements the
/// other nodes need: members back after a purge, members who left meanwhile
/// (those are told to this node's sockets here).
async fn rejoin_presence(
    cluster: &Cluster,
    conn: &mut Conn,
    removed: &mut Removed,
    purged: bool,
) -> RedisResult<Vec<(String, String, String)>> {
    let keys = &cluster.keys;
    let mut announce = Vec::new();
    for state in cluster.registry.apps() {
        let app = &state.app().raw.id;
        for (channel, members) in state.local_presence() {
            let gone = removed
                .remove(&(app.clone(), channel.clone()))
                .unwrap_or_default();
            let back: HashSet<&str> = members.iter().map(|(m, _)| m.id.as_str()).collect();
            for (m, sockets) in &members {
                let (added, _, _) =
                    scripts::join(conn, keys, app, &channel, m, *sockets, usize::MAX).await?;
                if added == 1 && purged {
                    let info = m.info_json.as_deref();
                    let frame = protocol::member_added(&channel, &m.id_json, info);
                    announce.push((app.clone(), channel.clone(), frame));
                }
            }
            // Left while Redis was away: nobody was told yet.
            for m in gone.iter().filter(|g| !back.contains(g.id.as_str())) {
                let frame = Frame::from(protocol::member_removed(&channel, &m.id_json));
                state.broadcast(&channel, &frame, None);
                announce.push((app.clone(), channel.clone(), frame.to_string()));
            }
        }
    }
    Ok(announce)
}

/// Put the announcements on the bus in one pipeline.
async fn publish_all(
    cluster: &Cluster,
    conn: &mut Conn,
    announce: Vec<(String, String, String)>,
) -> RedisResult<()> {
    let mut pipe = ::redis::pipe();
    for (app, channel, frame) in announce {
        let frame = Frame::from(frame);
        let msg = cluster.bus_message(super::Bus::Broadcast, &app, &channel, None, &frame);
        let subject = cluster.keys.subject(&app, &channel);
        pipe.cmd(conn.publish_cmd()).arg(subject).arg(msg).ignore();
    }
    pipe.query_async::<()>(conn).await
}
