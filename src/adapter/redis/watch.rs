//! Who is signed in anywhere in the cluster, for watchlist events.
//!
//! | key | type | holds |
//! |---|---|---|
//! | `P:online:{app}` | hash | `u|user` → nodes where the user is signed in, `n|node|user` → 1 |
//! | `P:nonline:{node}` | set | apps in which the node has signed-in users |
//!
//! Only apps with `enable_watchlist_events` are written. A node runs one script
//! when a user's first socket on it signs in (the answer says whether the user
//! is now online for the first time anywhere) and one when the user's last
//! socket on it leaves (whether the user is now offline everywhere); the node
//! that saw the change tells its own watchers and puts a `W` message (the frame)
//! on the bus for the others'. A node that dies is purged with its presence
//! members (its users that were nowhere else go offline); after a Redis outage a
//! node registers its users again and announces what changed meanwhile.

use super::{unavailable, Bus, Cluster};
use crate::adapter::cluster::{status_frame, Cluster as _};
use crate::adapter::AdapterError;
use crate::channel::registry::AppState;
use crate::redis_link::Conn;
use ::redis::{AsyncCommands, RedisResult, Script};
use std::collections::HashSet;
use std::sync::LazyLock;

/// The user is signed in on this node; 1 if that makes it online anywhere for the first time.
static SIGN_IN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local key, node, user = KEYS[1], ARGV[1], ARGV[2]
if redis.call('HSETNX', key, 'n|' .. node .. '|' .. user, 1) == 0 then return 0 end
if redis.call('HINCRBY', key, 'u|' .. user, 1) == 1 then return 1 end
return 0
"#,
    )
});

/// The user's last socket on this node left; 1 if it is now offline everywhere.
static SIGN_OUT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local key, node, user = KEYS[1], ARGV[1], ARGV[2]
if redis.call('HDEL', key, 'n|' .. node .. '|' .. user) == 0 then return 0 end
if redis.call('HINCRBY', key, 'u|' .. user, -1) > 0 then return 0 end
redis.call('HDEL', key, 'u|' .. user)
return 1
"#,
    )
});

/// Remove a node's users from an app; answers those now offline everywhere.
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local key, prefix = KEYS[1], 'n|' .. ARGV[1] .. '|'
local gone = {}
for _, f in ipairs(redis.call('HKEYS', key)) do
  if string.sub(f, 1, #prefix) == prefix then
    local user = string.sub(f, #prefix + 1)
    redis.call('HDEL', key, f)
    if redis.call('HINCRBY', key, 'u|' .. user, -1) <= 0 then
      redis.call('HDEL', key, 'u|' .. user)
      gone[#gone + 1] = user
    end
  end
end
return gone
"#,
    )
});

impl Cluster {
    /// The user's first socket here signed in: is it online anywhere for the first time?
    pub(super) async fn user_signed_in(
        &self,
        app: &AppState,
        user: &str,
    ) -> Result<bool, AdapterError> {
        let mut conn = self.conn()?;
        sign_in(self, &mut conn, &app.app().raw.id, user)
            .await
            .map_err(|e| unavailable("watchlist sign-in", e))
    }

    /// The user's last socket here left: is it offline everywhere now?
    pub(super) async fn user_signed_out(
        &self,
        app: &AppState,
        user: &str,
    ) -> Result<bool, AdapterError> {
        let mut conn = self.conn()?;
        let gone: i64 = SIGN_OUT
            .key(self.keys.online(&app.app().raw.id))
            .arg(&self.keys.node)
            .arg(user)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| unavailable("watchlist sign-out", e))?;
        Ok(gone == 1)
    }
}

async fn sign_in(cluster: &Cluster, conn: &mut Conn, app: &str, user: &str) -> RedisResult<bool> {
    // The node's app list lives in another slot (Redis Cluster): written beside
    // the script, not inside it; a stale entry only makes a purge look at one more app.
    let mut note = conn.clone();
    let noted = note.sadd::<_, _, ()>(cluster.keys.nonline_of(&cluster.keys.node), app);
    let mut invocation = SIGN_IN.key(cluster.keys.online(app));
    invocation.arg(&cluster.keys.node).arg(user);
    let (noted, first) = tokio::join!(noted, invocation.invoke_async::<i64>(conn));
    noted?;
    Ok(first? == 1)
}

/// Remove `node`'s users from every app it had some in; answers (app, users now offline).
async fn purge(
    cluster: &Cluster,
    conn: &mut Conn,
    node: &str,
) -> RedisResult<Vec<(String, Vec<String>)>> {
    let apps: Vec<String> = conn.smembers(cluster.keys.nonline_of(node)).await?;
    let mut out = Vec::new();
    for app in apps {
        let gone: Vec<String> = PURGE
            .key(cluster.keys.online(&app))
            .arg(node)
            .invoke_async(conn)
            .await?;
        out.push((app, gone));
    }
    conn.del::<_, ()>(cluster.keys.nonline_of(node)).await?;
    Ok(out)
}

/// A dead node's users leave: those signed in nowhere else go offline.
pub(super) async fn purge_node(cluster: &Cluster, conn: &mut Conn, node: &str) -> RedisResult<()> {
    for (app, gone) in purge(cluster, conn, node).await? {
        let Some(state) = cluster.registry.app(&app) else {
            continue;
        };
        for user in gone {
            cluster.announce_watch(&state, &user, false);
        }
    }
    Ok(())
}

/// After (re)connecting: replace this node's users in Redis with the local
/// truth; returns the frames the other nodes need (`W` bus messages): users
/// that left meanwhile, and users back after a peer `purged` this node (and
/// announced them offline). Like presence, users that left while Redis was
/// restarted empty are not announced (nothing recorded them).
pub(super) async fn resync(
    cluster: &Cluster,
    conn: &mut Conn,
    purged: bool,
) -> RedisResult<Vec<(String, String, bool)>> {
    let node = cluster.keys.node.clone();
    let mut gone: HashSet<(String, String)> = HashSet::new();
    for (app, users) in purge(cluster, conn, &node).await? {
        gone.extend(users.into_iter().map(|u| (app.clone(), u)));
    }
    let mut announce = Vec::new();
    let apps = cluster.registry.apps();
    for state in apps.iter().filter(|a| a.app().raw.enable_watchlist_events) {
        let app = state.app().raw.id.clone();
        for user in state.signed_in_users() {
            let first = sign_in(cluster, conn, &app, &user).await?;
            let was_gone = gone.remove(&(app.clone(), user.clone()));
            if first && purged && !was_gone {
                announce.push(told(state, &user, true));
            }
        }
    }
    for (app, user) in gone {
        if let Some(state) = cluster.registry.app(&app) {
            announce.push(told(&state, &user, false));
        }
    }
    Ok(announce)
}

/// Tell the watchers here; answer what the bus message needs (app, user, online).
fn told(state: &AppState, user: &str, online: bool) -> (String, String, bool) {
    state.tell_watchers(user, online, &status_frame(user, online));
    (state.app().raw.id.clone(), user.to_string(), online)
}

/// Put the resync's announcements on the bus in one pipeline.
pub(super) async fn publish_resync(
    cluster: &Cluster,
    conn: &mut Conn,
    announce: Vec<(String, String, bool)>,
) -> RedisResult<()> {
    if announce.is_empty() {
        return Ok(());
    }
    let mut pipe = ::redis::pipe();
    for (app, user, online) in announce.into_iter().filter(|(_, u, _)| !u.contains('\n')) {
        let frame = status_frame(&user, online);
        let msg = cluster.bus_message(Bus::Watch(online), &app, &user, None, &frame);
        pipe.cmd(conn.publish_cmd())
            .arg(cluster.keys.bus())
            .arg(msg)
            .ignore();
    }
    pipe.query_async(conn).await
}
