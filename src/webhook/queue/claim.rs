//! Finding workers that stopped beating and taking over their pending jobs.

use super::{entries, Job, Keys, GROUP};
use crate::redis_link::Conn;
use ::redis::{RedisResult, Value};

/// A dead worker's job is claimed only if no one touched it for this long, so
/// two live workers noticing the same death do not both take it.
const CLAIM_IDLE_MS: u64 = 3_000;

/// The group's consumers with their pending job counts.
pub(super) async fn consumers(conn: &mut Conn, keys: &Keys) -> RedisResult<Vec<(String, u64)>> {
    let answer: RedisResult<Value> = ::redis::cmd("XINFO")
        .arg("CONSUMERS")
        .arg(&keys.stream)
        .arg(GROUP)
        .query_async(conn)
        .await;
    match answer {
        // No stream or group yet: nobody to claim from.
        Err(e) if e.code() == Some("NOGROUP") => Ok(Vec::new()),
        Err(e) => Err(e),
        Ok(value) => Ok(parse_consumers(value)),
    }
}

/// `XINFO CONSUMERS`: one `[name, n, pending, n, ...]` list (or map) per consumer.
fn parse_consumers(value: Value) -> Vec<(String, u64)> {
    let list: Vec<Vec<(String, Value)>> = match value {
        Value::Array(items) => items.into_iter().filter_map(pairs).collect(),
        _ => Vec::new(),
    };
    list.into_iter()
        .filter_map(|fields| {
            let get = |name: &str| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
            let name: String = ::redis::from_redis_value(get("name")?).ok()?;
            let pending: u64 = ::redis::from_redis_value(get("pending")?).unwrap_or(0);
            Some((name, pending))
        })
        .collect()
}

/// A flat `[key, value, ...]` array or a RESP3 map, as (key, value) pairs.
fn pairs(value: Value) -> Option<Vec<(String, Value)>> {
    match value {
        Value::Array(flat) => {
            let mut out = Vec::new();
            let mut it = flat.into_iter();
            while let (Some(k), Some(v)) = (it.next(), it.next()) {
                out.push((::redis::from_redis_value(&k).ok()?, v));
            }
            Some(out)
        }
        Value::Map(map) => map
            .into_iter()
            .map(|(k, v)| Some((::redis::from_redis_value(&k).ok()?, v)))
            .collect(),
        _ => None,
    }
}

pub(super) async fn alive(conn: &mut Conn, keys: &Keys, worker: &str) -> RedisResult<bool> {
    ::redis::cmd("EXISTS")
        .arg(keys.heartbeat_of(worker))
        .query_async(conn)
        .await
}

/// Remove a dead worker that holds no jobs from the group.
pub(super) async fn forget(conn: &mut Conn, keys: &Keys, worker: &str) -> RedisResult<()> {
    ::redis::cmd("XGROUP")
        .arg("DELCONSUMER")
        .arg(&keys.stream)
        .arg(GROUP)
        .arg(worker)
        .query_async::<Value>(conn)
        .await
        .map(drop)
}

/// Move up to `count` of `dead`'s pending jobs to `me` (`XCLAIM` with a minimum
/// idle time, so a job another live worker just claimed stays with it).
pub(super) async fn take(
    conn: &mut Conn,
    keys: &Keys,
    dead: &str,
    me: &str,
    count: usize,
) -> RedisResult<Vec<(String, Option<Job>)>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    let pending: Vec<(String, String, u64, u64)> = ::redis::cmd("XPENDING")
        .arg(&keys.stream)
        .arg(GROUP)
        .arg("-")
        .arg("+")
        .arg(count)
        .arg(dead)
        .query_async(conn)
        .await?;
    if pending.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = pending.iter().map(|(id, ..)| id.as_str()).collect();
    let claimed: Value = ::redis::cmd("XCLAIM")
        .arg(&keys.stream)
        .arg(GROUP)
        .arg(me)
        .arg(CLAIM_IDLE_MS)
        .arg(&ids)
        .query_async(conn)
        .await?;
    Ok(entries(claimed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consumers_are_read_from_flat_lists() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let one = Value::Array(vec![
            bulk("name"),
            bulk("w1"),
            bulk("pending"),
            Value::Int(3),
            bulk("idle"),
            Value::Int(10),
        ]);
        let two = Value::Map(vec![
            (bulk("name"), bulk("w2")),
            (bulk("pending"), Value::Int(0)),
        ]);
        assert_eq!(
            parse_consumers(Value::Array(vec![one, two])),
            vec![("w1".to_string(), 3), ("w2".to_string(), 0)]
        );
    }
}
