//! The worker's reader: asks for jobs (`XREADGROUP ... BLOCK`, on a connection
//! of its own since it blocks) while the worker has room, and hands them over.

use super::{entries, next_backoff, Job, Keys, Link, GROUP};
use crate::redis_link::{Conn, Target};
use ::redis::{RedisResult, Value};
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Jobs asked for in one read at most.
pub(super) const READ_COUNT: usize = 128;

/// A job with its place among the jobs the worker holds.
pub(super) struct Held {
    pub id: String,
    pub job: Option<Job>,
    pub _permit: OwnedSemaphorePermit,
}

pub(super) struct Reader {
    pub target: Target,
    pub keys: Keys,
    pub id: String,
    pub permits: Arc<Semaphore>,
    pub tx: mpsc::Sender<Held>,
    /// True while jobs can be read.
    pub up: Arc<AtomicBool>,
}

impl Reader {
    /// Read jobs while there is room, reconnecting with back-off.
    pub(crate) async fn run(self) {
        let mut backoff = Duration::from_millis(100);
        let mut link = Link::new("worker reader");
        link.flag = Some(self.up.clone());
        loop {
            let reason = match Conn::plain(&self.target, Duration::from_secs(5)).await {
                Ok(mut conn) => {
                    backoff = Duration::from_millis(100);
                    self.read(&mut conn, &mut link).await
                }
                Err(e) => e,
            };
            if self.tx.is_closed() {
                return;
            }
            link.down(&reason);
            tokio::time::sleep(backoff).await;
            backoff = next_backoff(backoff);
        }
    }

    /// Until Redis fails: create the group if needed, then read.
    async fn read(&self, conn: &mut Conn, link: &mut Link) -> ::redis::RedisError {
        loop {
            if let Err(e) = create_group(conn, &self.keys).await {
                return e;
            }
            link.up();
            tracing::info!(stream = %self.keys.stream, worker = %self.id, "webhook queue: taking jobs");
            let e = loop {
                let Ok(first) = self.permits.clone().acquire_owned().await else {
                    return ::redis::RedisError::from((::redis::ErrorKind::IoError, "stopped"));
                };
                let more = self.permits.available_permits().min(READ_COUNT - 1);
                match self.read_some(conn, more + 1).await {
                    Ok(got) => self.hand_over(got, first),
                    Err(e) => break e,
                }
            };
            if e.code() != Some("NOGROUP") {
                return e;
            }
            tracing::warn!("webhook queue: the stream or its group is gone (Redis restarted?); creating it again");
        }
    }

    async fn read_some(
        &self,
        conn: &mut Conn,
        count: usize,
    ) -> RedisResult<Vec<(String, Option<Job>)>> {
        let answer: Value = ::redis::cmd("XREADGROUP")
            .arg("GROUP")
            .arg(GROUP)
            .arg(&self.id)
            .arg("COUNT")
            .arg(count)
            .arg("BLOCK")
            .arg(1000)
            .arg("STREAMS")
            .arg(&self.keys.stream)
            .arg(">")
            .query_async(conn)
            .await?;
        // [[stream, [entries]]] or nil when nothing came.
        let streams: Vec<(String, Value)> = ::redis::from_redis_value(&answer).unwrap_or_default();
        Ok(streams.into_iter().flat_map(|(_, e)| entries(e)).collect())
    }

    /// Pass the jobs on, each with a permit (the first already taken).
    fn hand_over(&self, got: Vec<(String, Option<Job>)>, first: OwnedSemaphorePermit) {
        let mut first = Some(first);
        for (id, job) in got {
            let permit = first
                .take()
                .or_else(|| self.permits.clone().try_acquire_owned().ok());
            let Some(permit) = permit else {
                // Cannot happen (we asked for no more than the free permits);
                // the job stays pending and is claimed if this worker dies.
                tracing::warn!(%id, "webhook queue: read more jobs than room for");
                continue;
            };
            let held = Held {
                id,
                job,
                _permit: permit,
            };
            if self.tx.try_send(held).is_err() {
                return;
            }
        }
    }
}

/// `XGROUP CREATE ... 0 MKSTREAM`: jobs queued before any worker ran are read too.
async fn create_group(conn: &mut Conn, keys: &Keys) -> RedisResult<()> {
    let created: RedisResult<()> = ::redis::cmd("XGROUP")
        .arg("CREATE")
        .arg(&keys.stream)
        .arg(GROUP)
        .arg("0")
        .arg("MKSTREAM")
        .query_async(conn)
        .await;
    match created {
        Err(e) if e.code() == Some("BUSYGROUP") => Ok(()),
        other => other,
    }
}
