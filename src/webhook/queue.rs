//! The Redis queue for webhooks (`queue_driver = "redis"`, Soketi's
//! `SOKETI_QUEUE_DRIVER=redis`): webhook requests wait in Redis, so any live node
//! delivers them and a node that dies loses none of the requests it had taken.
//!
//! # What a job is
//! The app's sender task still debounces (`channel_vacated` / `member_removed`
//! delay) and batches on the node that saw the events, as with the in-memory
//! queue; what it would have POSTed becomes one job per webhook: the app id, the
//! webhook's URL, the exact body and the time it was made. The node that
//! delivers a job looks the app up by id (so a rotated secret signs with the new
//! one, and custom headers are never stored in Redis), finds its webhook by URL
//! (a job whose app or webhook is gone is dropped and logged), signs the body and
//! sends it with the usual retries (see `deliver`): the 5-minute limit counts
//! from the job's creation, on whichever node retries it.
//!
//! # Where (the adapter's Redis: `redis_url`, or the Redis Cluster of `redis_cluster_nodes`)
//! On a Redis Cluster the queue connects to the same seeds as the adapter, over
//! the same kind of link (`crate::redis_link`, connections of its own). Every
//! command names at most one key (`XADD`, `XREADGROUP`, `XINFO CONSUMERS`,
//! `XPENDING`, `XCLAIM`, `XACK`, `XDEL` on the stream; `SET`, `EXISTS`, `DEL` on
//! one heartbeat); the one pipeline that mixes a heartbeat with the stream is sent
//! command by command by the link on a cluster, so no key needs a hash tag and the
//! names are the same as on one Redis. Dead workers are found from the group's consumer list, never by scanning
//! keys. The stream lives in one slot: its master carries the whole queue.
//!
//! # Keys (under the adapter's prefix `P`, `redis_prefix`)
//!
//! | name | type | holds |
//! |---|---|---|
//! | `P:webhooks` | stream, group `herald` | one entry per job: `app`, `url`, `time`, `body` |
//! | `P:webhooks:worker:{id}` | string, 5 s TTL | a worker's heartbeat, refreshed every second |
//!
//! # Why a stream with a consumer group, not a list
//! A list with `BLMOVE` into a per-node processing list needs `LREM` by value to
//! finish a job (linear, and two equal bodies are ambiguous) and a second scan to
//! move a dead node's list back. A stream gives every job an id: `XREADGROUP`
//! hands each job to exactly one worker and records it in the group's pending
//! list under that worker, `XACK` + `XDEL` finish it by id, and `XCLAIM` moves a
//! dead worker's pending jobs, by id, to a live one. Reclaiming is driven by each
//! worker's heartbeat key rather than by `XAUTOCLAIM`'s idle time, because a live
//! worker may legitimately hold a job for the whole 5 minutes of retries.
//!
//! # Flow
//! - Producers (every node but `mode = "worker"` ones): one task per Redis URL and
//!   prefix in the process takes jobs from a bounded local buffer (`webhook_queue`
//!   jobs) and `XADD`s them pipelined. While Redis is unreachable the buffer holds
//!   what is produced, is pushed on reconnect, and beyond its bound new jobs are
//!   dropped and counted (`webhooks_dropped`), with a warning. A node killed
//!   during an outage loses what its buffer held.
//! - Workers (`full` and `worker` nodes): one reader asks for jobs
//!   (`XREADGROUP ... BLOCK`) while fewer than [`worker::READ_AHEAD`] are held; each
//!   app has at most 64 deliveries in flight on a worker (as with the in-memory
//!   queue), the rest wait their turn, still pending in Redis. A finished job
//!   (delivered, or given up after its retries) is `XACK`ed and `XDEL`eted.
//! - A worker whose heartbeat key is gone (killed: within about 5 s; stopped
//!   gracefully: at once, it deletes the key) has its pending jobs claimed by the
//!   first live worker to notice (checked every 2 s), which delivers them.
//! - Delivery is at least once: a worker that dies after a webhook was answered
//!   but before its `XACK` reached Redis has that job sent again by another, and
//!   a producer that loses Redis before its `XADD` is answered pushes the job
//!   again (it may have been stored).
//! - The stream is capped at [`MAX_JOBS`] entries (approximately, `MAXLEN ~`); at
//!   the cap the oldest jobs are dropped by Redis.

mod claim;
pub(crate) mod producer;
mod reader;
pub(crate) mod worker;

use crate::config::RedisQueue;
use ::redis::Value;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// Jobs the stream holds at most (`XADD ... MAXLEN ~`).
pub(crate) const MAX_JOBS: usize = 1_000_000;

/// The consumer group every worker of a cluster reads in.
const GROUP: &str = "herald";

/// One webhook request to make: `body` POSTed to `url`, signed with the app's secret.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Job {
    pub app: String,
    pub url: String,
    pub body: String,
    /// Unix milliseconds when it was made; retries stop `retry_for` after it.
    pub time_ms: u64,
}

impl Job {
    /// The stream entry's fields.
    fn fields(&self) -> [(&'static str, String); 4] {
        [
            ("app", self.app.clone()),
            ("url", self.url.clone()),
            ("time", self.time_ms.to_string()),
            ("body", self.body.clone()),
        ]
    }

    /// Back from a stream entry's `[field, value, ...]`; `None` if a field is missing.
    fn from_fields(flat: &[String]) -> Option<Job> {
        let get = |name: &str| {
            flat.chunks(2)
                .find(|pair| pair.len() == 2 && pair[0] == name)
                .map(|pair| pair[1].clone())
        };
        Some(Job {
            app: get("app")?,
            url: get("url")?,
            body: get("body")?,
            time_ms: get("time")?.parse().ok()?,
        })
    }
}

/// The names of the queue's keys.
#[derive(Debug, Clone)]
struct Keys {
    stream: String,
    prefix: String,
}

impl Keys {
    fn new(queue: &RedisQueue) -> Keys {
        Keys {
            stream: format!("{}:webhooks", queue.prefix),
            prefix: queue.prefix.clone(),
        }
    }

    fn heartbeat_of(&self, worker: &str) -> String {
        format!("{}:webhooks:worker:{worker}", self.prefix)
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum QueueError {
    #[error("invalid Redis URL for the webhook queue: {0}")]
    Url(#[from] ::redis::RedisError),
}

/// Entries of an `XREADGROUP` / `XCLAIM` answer: `(id, job)`; `None` for an
/// entry whose fields are unreadable (it is finished without a delivery).
fn entries(value: Value) -> Vec<(String, Option<Job>)> {
    let Value::Array(items) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let (id, fields): (String, Value) = ::redis::from_redis_value(item).ok()?;
            let fields: Option<Vec<String>> = ::redis::from_redis_value(&fields).ok();
            Some((id, fields.as_deref().and_then(Job::from_fields)))
        })
        .collect()
}

/// One connection of the queue's: its losses and recoveries of Redis are
/// logged (not every retry) and counted in `webhook_queue_links_down`.
struct Link {
    what: &'static str,
    down: bool,
    /// Mirrors the state, for whoever reports readiness.
    flag: Option<Arc<AtomicBool>>,
}

impl Link {
    fn new(what: &'static str) -> Link {
        Link {
            what,
            down: false,
            flag: None,
        }
    }

    fn up(&mut self) {
        if let Some(flag) = &self.flag {
            flag.store(true, Ordering::Release);
        }
        if std::mem::take(&mut self.down) {
            crate::metrics::webhook_queue_link(false);
            tracing::info!(link = self.what, "webhook queue: Redis reachable again");
        }
    }

    fn down(&mut self, error: &::redis::RedisError) {
        if let Some(flag) = &self.flag {
            flag.store(false, Ordering::Release);
        }
        if std::mem::replace(&mut self.down, true) {
            tracing::debug!(link = self.what, %error, "webhook queue: still no Redis");
            return;
        }
        crate::metrics::webhook_queue_link(true);
        tracing::warn!(link = self.what, %error, "webhook queue: cannot reach Redis; retrying with back-off");
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        if self.down {
            crate::metrics::webhook_queue_link(false);
        }
    }
}

/// Back-off between reconnection attempts: 100 ms doubling to 2 s.
pub(super) fn next_backoff(backoff: Duration) -> Duration {
    (backoff * 2).min(Duration::from_secs(2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_stream_fields() {
        let job = Job {
            app: "1".into(),
            url: "http://h/x".into(),
            body: r#"{"time_ms":1,"events":[]}"#.into(),
            time_ms: 1_700_000_000_000,
        };
        let flat: Vec<String> = job
            .fields()
            .iter()
            .flat_map(|(k, v)| [k.to_string(), v.clone()])
            .collect();
        assert_eq!(Job::from_fields(&flat), Some(job));
        assert_eq!(Job::from_fields(&flat[..6]), None);
        assert_eq!(Job::from_fields(&["app".into()]), None);
    }

    #[test]
    fn stream_answers_are_read_and_broken_entries_kept_by_id() {
        let bulk = |s: &str| Value::BulkString(s.as_bytes().to_vec());
        let entry = |id: &str, fields: Value| Value::Array(vec![bulk(id), fields]);
        let good = Value::Array(
            ["app", "1", "url", "u", "time", "5", "body", "{}"]
                .iter()
                .map(|s| bulk(s))
                .collect(),
        );
        let answer = Value::Array(vec![
            entry("1-0", good),
            entry("2-0", Value::Nil),
            entry("3-0", Value::Array(vec![bulk("app")])),
        ]);
        let got = entries(answer);
        assert_eq!(got.len(), 3);
        assert_eq!(got[0].1.as_ref().unwrap().time_ms, 5);
        assert_eq!((got[1].0.as_str(), got[1].1.is_none()), ("2-0", true));
        assert!(got[2].1.is_none());
    }
}
