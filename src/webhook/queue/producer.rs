//! Putting jobs in the stream: one task per Redis URL and prefix in the process,
//! fed by a bounded buffer, `XADD`s pipelined, reconnecting with back-off.

use super::{next_backoff, Job, Keys, Link, MAX_JOBS};
use crate::config::RedisQueue;
use crate::redis_link::{Conn, Target};
use crate::webhook::handoff::{Producer, Push};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// Jobs sent to Redis in one round trip at most.
const MAX_PIPELINE: usize = 512;

/// Every running producer, by (Redis URL or cluster seeds, prefix): nodes of
/// one process that share a queue share its producer.
static PRODUCERS: LazyLock<Mutex<Running>> = LazyLock::new(Mutex::default);

/// Producers by (Redis URL, cluster seeds, prefix).
type Running = HashMap<(String, Vec<String>, String), Arc<Producer>>;

/// The producer for `queue`, started on first use (inside a tokio runtime);
/// `buffer` jobs wait locally at most while Redis is away.
pub(crate) fn producer(
    queue: &RedisQueue,
    buffer: usize,
) -> Result<Arc<Producer>, super::QueueError> {
    let key = (
        queue.redis_url.clone(),
        queue.cluster_nodes.clone(),
        queue.prefix.clone(),
    );
    let mut all = PRODUCERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = all.get(&key).filter(|p| !p.is_closed()) {
        return Ok(p.clone());
    }
    let target = Target::parse(queue)?;
    let (producer, rx) = Producer::new(buffer);
    tokio::spawn(run(target, Keys::new(queue), rx));
    let producer = Arc::new(producer);
    all.insert(key, producer.clone());
    Ok(producer)
}

/// Jobs taken from the buffer and not yet in Redis, and who waits for them.
#[derive(Default)]
struct Batch {
    jobs: Vec<Job>,
    waiters: Vec<oneshot::Sender<()>>,
}

impl Batch {
    fn take(&mut self, push: Push) {
        match push {
            Push::Job(job) => self.jobs.push(job),
            Push::Flush(done) => self.waiters.push(done),
        }
    }
}

async fn run(target: Target, keys: Keys, mut rx: mpsc::Receiver<Push>) {
    let mut backoff = Duration::from_millis(100);
    let mut batch = Batch::default();
    let mut link = Link::new("producer");
    loop {
        let error = match Conn::plain(&target, Duration::from_secs(5)).await {
            Ok(mut conn) => {
                link.up();
                backoff = Duration::from_millis(100);
                let Err(e) = serve(&mut conn, &keys, &mut rx, &mut batch).await else {
                    return;
                };
                e
            }
            Err(e) => e,
        };
        let waiting = batch.jobs.len() + rx.len();
        link.down(&error);
        tracing::debug!(
            waiting,
            "webhook jobs wait in memory (up to webhook_queue) for Redis"
        );
        tokio::time::sleep(backoff).await;
        backoff = next_backoff(backoff);
    }
}

/// Push jobs until Redis fails (`Err`, the unsent batch kept) or every handle is gone (`Ok`).
async fn serve(
    conn: &mut Conn,
    keys: &Keys,
    rx: &mut mpsc::Receiver<Push>,
    batch: &mut Batch,
) -> ::redis::RedisResult<()> {
    loop {
        if batch.jobs.is_empty() && batch.waiters.is_empty() {
            match rx.recv().await {
                Some(push) => batch.take(push),
                None => return Ok(()),
            }
        }
        while batch.jobs.len() < MAX_PIPELINE {
            match rx.try_recv() {
                Ok(push) => batch.take(push),
                Err(_) => break,
            }
        }
        if !batch.jobs.is_empty() {
            xadd(conn, keys, &batch.jobs).await?;
            tracing::debug!(jobs = batch.jobs.len(), "webhook jobs queued in Redis");
            batch.jobs.clear();
        }
        for done in batch.waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

async fn xadd(conn: &mut Conn, keys: &Keys, jobs: &[Job]) -> ::redis::RedisResult<()> {
    let mut pipe = ::redis::pipe();
    for job in jobs {
        let cmd = pipe
            .cmd("XADD")
            .arg(&keys.stream)
            .arg("MAXLEN")
            .arg("~")
            .arg(MAX_JOBS)
            .arg("*");
        for (field, value) in job.fields() {
            cmd.arg(field).arg(value);
        }
        cmd.ignore();
    }
    pipe.query_async(conn).await
}
