//! The SQS queue for webhooks (`queue_driver = "sqs"`, Soketi's
//! `SOKETI_QUEUE_DRIVER=sqs` with `SOKETI_QUEUE_SQS_*`): the same jobs as the
//! Redis queue (see [`super::queue`]: app id, webhook URL, exact body, creation
//! time, as a JSON message body), kept in an SQS queue so any live worker
//! delivers them and a node that dies loses none it had taken.
//!
//! # Flow
//! - Producers (every node but `mode = "worker"` ones): one task per queue URL in
//!   the process takes jobs from a bounded local buffer (`webhook_queue` jobs) and
//!   sends them (`SendMessage`, up to [`SEND_AT_ONCE`] at once), retrying with
//!   back-off (100 ms doubling to 2 s) while SQS is unreachable; beyond the
//!   buffer new jobs are dropped and logged. On a `.fifo` queue each message has
//!   Soketi's group id (`<app id>_webhooks`) and deduplication id (the body's
//!   SHA-256), so an app's jobs are delivered in order, one batch at a time.
//! - Workers (`full` and `worker` nodes): receive up to `sqs_batch_size`
//!   messages (long polling, 1 s; after an empty answer wait `sqs_polling_wait`),
//!   at most [`READ_AHEAD`] held, deliver each with the usual retries (the
//!   5-minute limit counts from the job's creation), then `DeleteMessage`. While
//!   a delivery lasts, its message's visibility is extended every half
//!   visibility timeout (the queue's own), so other workers do not take it.
//! - A worker killed with -9 stops extending: its messages become visible again
//!   after the queue's visibility timeout and another worker delivers them. A
//!   worker stopped gracefully lets its deliveries end until the shutdown
//!   deadline and makes what is left visible at once.
//! - At least once: a worker that dies after a webhook was answered but before
//!   its `DeleteMessage` has that job sent again by another.

use super::handoff::{Producer, Push};
use super::queue::Job;
use crate::aws::sqs::{Sqs, SqsError};
use crate::config::SqsQueue;
use serde_json::json;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;
use tokio::sync::mpsc;

/// Jobs sent to SQS at once at most.
const SEND_AT_ONCE: usize = 32;
/// Jobs a worker holds at most.
pub(crate) const READ_AHEAD: usize = 256;

impl Job {
    fn to_message(&self) -> String {
        json!({"app": self.app, "url": self.url, "time": self.time_ms, "body": self.body})
            .to_string()
    }

    fn from_message(text: &str) -> Option<Job> {
        let v: serde_json::Value = serde_json::from_str(text).ok()?;
        Some(Job {
            app: v["app"].as_str()?.to_string(),
            url: v["url"].as_str()?.to_string(),
            body: v["body"].as_str()?.to_string(),
            time_ms: v["time"].as_u64()?,
        })
    }
}

static PRODUCERS: LazyLock<Mutex<HashMap<String, Arc<Producer>>>> = LazyLock::new(Mutex::default);

/// The producer for `queue`, started on first use (inside a tokio runtime).
pub(crate) fn producer(queue: &SqsQueue, buffer: usize) -> Result<Arc<Producer>, SqsError> {
    let mut all = PRODUCERS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(p) = all.get(&queue.url).filter(|p| !p.is_closed()) {
        return Ok(p.clone());
    }
    let sqs = Sqs::new(queue)?;
    let (producer, rx) = Producer::new(buffer);
    tokio::spawn(produce(sqs, rx));
    let producer = Arc::new(producer);
    all.insert(queue.url.clone(), producer.clone());
    Ok(producer)
}

async fn produce(sqs: Sqs, mut rx: mpsc::Receiver<Push>) {
    let mut jobs = Vec::new();
    let mut waiters = Vec::new();
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(push) = next.take() {
            match push {
                Push::Job(job) => jobs.push(job),
                Push::Flush(done) => waiters.push(done),
            }
            if jobs.len() < SEND_AT_ONCE {
                next = rx.try_recv().ok();
            }
        }
        send_all(&sqs, std::mem::take(&mut jobs)).await;
        for done in waiters.drain(..) {
            let _ = done.send(());
        }
    }
}

/// Send `jobs`, retrying the failed ones with back-off until all are in SQS.
async fn send_all(sqs: &Sqs, mut jobs: Vec<Job>) {
    let mut backoff = Duration::from_millis(100);
    let mut down = false;
    while !jobs.is_empty() {
        let results = futures_util::future::join_all(
            jobs.iter().map(|job| sqs.send(&job.app, job.to_message())),
        )
        .await;
        let mut failed = Vec::new();
        for (job, result) in jobs.into_iter().zip(results) {
            if let Err(e) = result {
                if !std::mem::replace(&mut down, true) {
                    tracing::warn!(error = %e, "webhook queue: cannot send to SQS; retrying with back-off");
                }
                failed.push(job);
            }
        }
        jobs = failed;
        if !jobs.is_empty() {
            tokio::time::sleep(backoff).await;
            backoff = super::queue::next_backoff(backoff);
        } else if down {
            tracing::info!("webhook queue: SQS reachable again");
        }
    }
}

mod worker;
pub(crate) use worker::start as start_worker;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_message_bodies() {
        let job = Job {
            app: "1".into(),
            url: "http://h/x".into(),
            body: r#"{"time_ms":1,"events":[]}"#.into(),
            time_ms: 1_700_000_000_000,
        };
        assert_eq!(Job::from_message(&job.to_message()), Some(job));
        assert_eq!(Job::from_message(r#"{"app":"1"}"#), None);
        assert_eq!(Job::from_message("not json"), None);
    }
}
