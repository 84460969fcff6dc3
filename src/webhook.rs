//! Webhooks: Pusher's `channel_occupied`, `channel_vacated`, `member_added`,
//! `member_removed`, `client_event` and `cache_miss` POSTed to each app's URLs.
//!
//! A leaf: callers hand an [`Event`] to the app's [`Webhooks`] handle and move on.
//! Per app and node one sender task owns a bounded queue (overflow is dropped and
//! counted in metrics), the 3 s delay of `channel_vacated` / `member_removed`
//! (cancelled when the channel or member comes back meanwhile), the optional
//! batching window, and the in-flight deliveries with their retries (see
//! `deliver`). Every webhook gets only the events its `event_types` and
//! `filter` accept, signed over the exact bytes sent. With `queue_driver =
//! "redis"` the requests the sender would make become jobs in Redis instead,
//! delivered by any `full` or `worker` node (see [`queue`]).

mod deliver;
mod pick;
use pick::{now_ms, relevant};
pub(crate) mod queue;
mod sink;
pub(crate) mod sqs;

use crate::config::{App, WebhookSettings};
use crate::metrics::{self, AppMetrics};
use crate::protocol::quote;
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

/// Something a webhook may be told about. User ids are kept as the JSON the
/// client sent (`"7"` or `7`) next to their string form used for matching.
#[derive(Debug, Clone, PartialEq)]
// `ClientEvent` is the wire name (`client_event`, `client-event`), hence the suffix.
#[allow(clippy::enum_variant_names)]
pub(crate) enum Event {
    ChannelOccupied {
        channel: String,
    },
    ChannelVacated {
        channel: String,
    },
    MemberAdded {
        channel: String,
        user_id: String,
        user_json: String,
    },
    MemberRemoved {
        channel: String,
        user_id: String,
        user_json: String,
    },
    ClientEvent {
        channel: String,
        event: String,
        /// The raw JSON of the event's `data`.
        data: Option<String>,
        socket_id: String,
        /// Presence channels: the sender's user id as JSON.
        user_json: Option<String>,
    },
    CacheMiss {
        channel: String,
    },
}

impl Event {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Event::ChannelOccupied { .. } => "channel_occupied",
            Event::ChannelVacated { .. } => "channel_vacated",
            Event::MemberAdded { .. } => "member_added",
            Event::MemberRemoved { .. } => "member_removed",
            Event::ClientEvent { .. } => "client_event",
            Event::CacheMiss { .. } => "cache_miss",
        }
    }

    pub(crate) fn channel(&self) -> &str {
        match self {
            Event::ChannelOccupied { channel }
            | Event::ChannelVacated { channel }
            | Event::MemberAdded { channel, .. }
            | Event::MemberRemoved { channel, .. }
            | Event::ClientEvent { channel, .. }
            | Event::CacheMiss { channel } => channel,
        }
    }

    /// The kind of a delayed event this one cancels (a re-join cancels a leave).
    fn cancels(&self) -> Option<&'static str> {
        match self {
            Event::ChannelOccupied { .. } => Some("channel_vacated"),
            Event::MemberAdded { .. } => Some("member_removed"),
            _ => None,
        }
    }

    fn user(&self) -> Option<&str> {
        match self {
            Event::MemberAdded { user_id, .. } | Event::MemberRemoved { user_id, .. } => {
                Some(user_id)
            }
            _ => None,
        }
    }

    /// One element of the `events` array. `client_event` data is a string, as Pusher sends it.
    fn to_json(&self) -> String {
        let head = format!(
            "{{\"name\":\"{}\",\"channel\":{}",
            self.kind(),
            quote(self.channel())
        );
        match self {
            Event::MemberAdded { user_json, .. } | Event::MemberRemoved { user_json, .. } => {
                format!("{head},\"user_id\":{user_json}}}")
            }
            Event::ClientEvent {
                event,
                data,
                socket_id,
                user_json,
                ..
            } => {
                let data = match data.as_deref() {
                    Some(d) if d.starts_with('"') => d.to_string(),
                    Some(d) => quote(d),
                    None => "\"\"".into(),
                };
                let user = user_json
                    .as_deref()
                    .map(|u| format!(",\"user_id\":{u}"))
                    .unwrap_or_default();
                format!(
                    "{head},\"event\":{},\"data\":{data},\"socket_id\":{}{user}}}",
                    quote(event),
                    quote(socket_id)
                )
            }
            _ => format!("{head}}}"),
        }
    }
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

    /// Queue `event` for the app's webhooks. Never waits: a full queue drops the
    /// event and counts it. Must be called inside a tokio runtime.
    pub(crate) fn send(&self, app: &Arc<App>, settings: &WebhookSettings, port: u16, event: Event) {
        if !relevant(&app.webhooks, &event) {
            return;
        }
        let tx = self
            .tx
            .get_or_init(|| start(app.clone(), settings.clone(), port, self.tap.clone()));
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
    app: Arc<App>,
    settings: WebhookSettings,
    port: u16,
    tap: Arc<Tap>,
) -> mpsc::Sender<Command> {
    let (tx, rx) = mpsc::channel(settings.queue);
    let queue = sink::Sink::for_settings(&settings);
    let sender = Sender {
        tap,
        queue,
        metrics: metrics::app(&app.raw.id, port),
        client: deliver::Client::new(&app, &settings),
        app,
        settings,
        delayed: Vec::new(),
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
    queue: Option<sink::Sink>,
    app: Arc<App>,
    settings: WebhookSettings,
    client: deliver::Client,
    metrics: Arc<AppMetrics>,
    /// `channel_vacated` / `member_removed` waiting out the delay.
    delayed: Vec<(Instant, Stamped)>,
    batch: Vec<Stamped>,
    batch_due: Option<Instant>,
    in_flight: FuturesUnordered<Delivery>,
}

impl Sender {
    async fn run(mut self, mut rx: mpsc::Receiver<Command>) {
        let far = || Instant::now() + Duration::from_secs(3600);
        loop {
            let next_delayed = self.delayed.iter().map(|(due, _)| *due).min();
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
            let back = |(_, d): &(Instant, Stamped)| {
                d.event.kind() == kind
                    && d.event.channel() == s.event.channel()
                    && d.event.user() == s.event.user()
            };
            if let Some(i) = self.delayed.iter().position(back) {
                self.delayed.remove(i);
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
                self.delayed.push((Instant::now() + delay, s));
            }
            _ => self.ready(s),
        }
    }

    /// Move every delayed event due by `now` on.
    fn release(&mut self, now: Instant) {
        let (due, wait): (Vec<_>, Vec<_>) = self.delayed.drain(..).partition(|(t, _)| *t <= now);
        self.delayed = wait;
        for (_, s) in due {
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

    /// One request per webhook with the events it accepts (none: no request).
    fn dispatch(&mut self, events: Vec<Stamped>) {
        for hook in &self.app.webhooks {
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
            if let Some(queue) = &self.queue {
                let job = queue::Job {
                    app: self.app.raw.id.clone(),
                    url: hook.url.clone(),
                    body,
                    time_ms: first.time_ms,
                };
                if !queue.push(job) {
                    tracing::warn!(app_id = %self.app.raw.id, "webhook queue unreachable and the local buffer is full; job dropped");
                    self.metrics.webhook_dropped(1);
                }
                continue;
            }
            let request = deliver::Request::new(hook, &self.app, body);
            let (settings, metrics) = (self.settings.clone(), self.metrics.clone());
            let client = self.client.clone();
            let watch = deliver::Watch {
                tap: self.tap.clone(),
                events: names.join(","),
            };
            self.in_flight.push(Box::pin(async move {
                if deliver::post(&request, &settings, &client, &watch).await {
                    metrics.webhook_sent();
                } else {
                    metrics.webhook_failed();
                }
            }));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_encode_like_pusher() {
        let e = Event::MemberAdded {
            channel: "presence-a".into(),
            user_id: "7".into(),
            user_json: "7".into(),
        };
        assert_eq!(
            e.to_json(),
            r#"{"name":"member_added","channel":"presence-a","user_id":7}"#
        );
        let c = Event::ClientEvent {
            channel: "private-a".into(),
            event: "client-x".into(),
            data: Some(r#"{"a":1}"#.into()),
            socket_id: "1.2".into(),
            user_json: None,
        };
        assert_eq!(
            c.to_json(),
            r#"{"name":"client_event","channel":"private-a","event":"client-x","data":"{\"a\":1}","socket_id":"1.2"}"#
        );
    }
}
