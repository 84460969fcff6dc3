//! The Lua scripts that keep presence membership cluster-wide, one round trip each.
//!
//! Each script reads and writes exactly one key (a channel's presence hash, one
//! rate-limit window), so it is atomic on a Redis Cluster too: a key's slot is one
//! master. The node's list of presence channels (`npres`) is written beside the
//! join, not inside it, because it lives in another slot.

use super::keys::{sub_field, Keys};
use crate::channel::Member;
use crate::redis_link::Conn;
use ::redis::{AsyncCommands, RedisResult, Script};
use std::sync::LazyLock;

/// Count `n` sockets of a user on this node; answer 1 if the user is new to the
/// channel, 0 if not, -1 if the channel is full; plus the member list and the
/// channel's sequence number after this join. A new member moves the number to
/// Redis's clock in µs (at least one more than before), so it only grows, even
/// across a Redis restart.
static JOIN: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local key = KEYS[1]
local node, user, member, max, n = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local total = tonumber(redis.call('HGET', key, 'u|' .. user) or '0')
local seq = tonumber(redis.call('HGET', key, 'seq') or '0')
if total == 0 then
  if tonumber(redis.call('HGET', key, 'count') or '0') >= max then return {-1, {}, seq} end
  redis.call('HINCRBY', key, 'count', 1)
  redis.call('HSET', key, 'm|' .. user, member)
  local t = redis.call('TIME')
  seq = math.max(tonumber(t[1]) * 1000000 + tonumber(t[2]), seq + 1)
  redis.call('HSET', key, 'seq', string.format('%d', seq))
end
redis.call('HINCRBY', key, 'u|' .. user, n)
redis.call('HINCRBY', key, 'n|' .. node .. '|' .. user, n)
local members = {}
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  if string.sub(all[i], 1, 2) == 'm|' then members[#members + 1] = all[i + 1] end
end
if total == 0 then return {1, members, seq} end
return {0, members, seq}
"#,
    )
});

/// One socket of a user on this node left; answer 1 if it was the user's last anywhere.
static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local key, node, user = KEYS[1], ARGV[1], ARGV[2]
local nf = 'n|' .. node .. '|' .. user
if tonumber(redis.call('HGET', key, nf) or '0') <= 0 then return 0 end
if redis.call('HINCRBY', key, nf, -1) <= 0 then redis.call('HDEL', key, nf) end
if redis.call('HINCRBY', key, 'u|' .. user, -1) > 0 then return 0 end
redis.call('HDEL', key, 'u|' .. user, 'm|' .. user)
if redis.call('HINCRBY', key, 'count', -1) <= 0 then redis.call('DEL', key) end
return 1
"#,
    )
});

/// Remove every socket a node had in a channel; answer the members that left for good.
static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local key, prefix = KEYS[1], 'n|' .. ARGV[1] .. '|'
local removed = {}
local all = redis.call('HGETALL', key)
for i = 1, #all, 2 do
  local f = all[i]
  if string.sub(f, 1, #prefix) == prefix then
    local user = string.sub(f, #prefix + 1)
    redis.call('HDEL', key, f)
    if redis.call('HINCRBY', key, 'u|' .. user, -tonumber(all[i + 1])) <= 0 then
      local m = redis.call('HGET', key, 'm|' .. user)
      if m then removed[#removed + 1] = m end
      redis.call('HDEL', key, 'u|' .. user, 'm|' .. user)
      redis.call('HINCRBY', key, 'count', -1)
    end
  end
end
if tonumber(redis.call('HGET', key, 'count') or '0') <= 0 then redis.call('DEL', key) end
return removed
"#,
    )
});

fn encode(m: &Member) -> String {
    serde_json::to_string(&(&m.id, &m.id_json, &m.info_json)).expect("strings encode")
}

fn decode(s: &str) -> Option<Member> {
    let (id, id_json, info_json): (String, String, Option<String>) =
        serde_json::from_str(s).ok()?;
    Some(Member {
        id,
        id_json,
        info_json,
    })
}

fn decode_all(list: Vec<String>) -> Vec<Member> {
    list.iter().filter_map(|s| decode(s)).collect()
}

pub(crate) async fn join(
    conn: &mut Conn,
    keys: &Keys,
    app: &str,
    channel: &str,
    m: &Member,
    sockets: usize,
    max: usize,
) -> RedisResult<(i64, Vec<Member>, u64)> {
    let mut note = conn.clone();
    let mut invocation = JOIN.key(keys.presence(app, channel));
    invocation
        .arg(&keys.node)
        .arg(&m.id)
        .arg(encode(m))
        .arg(max)
        .arg(sockets);
    let noted = note.sadd::<_, _, ()>(keys.npres_of(&keys.node), sub_field(app, channel));
    let (noted, joined) = tokio::join!(noted, invocation.invoke_async(conn));
    noted?;
    let (flag, members, seq): (i64, Vec<String>, u64) = joined?;
    Ok((flag, decode_all(members), seq))
}

pub(crate) async fn leave(
    conn: &mut Conn,
    keys: &Keys,
    app: &str,
    channel: &str,
    user: &str,
) -> RedisResult<bool> {
    let removed: i64 = LEAVE
        .key(keys.presence(app, channel))
        .arg(&keys.node)
        .arg(user)
        .invoke_async(conn)
        .await?;
    Ok(removed == 1)
}

pub(crate) async fn purge(
    conn: &mut Conn,
    keys: &Keys,
    node: &str,
    app: &str,
    channel: &str,
) -> RedisResult<Vec<Member>> {
    let removed: Vec<String> = PURGE
        .key(keys.presence(app, channel))
        .arg(node)
        .invoke_async(conn)
        .await?;
    Ok(decode_all(removed))
}

pub(crate) async fn members(
    conn: &mut Conn,
    keys: &Keys,
    app: &str,
    channel: &str,
) -> RedisResult<Vec<Member>> {
    let all: Vec<(String, String)> = conn.hgetall(keys.presence(app, channel)).await?;
    let member_values = all
        .into_iter()
        .filter(|(f, _)| f.starts_with("m|"))
        .map(|(_, v)| v);
    Ok(member_values.filter_map(|v| decode(&v)).collect())
}

/// Take `points` of a per-second budget of `limit` unless that would exceed it;
/// answer whether they were taken and the points used in this second.
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r#"
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
local points, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
if used + points > limit then return {0, used} end
used = redis.call('INCRBY', KEYS[1], points)
if used == points then redis.call('PEXPIRE', KEYS[1], 2000) end
return {1, used}
"#,
    )
});

pub(crate) async fn take(
    conn: &mut Conn,
    key: String,
    points: i64,
    limit: i64,
) -> RedisResult<(bool, i64)> {
    let (taken, used): (i64, i64) = TAKE
        .key(key)
        .arg(points)
        .arg(limit)
        .invoke_async(conn)
        .await?;
    Ok((taken == 1, used))
}
