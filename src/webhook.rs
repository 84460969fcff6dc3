//! Webhooks: Pusher's `channel_occupied`, `channel_vacated`, `member_added`,
//! `member_removed`, `client_event` and `cache_miss` POSTed to each app's URLs.
//!
//! A leaf: callers hand an [`Event`] to the app's [`Webhooks`] handle and move on.
//! Per app and node one sender task owns a bounded queue (overflow is dropped and
//! counted in metrics), the 3 s delay of `channel_vacated` / `member_removed`
//! (cancelled when the channel or member comes back meanwhile; bounded, see
//! `delay`), the optional batching window, and the in-flight deliveries with
//! their retries (see `deliver`). Every webhook gets only the events its
//! `event_types` and `filter` accept, signed over the exact bytes sent. With
//! `queue_driver = "redis"` the requests the sender would make become jobs in
//! Redis instead, delivered by any `full` or `worker` node (see [`queue`]).
//!
//! Webhooks follow the app as it is now, not as it was when the sender started:
//! apps from a database change while serving. The sender looks its app up
//! (a [`Lookup`]) when it filters an event, when it makes a request (which URLs,
//! which filters) and at every attempt of a request (which secret signs it,
//! which headers; a webhook or app removed meanwhile gets no further attempt),
//! queued jobs included. Pusher does the same: a webhook is signed with the
//! app's current secret when it is sent.

mod delay;
mod deliver;
mod event;
mod handoff;
mod pick;
pub(crate) use event::Event;
use pick::{now_ms, relevant};
pub(crate) mod queue;
mod sink;
pub(crate) mod sqs;
mod worker;
pub(crate) use worker::Worker;

use crate::config::{App, Apps, WebhookSettings};
use crate::metrics::{self, AppMetrics};
use crate::tap::Tap;
use futures_util::stream::{FuturesUnordered, StreamExt};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::{sleep_until, Instant};

/// Deliveries in flight per app at most; beyond it the queue fills up.
const MAX_IN_FLIGHT: usize = 64;

/// Finds an app by id as it is now (`None`: the app is gone).
pub(crate) type Lookup = Arc<dyn Fn(&str) -> Option<Arc<App>> + Send + Sync>;

/// A [`Lookup`] that follows every later change of `apps`.
pub(crate) fn lookup(apps: &Apps) -> Lookup {
    let live = apps.live();
    Arc::new(move |id| live.by_id(id))
}

/// An app's webhook sender on this node, started on first use.
#[derive(Debug, Default)]
pub struct Webhooks {
    tx: OnceLock<mpsc::Sender<Command>>,
    /// The app's console tap: each attempt and its HTTP status.
    tap: Arc<Tap>,
}

impl Webhooks {
    pub(crate) fn new(tap: Arc<Tap>) -> Webhooks {
        Webhooks {
            tx: OnceLock::new(),
            tap,
        }
    }

    /// Queue `event` for the webhooks of app `id` of `apps` (as the app is now).
    /// Never waits: a full queue drops the event and counts it. Must be called
    /// inside a tokio runtime.
    pub(crate) fn send(
        &self,
        apps: &Apps,
        id: &str,
        settings: &WebhookSettings,
        port: u16,
        event: Event,
    ) {
        let Some(app) = apps.by_id(id) else { return };
        if !relevant(&app.webhooks, &event) {
            return;
        }
        let tx = self.tx.get_or_init(|| {
            let apps = lookup(apps);
            start(apps, &app, settings.clone(), port, self.tap.clone())
        });
        let stamped = Stamped {
            event,
            time_ms: now_ms(),
        };
        if tx.try_send(Command::Event(stamped)).is_err() {
            tracing::warn!(app_id = %app.raw.id, "webhook queue full: event dropped");
            metrics::app(&app.raw.id, port).webhook_dropped(1);
        }
    }

    /// On shutdown: send delayed and batched events now and wait for the
    /// deliveries in flight (the caller bounds the wait).
    pub(crate) async fn flush(&self) {
        let Some(tx) = self.tx.get() else { return };
        let (done, wait) = oneshot::channel();
        if tx.send(Command::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}

enum Command {
    Event(Stamped),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug)]
struct Stamped {
    event: Event,
    time_ms: u64,
}

fn start(
    apps: Lookup,
    app: &App,
    settings: WebhookSettings,
    port: u16,
    tap: Arc<Tap>,
) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(settings.queue);
    let queue = sink::for_settings(&settings);
    let sender = Sender {
        tap,
        queue,
        metrics: metrics::app(&app.raw.id, port),
        client: None,
        id: app.raw.id.clone(),
        apps,
        settings,
        delayed: delay::Delayed::new(delay::MAX_DELAYED),
        batch: Vec::new(),
        batch_due: None,
        in_flight: FuturesUnordered::new(),
    };
    tokio::spawn(sender.run(rx));
    tx
}

type Delivery = Pin<Box<dyn Future<Output = ()> + Send>>;

struct Sender {
    tap: Arc<Tap>,
    /// With `queue_driver = "redis"` or `"sqs"`: requests become jobs there instead of being sent here.
    queue: Option<Arc<handoff::Producer>>,
    /// The app's id, and where its current settings are found.
    id: String,
    apps: Lookup,
    settings: WebhookSettings,
    /// Built for the app as it was last seen (TLS only if it has `https://` webhooks).
    client: Option<(Arc<App>, deliver::Client)>,
    metrics: Arc<AppMetrics>,
    /// `channel_vacated` / `member_removed` waiting out the delay.
    delayed: delay::Delayed,
    batch: Vec<Stamped>,
    batch_due: Option<Instant>,
    in_flight: FuturesUnordered<Delivery>,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let far = || Instant::now() + Duration::from_secs(3600);
        loop {
            let next_delayed = self.delayed.next_due();
            tokio::select! {
                got = rx.recv(), if self.in_flight.len() < MAX_IN_FLIGHT => match got {
                    Some(Command::Event(s)) => self.accept(s),
                    Some(Command::Flush(done)) => {
                        self.drain().await;
                        let _ = done.send(());
                    }
                    None => break,
                },
                _ = sleep_until(next_delayed.unwrap_or_else(far)), if next_delayed.is_some() => {
                    self.release(Instant::now());
                }
                _ = sleep_until(self.batch_due.unwrap_or_else(far)), if self.batch_due.is_some() => {
                    self.flush();
                }
                Some(()) = self.in_flight.next(), if !self.in_flight.is_empty() => {}
            }
        }
        self.drain().await;
    }

    /// The node is going away: send (or queue in Redis) what is left now and
    /// let retries run out.
    async fn drain(&mut self) {
        self.release(Instant::now() + Duration::from_secs(3600));
        self.flush();
        while self.in_flight.next().await.is_some() {}
        if let Some(queue) = &self.queue {
            queue.flush().await;
        }
    }

    fn accept(&mut self, s: Stamped) {
        if let Some(kind) = s.event.cancels() {
            if self.delayed.cancel(kind, &s.event) {
                tracing::debug!(
                    channel = s.event.channel(),
                    "webhook debounced: it came back"
                );
                return;
            }
        }
        let delay = self.settings.vacate_delay;
        match s.event {
            Event::ChannelVacated { .. } | Event::MemberRemoved { .. } if !delay.is_zero() => {
                if let Some(s) = self.delayed.hold(Instant::now() + delay, s) {
                    self.metrics.webhook_undelayed();
                    self.ready(s);
                }
            }
            _ => self.ready(s),
        }
    }

    /// Move every delayed event due by `now` on.
    fn release(&mut self, now: Instant) {
        for s in self.delayed.due(now) {
            self.ready(s);
        }
    }

    fn ready(&mut self, s: Stamped) {
        match self.settings.batching {
            None => self.dispatch(vec![s]),
            Some(window) => {
                self.batch.push(s);
                self.batch_due
                    .get_or_insert_with(|| Instant::now() + window);
            }
        }
    }

    fn flush(&mut self) {
        self.batch_due = None;
        let batch = std::mem::take(&mut self.batch);
        if !batch.is_empty() {
            self.dispatch(batch);
        }
    }

    /// One request per webhook of the app as it is now, with the events it
    /// accepts (none: no request; the app gone: nothing).
    fn dispatch(&mut self, events: Vec<Stamped>) {
        let Some(app) = (self.apps)(&self.id) else {
            tracing::info!(app_id = %self.id, "webhooks dropped: the app no longer exists");
            return;
        };
        for hook in &app.webhooks {
            let wanted: Vec<&Stamped> = events
                .iter()
                .filter(|s| hook.wants(s.event.kind(), s.event.channel()))
                .collect();
            let Some(first) = wanted.first() else {
                continue;
            };
            let items: Vec<String> = wanted.iter().map(|s| s.event.to_json()).collect();
            let names: Vec<&str> = wanted.iter().map(|s| s.event.kind()).collect();
            let body = format!(
                "{{\"time_ms\":{},\"events\":[{}]}}",
                first.time_ms,
                items.join(",")
            );
            let job = queue::Job {
                app: self.id.clone(),
                url: hook.url.clone(),
                body,
                time_ms: first.time_ms,
            };
            let Some(queue) = &self.queue else {
                self.post(&app, job, names.join(","));
                continue;
            };
            if !queue.push(job) {
                tracing::warn!(app_id = %self.id, "webhook queue unreachable and the local buffer is full; job dropped");
                self.metrics.webhook_dropped(1);
            }
        }
    }

    /// Send `job` from here, with its retries, each attempt per the app as it is then.
    fn post(&mut self, app: &Arc<App>, job: queue::Job, events: String) {
        let client = match &self.client {
            Some((seen, client)) if Arc::ptr_eq(seen, app) => client.clone(),
            _ => {
                let client = deliver::Client::new(app, &self.settings);
                self.client = Some((app.clone(), client.clone()));
                client
            }
        };
        let letter = deliver::Letter::new(self.apps.clone(), job);
        let (settings, metrics) = (self.settings.clone(), self.metrics.clone());
        let watch = deliver::Watch {
            tap: self.tap.clone(),
            events,
        };
        self.in_flight.push(Box::pin(async move {
            match deliver::post(&letter, &settings, &client, &watch).await {
                deliver::Outcome::Sent => metrics.webhook_sent(),
                deliver::Outcome::Failed => metrics.webhook_failed(),
                deliver::Outcome::Gone => {}
            }
        }));
    }
}
