//! Taking over pending jobs nobody is delivering: those of workers that stopped
//! beating, and this worker's own that it never got (a lost `XREADGROUP` or
//! `XCLAIM` reply leaves a job pending under a live worker that does not know it
//! has it).

use super::reader::{Held, READ_COUNT};
use super::{entries, Job, Keys, GROUP};
use crate::redis_link::Conn;
use ::redis::{RedisResult, Value};
use std::collections::HashSet;
use std::sync::Arc;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A dead worker's job is claimed only if no one touched it for this long, so
/// two live workers noticing the same death do not both take it.
const CLAIM_IDLE_MS: u64 = 3_000;

/// A job pending under this worker, which does not hold it, is claimed again
/// once it is idle this long (the reply that gave it is long lost by then).
pub(super) const LOST_MS: u64 = 5_000;

/// Pages of this worker's pending list looked at per round at most.
const MAX_PAGES: usize = 16;

/// The pending jobs of dead workers, as many as there is room for, into `out`
/// (kept there even when a later step fails, so no claimed job is dropped).
pub(super) async fn dead(
    conn: &mut Conn,
    keys: &Keys,
    me: &str,
    permits: &Arc<Semaphore>,
    out: &mut Vec<Held>,
) -> RedisResult<()> {
    for (name, pending) in consumers(conn, keys).await? {
        if name == me || alive(conn, keys, &name).await? {
            continue;
        }
        if pending == 0 {
            forget(conn, keys, &name).await?;
            continue;
        }
        let room = permits.available_permits().min(READ_COUNT);
        let Ok(mut room_permits) = permits.clone().try_acquire_many_owned(room as u32) else {
            break;
        };
        let got = take(conn, keys, &name, me, room).await?;
        tracing::warn!(dead = %name, jobs = got.len(), "webhook queue: worker stopped beating; delivering its jobs");
        crate::metrics::webhook_jobs_claimed(got.len());
        held(got, &mut room_permits, out);
    }
    Ok(())
}

/// Claimed jobs into `out`, each with one of the permits taken for them.
fn held(got: Vec<(String, Option<Job>)>, permits: &mut OwnedSemaphorePermit, out: &mut Vec<Held>) {
    for (id, job) in got {
        let Some(permit) = permits.split(1) else {
            break;
        };
        out.push(Held {
            id,
            job,
            _permit: permit,
        });
    }
}

/// This worker's pending jobs idle for [`LOST_MS`] that it does not `hold`:
/// claimed again by it (which resets their idle time), as many as there is room for.
pub(super) async fn lost(
    conn: &mut Conn,
    keys: &Keys,
    me: &str,
    permits: &Arc<Semaphore>,
    hold: &HashSet<String>,
    out: &mut Vec<Held>,
) -> RedisResult<()> {
    let mut after = "-".to_string();
    for _ in 0..MAX_PAGES {
        let page = idle_of(conn, keys, me, &after).await?;
        let missing: Vec<&str> = page
            .iter()
            .map(String::as_str)
            .filter(|id| !hold.contains(*id))
            .collect();
        let room = permits.available_permits().min(missing.len());
        if room > 0 {
            let Ok(mut room_permits) = permits.clone().try_acquire_many_owned(room as u32) else {
                return Ok(());
            };
            let got = xclaim(conn, keys, me, LOST_MS, &missing[..room]).await?;
            tracing::warn!(jobs = got.len(), "webhook queue: jobs given to this worker in a reply that was lost; delivering them");
            held(got, &mut room_permits, out);
        }
        match page.last() {
            Some(last) if page.len() == READ_COUNT => after = format!("({last}"),
            _ => break,
        }
    }
    Ok(())
}

/// Ids of `me`'s pending jobs idle for [`LOST_MS`] or more, after `after` (`-`: from the start).
async fn idle_of(conn: &mut Conn, keys: &Keys, me: &str, after: &str) -> RedisResult<Vec<String>> {
    let pending: Vec<(String, String, u64, u64)> = ::redis::cmd("XPENDING")
        .arg(&keys.stream)
        .arg(GROUP)
        .arg("IDLE")
        .arg(LOST_MS)
        .arg(after)
        .arg("+")
        .arg(READ_COUNT)
        .arg(me)
        .query_async(conn)
        .await?;
    Ok(pending.into_iter().map(|(id, ..)| id).collect())
}

/// The group's consumers with their pending job counts.
async fn consumers(conn: &mut Conn, keys: &Keys) -> RedisResult<Vec<(String, u64)>> {
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

async fn alive(conn: &mut Conn, keys: &Keys, worker: &str) -> RedisResult<bool> {
    ::redis::cmd("EXISTS")
        .arg(keys.heartbeat_of(worker))
        .query_async(conn)
        .await
}

/// Remove a dead worker that holds no jobs from the group.
async fn forget(conn: &mut Conn, keys: &Keys, worker: &str) -> RedisResult<()> {
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
async fn take(
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
    xclaim(conn, keys, me, CLAIM_IDLE_MS, &ids).await
}

/// `XCLAIM` of `ids` for `me` if idle for `min_idle` ms; the entries moved.
async fn xclaim(
    conn: &mut Conn,
    keys: &Keys,
    me: &str,
    min_idle: u64,
    ids: &[&str],
) -> RedisResult<Vec<(String, Option<Job>)>> {
    let claimed: Value = ::redis::cmd("XCLAIM")
        .arg(&keys.stream)
        .arg(GROUP)
        .arg(me)
        .arg(min_idle)
        .arg(ids)
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
