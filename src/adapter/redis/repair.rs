//! What Redis did not take, set right once it answers again: occupancy writes
//! and presence leaves.
//!
//! Occupancy. A node's entry in `P:occ:{app}:{channel}` is written when its first
//! subscriber of the channel joins and when its last one leaves (or a join is
//! refused). When that write fails (Redis down, a reply lost), the channel is
//! noted as unsettled; every flush tick while connected, and in the resync after
//! a reconnect, the node writes its entry from the registry's truth (`SADD` if it
//! has subscribers, `SREM` if not). A join or leave that raced with that write
//! and changed the truth meanwhile is noted again and settled on the next tick.
//! A resync also settles every channel this node had counted before (its old
//! `P:subs:{node}` hash), so what Redis kept from before an outage is corrected,
//! not only added to. So the set holds exactly the nodes with subscribers, and
//! `occupied`/`vacated` (and their webhooks) keep being cluster-wide transitions.
//!
//! Leaves. A presence leave that Redis did not take is kept; after reconnecting,
//! if the user has no socket here and is not in the channel's member list now,
//! `member_removed` is announced (whether Redis kept its data or came back
//! empty). Removals a resync announces are announced once more [`REPEAT_AFTER`]
//! later, for nodes that reconnected after this one (the bus keeps nothing);
//! pusher-js ignores a `member_removed` for a member it does not have.

use super::keys::field_parts;
use super::{lock, scripts, Cluster};
use crate::channel::Member;
use crate::protocol;
use crate::redis_link::Conn;
use crate::socket::Frame;
use ::redis::{AsyncCommands, RedisResult};
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

/// (app, channel) -> the members this node's purge removed.
pub(super) type Removed = HashMap<(String, String), Vec<Member>>;

/// Removals found by a resync are announced again after this long.
const REPEAT_AFTER: Duration = Duration::from_secs(3);

/// (app, channel, member) announced as gone.
pub(super) type Gone = Vec<(String, String, Member)>;

impl Cluster {
    /// The channel's occupancy could not be written: settle it later.
    pub(super) fn unsettled(&self, app: &str, channel: &str) {
        lock(&self.unsettled).insert((app.to_string(), channel.to_string()));
    }

    fn holds(&self, app: &str, channel: &str) -> bool {
        let state = self.registry.app(app);
        state.is_some_and(|a| a.counts(channel).is_some())
    }
}

/// Note every channel this node counted before (its old counts hash) as
/// unsettled: call before the counts are registered anew.
pub(super) async fn note_counted(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let fields: Vec<String> = conn.hkeys(cluster.keys.subs_of(&cluster.keys.node)).await?;
    for field in fields {
        if let Some((app, channel)) = field_parts(&field) {
            cluster.unsettled(app, channel);
        }
    }
    Ok(())
}

/// Write this node's occupancy entry of every unsettled channel from the registry.
pub(super) async fn settle_occupancy(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
    let todo: Vec<(String, String)> = lock(&cluster.unsettled).drain().collect();
    if todo.is_empty() {
        return Ok(());
    }
    let node = &cluster.keys.node;
    let mut pipe = ::redis::pipe();
    let mut wrote = Vec::with_capacity(todo.len());
    for (app, channel) in &todo {
        let key = cluster.keys.occupancy(app, channel);
        let here = cluster.holds(app, channel);
        match here {
            true => pipe.sadd(key, node).ignore(),
            false => pipe.srem(key, node).ignore(),
        };
        wrote.push(here);
    }
    if let Err(e) = pipe.query_async::<()>(conn).await {
        lock(&cluster.unsettled).extend(todo);
        return Err(e);
    }
    // A join or leave that changed the truth meanwhile may have written before us.
    for ((app, channel), here) in todo.into_iter().zip(wrote) {
        if cluster.holds(&app, &channel) != here {
            lock(&cluster.unsettled).insert((app, channel));
        }
    }
    Ok(())
}

/// (app, channel, user) of every member in `removed`.
pub(super) fn users(removed: &Removed) -> HashSet<(String, String, String)> {
    let each = removed.iter().flat_map(|((app, channel), members)| {
        members
            .iter()
            .map(|m| (app.clone(), channel.clone(), m.id.clone()))
    });
    each.collect()
}

/// After the members were joined again: the members gone while Redis was away
/// that nobody was told of yet (what is left of the purge's removals: channels
/// where this node has no member now; and leaves Redis did not take, unless
/// `announced`), told to this node's sockets here; returns their frames for the bus.
pub(super) async fn gone_meanwhile(
    cluster: &Cluster,
    conn: &mut Conn,
    left: Removed,
    announced: &HashSet<(String, String, String)>,
) -> RedisResult<Vec<(String, String, String)>> {
    let mut gone: Gone = left
        .into_iter()
        .flat_map(|((app, channel), ms)| {
            ms.into_iter()
                .map(move |m| (app.clone(), channel.clone(), m))
        })
        .collect();
    let failed: Gone = lock(&cluster.failed_leaves).drain(..).collect();
    for (app, channel, m) in failed {
        let key = (app.clone(), channel.clone(), m.id.clone());
        let told = announced.contains(&key) || gone.iter().any(|g| same(g, &key));
        if told || cluster.has_member(&app, &channel, &m.id) {
            continue;
        }
        if !present(cluster, conn, &app, &channel, &m.id).await? {
            gone.push((app, channel, m));
        }
    }
    let mut frames = Vec::with_capacity(gone.len());
    for (app, channel, m) in &gone {
        let frame = removed_frame(channel, m);
        if let Some(state) = cluster.registry.app(app) {
            state.broadcast(channel, &frame, None);
        }
        frames.push((app.clone(), channel.clone(), frame.to_string()));
    }
    *lock(&cluster.repeat_gone) = Some((Instant::now() + REPEAT_AFTER, gone));
    Ok(frames)
}

fn same((app, channel, m): &(String, String, Member), key: &(String, String, String)) -> bool {
    *app == key.0 && *channel == key.1 && m.id == key.2
}

/// Whether `user` is in the channel's member list in Redis.
async fn present(
    cluster: &Cluster,
    conn: &mut Conn,
    app: &str,
    channel: &str,
    user: &str,
) -> RedisResult<bool> {
    let members = scripts::members(conn, &cluster.keys, app, channel).await?;
    Ok(members.iter().any(|m| m.id == user))
}

fn removed_frame(channel: &str, m: &Member) -> Frame {
    Frame::from(protocol::member_removed(channel, &m.id_json))
}

/// The second announcement of a resync's removals, once due, for users still gone.
pub(super) async fn repeat_gone(cluster: &Cluster, conn: &mut Conn) -> RedisResult<()> {
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
    for (app, channel, m) in due {
        if cluster.has_member(&app, &channel, &m.id)
            || present(cluster, conn, &app, &channel, &m.id).await?
        {
            continue;
        }
        let bus: &dyn crate::adapter::cluster::Cluster = cluster;
        let frame = removed_frame(&channel, &m);
        bus.publish(super::Bus::Broadcast, &app, &channel, None, &frame);
    }
    Ok(())
}

impl Cluster {
    /// Whether `user` has a socket in the channel's presence on this node.
    fn has_member(&self, app: &str, channel: &str, user: &str) -> bool {
        let state = self.registry.app(app);
        state.is_some_and(|s| s.members(channel).iter().any(|m| m.id == user))
    }
}
