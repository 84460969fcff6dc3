//! Taking jobs from the stream and delivering them: a reader task
//! (`XREADGROUP`, on a connection of its own since it blocks) hands jobs to the
//! worker's loop, which delivers them per app, finishes them (`XACK` + `XDEL`),
//! keeps its heartbeat and claims the jobs of workers that stopped beating.

use super::reader::{Held, Reader};
use super::{claim, Keys, Link, GROUP};
use crate::config::{RedisQueue, WebhookSettings};
use crate::metrics;
use crate::redis_link::{Conn, Target};
use crate::webhook::deliver::{self, Outcome};
use ::redis::RedisResult;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::time::Instant;

/// Jobs a worker holds at most (in flight or waiting for their app's turn).
pub(crate) const READ_AHEAD: usize = 1024;
/// Deliveries in flight per app on one worker, as with the in-memory queue.
const PER_APP: usize = crate::webhook::MAX_IN_FLIGHT;
const HEARTBEAT: Duration = Duration::from_secs(1);
const HEARTBEAT_TTL_MS: u64 = 5_000;

/// Finds an app by id at delivery time (apps may change while serving).
pub(crate) use crate::webhook::Lookup;
use crate::webhook::Worker;

/// Start delivering the queue's jobs; `port` labels the metrics and `up`
/// tells whether jobs can be read from Redis.
pub(crate) fn start(
    queue: &RedisQueue,
    settings: WebhookSettings,
    port: u16,
    up: Arc<AtomicBool>,
    apps: Lookup,
) -> Result<Worker, super::QueueError> {
    let target = Target::parse(queue)?;
    let id = worker_id();
    let keys = Keys::new(queue);
    let permits = Arc::new(Semaphore::new(READ_AHEAD));
    let (jobs_tx, jobs_rx) = mpsc::channel(READ_AHEAD);
    let reader = Reader {
        target: target.clone(),
        keys: keys.clone(),
        id: id.clone(),
        permits: permits.clone(),
        tx: jobs_tx,
        up,
    };
    let reader = tokio::spawn(reader.run());
    let state = Loop {
        target,
        keys,
        id,
        conn: None,
        link: Link::new("worker heartbeat"),
        apps,
        settings,
        port,
        permits,
        waiting: HashMap::new(),
        busy: HashMap::new(),
        in_flight: FuturesUnordered::new(),
        finished: Vec::new(),
        hold: HashSet::new(),
        clients: deliver::Clients::default(),
    };
    Ok(Worker::spawn(|stopped| state.run(jobs_rx, reader, stopped)))
}

fn worker_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:x}-{}", h.finish(), std::process::id())
}

type Delivery = Pin<Box<dyn Future<Output = (String, String)> + Send>>;

/// The worker's own loop: deliveries, heartbeat, finishing and claiming jobs.
struct Loop {
    target: Target,
    keys: Keys,
    id: String,
    conn: Option<Conn>,
    /// Heartbeat, acknowledgements and claims.
    link: Link,
    apps: Lookup,
    settings: WebhookSettings,
    port: u16,
    permits: Arc<Semaphore>,
    /// Jobs per app waiting for one of its delivery slots.
    waiting: HashMap<String, VecDeque<Held>>,
    /// Deliveries in flight per app.
    busy: HashMap<String, usize>,
    /// Each resolves to (app, job id).
    in_flight: FuturesUnordered<Delivery>,
    /// Ids of finished jobs not yet acknowledged in Redis.
    finished: Vec<String>,
    /// Ids of every job taken and not yet acknowledged: a pending job of this
    /// worker's that is not here was never received (see `claim::lost`).
    hold: HashSet<String>,
    clients: deliver::Clients,
}

impl Loop {
    async fn run(
        mut self,
        mut jobs: mpsc::Receiver<Held>,
        reader: tokio::task::JoinHandle<()>,
        mut stopped: oneshot::Receiver<Instant>,
    ) {
        let mut beat = tokio::time::interval(HEARTBEAT);
        let mut ticks = 0u64;
        let until = loop {
            tokio::select! {
                Some(held) = jobs.recv() => self.take(held),
                Some((app, id)) = self.in_flight.next(), if !self.in_flight.is_empty() => {
                    self.finish(&app, id);
                }
                _ = beat.tick() => {
                    ticks += 1;
                    self.tick(ticks.is_multiple_of(2)).await;
                }
                until = &mut stopped => break until.unwrap_or_else(|_| Instant::now()),
            }
        };
        reader.abort();
        self.stop(until).await;
    }

    /// Every second: heartbeat and acknowledgements; every other: claims.
    async fn tick(&mut self, claim: bool) {
        if self.conn.is_none() {
            match Conn::plain(&self.target, Duration::from_secs(2)).await {
                Ok(conn) => self.conn = Some(conn),
                Err(e) => return self.link.down(&e),
            }
        }
        let result = match self.beat_and_ack().await {
            Ok(()) if claim => self.claim().await,
            other => other,
        };
        match result {
            Ok(()) => self.link.up(),
            Err(e) => {
                self.link.down(&e);
                self.conn = None;
            }
        }
    }

    /// The heartbeat and the acknowledgements in one pipeline: one round trip on
    /// a single server; on a cluster, where the heartbeat key and the stream may
    /// be on different masters, the link sends them one by one.
    async fn beat_and_ack(&mut self) -> RedisResult<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let mut pipe = ::redis::pipe();
        pipe.cmd("SET")
            .arg(self.keys.heartbeat_of(&self.id))
            .arg(1)
            .arg("PX")
            .arg(HEARTBEAT_TTL_MS)
            .ignore();
        if !self.finished.is_empty() {
            pipe.cmd("XACK")
                .arg(&self.keys.stream)
                .arg(GROUP)
                .arg(&self.finished)
                .ignore();
            pipe.cmd("XDEL")
                .arg(&self.keys.stream)
                .arg(&self.finished)
                .ignore();
        }
        pipe.query_async::<()>(conn).await?;
        for id in self.finished.drain(..) {
            self.hold.remove(&id);
        }
        Ok(())
    }

    /// Take over the pending jobs of workers whose heartbeat is gone, and this
    /// worker's own that it never received. What was claimed is taken even if
    /// a later step fails.
    async fn claim(&mut self) -> RedisResult<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        let (keys, me, permits) = (&self.keys, &self.id, &self.permits);
        let mut claimed = Vec::new();
        let mut result = claim::dead(conn, keys, me, permits, &mut claimed).await;
        if result.is_ok() {
            result = claim::lost(conn, keys, me, permits, &self.hold, &mut claimed).await;
        }
        for held in claimed {
            self.take(held);
        }
        result
    }

    /// A job arrived: deliver it now if its app has a free slot, else queue it.
    fn take(&mut self, held: Held) {
        if !self.hold.insert(held.id.clone()) {
            tracing::debug!(id = %held.id, "webhook queue: job already taken");
            return;
        }
        let Some(job) = &held.job else {
            tracing::warn!(id = %held.id, "webhook queue: unreadable job dropped");
            self.finished.push(held.id);
            return;
        };
        let app = job.app.clone();
        if self.busy.get(&app).copied().unwrap_or(0) < PER_APP {
            self.start(held);
        } else {
            self.waiting.entry(app).or_default().push_back(held);
        }
    }

    /// A delivery ended: the job is done, and the app's next one may start.
    fn finish(&mut self, app: &str, id: String) {
        self.finished.push(id);
        if let Some(n) = self.busy.get_mut(app) {
            *n = n.saturating_sub(1);
        }
        let next = self.waiting.get_mut(app).and_then(VecDeque::pop_front);
        if let Some(held) = next {
            self.start(held);
        }
        if self.waiting.get(app).is_some_and(VecDeque::is_empty) {
            self.waiting.remove(app);
        }
    }

    fn start(&mut self, held: Held) {
        let Some(job) = held.job.clone() else { return };
        *self.busy.entry(job.app.clone()).or_default() += 1;
        let client = self.clients.for_app(&self.apps, &job.app, &self.settings);
        let (settings, port) = (self.settings.clone(), self.port);
        let age = Duration::from_millis(crate::webhook::now_ms().saturating_sub(job.time_ms));
        let app = job.app.clone();
        let letter = deliver::Letter::new(self.apps.clone(), job);
        self.in_flight.push(Box::pin(async move {
            let _permit = held._permit;
            let outcome = deliver::post_aged(&letter, &settings, &client, age, None).await;
            match outcome {
                Outcome::Sent => metrics::app(&app, port).webhook_sent(),
                Outcome::Failed => metrics::app(&app, port).webhook_failed(),
                Outcome::Gone => {}
            }
            (app, held.id)
        }));
    }

    /// Let deliveries in flight end until `until`, acknowledge them and drop
    /// the heartbeat; jobs still pending are claimed by other workers.
    async fn stop(mut self, until: Instant) {
        let waited = tokio::time::timeout_at(until, async {
            while let Some((app, id)) = self.in_flight.next().await {
                self.finished.push(id);
                let _ = app;
            }
        })
        .await;
        if waited.is_err() {
            tracing::info!(
                "webhook queue: deliveries still retrying at shutdown are left to other workers"
            );
        }
        self.in_flight = FuturesUnordered::new();
        if self.conn.is_none() {
            self.conn = Conn::plain(&self.target, Duration::from_secs(2)).await.ok();
        }
        let _ = self.beat_and_ack().await;
        if let Some(conn) = self.conn.as_mut() {
            let _: RedisResult<()> = ::redis::cmd("DEL")
                .arg(self.keys.heartbeat_of(&self.id))
                .query_async(conn)
                .await;
        }
        tracing::info!(worker = %self.id, "webhook queue: worker stopped");
    }
}
