//! Taking jobs from SQS and delivering them: a reader task receives messages
//! while fewer than [`READ_AHEAD`] are held; the worker's loop delivers them,
//! deletes the finished ones and keeps the others hidden (visibility extended
//! every half visibility timeout).

use super::READ_AHEAD;
use crate::aws::sqs::{Message, Sqs, SqsError};
use crate::config::{SqsQueue, WebhookSettings};
use crate::metrics;
use crate::webhook::deliver::{self, Outcome};
use crate::webhook::queue::{worker::Lookup, Job};
use crate::webhook::Worker;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

type Held = (Message, OwnedSemaphorePermit);

/// Start delivering the queue's jobs; `up` tells whether SQS answers receives.
pub(crate) fn start(
    queue: &SqsQueue,
    settings: WebhookSettings,
    port: u16,
    up: Arc<AtomicBool>,
    apps: Lookup,
) -> Result<Worker, SqsError> {
    let sqs = Sqs::new(queue)?;
    let (tx, rx) = mpsc::channel(READ_AHEAD);
    let reader = tokio::spawn(read(sqs.clone(), queue.clone(), tx, up));
    let state = Loop {
        sqs,
        apps,
        settings,
        port,
        held: HashMap::new(),
        in_flight: FuturesUnordered::new(),
        next_id: 0,
        clients: deliver::Clients::default(),
    };
    Ok(Worker::spawn(|stopped| state.run(rx, reader, stopped)))
}

/// Receive messages while there is room, handing each over with its permit.
async fn read(sqs: Sqs, queue: SqsQueue, tx: mpsc::Sender<Held>, up: Arc<AtomicBool>) {
    let permits = Arc::new(Semaphore::new(READ_AHEAD));
    let mut backoff = Duration::from_millis(100);
    loop {
        let Ok(mut room) = permits
            .clone()
            .acquire_many_owned(queue.batch_size as u32)
            .await
        else {
            return;
        };
        match sqs.receive(queue.batch_size).await {
            Ok(messages) => {
                if !up.swap(true, Ordering::AcqRel) {
                    tracing::info!("webhook queue: receiving from SQS");
                }
                backoff = Duration::from_millis(100);
                let empty = messages.is_empty();
                for message in messages {
                    let Some(permit) = room.split(1) else { break };
                    if tx.send((message, permit)).await.is_err() {
                        return;
                    }
                }
                if empty {
                    tokio::time::sleep(queue.polling_wait).await;
                }
            }
            Err(e) => {
                if up.swap(false, Ordering::AcqRel) {
                    tracing::warn!(error = %e, "webhook queue: cannot receive from SQS; retrying with back-off");
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(2));
            }
        }
    }
}

/// The queue's visibility timeout (30 s, SQS's default, if it cannot be read).
async fn visibility(sqs: &Sqs) -> u64 {
    match sqs.visibility_timeout().await {
        Ok(secs) => secs,
        Err(e) => {
            tracing::warn!(error = %e, "webhook queue: cannot read the SQS queue's visibility timeout; assuming 30 s");
            30
        }
    }
}

type Delivery = Pin<Box<dyn Future<Output = u64> + Send>>;

struct Loop {
    sqs: Sqs,
    apps: Lookup,
    settings: WebhookSettings,
    port: u16,
    /// Messages being delivered, by local id.
    held: HashMap<u64, Held>,
    in_flight: FuturesUnordered<Delivery>,
    next_id: u64,
    clients: deliver::Clients,
}

impl Loop {
    async fn run(
        mut self,
        mut rx: mpsc::Receiver<Held>,
        reader: tokio::task::JoinHandle<()>,
        mut stopped: oneshot::Receiver<Instant>,
    ) {
        let visibility = visibility(&self.sqs).await;
        let mut extend = tokio::time::interval(Duration::from_secs((visibility / 2).max(1)));
        let until = loop {
            tokio::select! {
                Some(held) = rx.recv() => self.start(held),
                Some(id) = self.in_flight.next(), if !self.in_flight.is_empty() => self.finish(id),
                _ = extend.tick() => self.extend(visibility),
                until = &mut stopped => break until.unwrap_or_else(|_| Instant::now()),
            }
        };
        reader.abort();
        self.stop(until).await;
    }

    fn start(&mut self, held: Held) {
        let id = self.next_id;
        self.next_id += 1;
        let job = Job::from_message(&held.0.body);
        self.held.insert(id, held);
        let Some(job) = job else {
            tracing::warn!("webhook queue: unreadable SQS message dropped");
            return self.finish(id);
        };
        let client = self.clients.for_app(&self.apps, &job.app, &self.settings);
        let (settings, port) = (self.settings.clone(), self.port);
        let age = Duration::from_millis(crate::webhook::now_ms().saturating_sub(job.time_ms));
        let app = job.app.clone();
        let letter = deliver::Letter::new(self.apps.clone(), job);
        self.in_flight.push(Box::pin(async move {
            match deliver::post_aged(&letter, &settings, &client, age, None).await {
                Outcome::Sent => metrics::app(&app, port).webhook_sent(),
                Outcome::Failed => metrics::app(&app, port).webhook_failed(),
                Outcome::Gone => {}
            }
            id
        }));
    }

    /// A job is done (delivered, given up or dropped): delete its message.
    fn finish(&mut self, id: u64) {
        let Some((message, permit)) = self.held.remove(&id) else {
            return;
        };
        let sqs = self.sqs.clone();
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = sqs.delete(&message.receipt).await {
                tracing::warn!(error = %e, "webhook queue: SQS message not deleted; it will be delivered again");
            }
        });
    }

    /// Keep every held message hidden for another visibility timeout.
    fn extend(&self, secs: u64) {
        for (message, _) in self.held.values() {
            let (sqs, receipt) = (self.sqs.clone(), message.receipt.clone());
            tokio::spawn(async move {
                if let Err(e) = sqs.extend(&receipt, secs).await {
                    tracing::debug!(error = %e, "webhook queue: SQS visibility not extended");
                }
            });
        }
    }

    /// Let deliveries end until `until`, delete them, and make the rest visible now.
    async fn stop(mut self, until: Instant) {
        let _ = tokio::time::timeout_at(until, async {
            while let Some(id) = self.in_flight.next().await {
                if let Some((message, _)) = self.held.remove(&id) {
                    let _ = self.sqs.delete(&message.receipt).await;
                }
            }
        })
        .await;
        let left = self
            .held
            .values()
            .map(|(m, _)| self.sqs.extend(&m.receipt, 0));
        futures_util::future::join_all(left).await;
        tracing::info!("webhook queue: SQS worker stopped");
    }
}
