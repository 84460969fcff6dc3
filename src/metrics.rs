//! Counters and gauges rendered for Prometheus, with Soketi's metric names and
//! labels (`app_id`, `port`) so existing dashboards keep working, plus process
//! figures read from `/proc`.
//!
//! A leaf: anyone may call it, it calls no one. Counters live in one process-wide
//! table of per-app atomics; a connection or request looks its app's entry up once
//! and then only does relaxed atomic adds. Only configured apps get an entry, so
//! the table cannot be grown by unknown ids.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

mod process;
use process::process_metrics;
pub use process::{memory_percent, resident_bytes, total_memory_bytes, usage_json};

/// One app's counters on one main port.
#[derive(Debug, Default)]
pub(crate) struct AppMetrics {
    connected: AtomicI64,
    new_connections: AtomicU64,
    new_disconnections: AtomicU64,
    socket_received_bytes: AtomicU64,
    socket_transmitted_bytes: AtomicU64,
    ws_messages_received: AtomicU64,
    ws_messages_sent: AtomicU64,
    http_received_bytes: AtomicU64,
    http_transmitted_bytes: AtomicU64,
    http_calls: AtomicU64,
    queue_full_closes: AtomicU64,
    webhooks_sent: AtomicU64,
    webhooks_failed: AtomicU64,
    webhooks_dropped: AtomicU64,
    webhooks_undelayed: AtomicU64,
    console_dropped: AtomicU64,
}

/// (name without prefix, type, help, reader)
type Reader = fn(&AppMetrics) -> i64;
const APP_METRICS: &[(&str, &str, &str, Reader)] = &[
    (
        "connected",
        "gauge",
        "The number of currently connected sockets.",
        |m| m.connected.load(Ordering::Relaxed),
    ),
    (
        "new_connections_total",
        "counter",
        "Total amount of soketi connection requests.",
        |m| load(&m.new_connections),
    ),
    (
        "new_disconnections_total",
        "counter",
        "Total amount of soketi disconnections.",
        |m| load(&m.new_disconnections),
    ),
    (
        "socket_received_bytes",
        "counter",
        "Total amount of bytes that soketi received.",
        |m| load(&m.socket_received_bytes),
    ),
    (
        "socket_transmitted_bytes",
        "counter",
        "Total amount of bytes that soketi transmitted.",
        |m| load(&m.socket_transmitted_bytes),
    ),
    (
        "ws_messages_received_total",
        "counter",
        "The total amount of WS messages received from connections by the server.",
        |m| load(&m.ws_messages_received),
    ),
    (
        "ws_messages_sent_total",
        "counter",
        "The total amount of WS messages sent to the connections from the server.",
        |m| load(&m.ws_messages_sent),
    ),
    (
        "http_received_bytes",
        "counter",
        "Total amount of bytes that soketi's REST API received.",
        |m| load(&m.http_received_bytes),
    ),
    (
        "http_transmitted_bytes",
        "counter",
        "Total amount of bytes that soketi's REST API sent back.",
        |m| load(&m.http_transmitted_bytes),
    ),
    (
        "http_calls_received_total",
        "counter",
        "Total amount of received REST API calls.",
        |m| load(&m.http_calls),
    ),
    (
        "socket_queue_full_closes_total",
        "counter",
        "Sockets closed with 4100 because their outbound queue was full.",
        |m| load(&m.queue_full_closes),
    ),
    (
        "webhooks_sent_total",
        "counter",
        "Webhook requests answered with a 2xx status.",
        |m| load(&m.webhooks_sent),
    ),
    (
        "webhooks_failed_total",
        "counter",
        "Webhook requests given up after retrying.",
        |m| load(&m.webhooks_failed),
    ),
    (
        "webhooks_dropped_total",
        "counter",
        "Webhook events dropped because the webhook queue was full.",
        |m| load(&m.webhooks_dropped),
    ),
    (
        "webhooks_undelayed_total",
        "counter",
        "channel_vacated / member_removed webhooks sent without their delay: too many were waiting.",
        |m| load(&m.webhooks_undelayed),
    ),
    (
        "console_dropped_total",
        "counter",
        "Debug console records dropped because a watcher's queue was full.",
        |m| load(&m.console_dropped),
    ),
];

fn load(c: &AtomicU64) -> i64 {
    i64::try_from(c.load(Ordering::Relaxed)).unwrap_or(i64::MAX)
}

fn add(c: &AtomicU64, n: usize) {
    c.fetch_add(n as u64, Ordering::Relaxed);
}

impl AppMetrics {
    /// A socket was admitted; the gauge goes down again when the guard drops,
    /// so it only ever counts admitted sockets and never goes negative.
    pub(crate) fn connection(self: &Arc<Self>) -> Connected {
        self.connected.fetch_add(1, Ordering::Relaxed);
        add(&self.new_connections, 1);
        Connected(self.clone())
    }

    pub(crate) fn ws_received(&self, bytes: usize) {
        add(&self.ws_messages_received, 1);
        add(&self.socket_received_bytes, bytes);
    }

    pub(crate) fn ws_sent(&self, bytes: usize) {
        self.ws_sent_many(1, bytes);
    }

    /// Count `messages` frames carrying `bytes` of payload, written in one go.
    pub(crate) fn ws_sent_many(&self, messages: usize, bytes: usize) {
        add(&self.ws_messages_sent, messages);
        add(&self.socket_transmitted_bytes, bytes);
    }

    pub(crate) fn http_call(&self, received: usize, transmitted: usize) {
        add(&self.http_calls, 1);
        add(&self.http_received_bytes, received);
        add(&self.http_transmitted_bytes, transmitted);
    }

    pub(crate) fn queue_full(&self) {
        add(&self.queue_full_closes, 1);
    }

    pub(crate) fn webhook_sent(&self) {
        add(&self.webhooks_sent, 1);
    }

    pub(crate) fn webhook_failed(&self) {
        add(&self.webhooks_failed, 1);
    }

    pub(crate) fn webhook_dropped(&self, events: usize) {
        add(&self.webhooks_dropped, events);
    }

    pub(crate) fn webhook_undelayed(&self) {
        add(&self.webhooks_undelayed, 1);
    }

    pub(crate) fn console_dropped(&self, records: u64) {
        self.console_dropped.fetch_add(records, Ordering::Relaxed);
    }
}

/// Holds one unit of the `connected` gauge while a socket is open.
#[derive(Debug)]
pub(crate) struct Connected(Arc<AppMetrics>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.connected.fetch_sub(1, Ordering::Relaxed);
        add(&self.0.new_disconnections, 1);
    }
}

/// Why strangers were turned away, counted instead of logged one by one (a
/// flood of them must not turn into gigabytes of logs).
pub(crate) const REFUSALS: [&str; 12] = [
    "request_timeout",
    "frame_timeout",
    "node_capacity",
    "address_capacity",
    "metrics_capacity",
    "unknown_app",
    "bad_signature",
    "subscription_unauthorized",
    "origin",
    "app_quota",
    "app_disabled",
    "watchlist_limit",
];

static REFUSED: [AtomicU64; REFUSALS.len()] = [const { AtomicU64::new(0) }; REFUSALS.len()];
/// The second (since the process's first refusal) each reason was last logged in.
static LOGGED: [AtomicU64; REFUSALS.len()] = [const { AtomicU64::new(u64::MAX) }; REFUSALS.len()];

/// Count one refusal; `reason` is one of [`REFUSALS`] (others are ignored).
/// Says whether to log it: the first of its reason in each second is worth a
/// line, the rest are only counted.
pub(crate) fn refused(reason: &str) -> bool {
    let Some(at) = REFUSALS.iter().position(|r| *r == reason) else {
        return true;
    };
    REFUSED[at].fetch_add(1, Ordering::Relaxed);
    first_in_second(&LOGGED[at])
}

/// True the first time `slot` is asked in each second (since the first ask).
fn first_in_second(slot: &AtomicU64) -> bool {
    static EPOCH: OnceLock<std::time::Instant> = OnceLock::new();
    let second = EPOCH
        .get_or_init(std::time::Instant::now)
        .elapsed()
        .as_secs();
    slot.swap(second, Ordering::Relaxed) != second
}

/// Cluster bus messages dropped (the bus down or its queue full), and API
/// publishes answered 503 because the bus did not acknowledge them.
static BUS_DROPPED: AtomicU64 = AtomicU64::new(0);
static BUS_DROP_LOGGED: AtomicU64 = AtomicU64::new(u64::MAX);
static PUBLISH_UNACKED: AtomicU64 = AtomicU64::new(0);

/// Count one dropped bus message; says whether to log it (once a second).
pub(crate) fn bus_dropped() -> bool {
    BUS_DROPPED.fetch_add(1, Ordering::Relaxed);
    first_in_second(&BUS_DROP_LOGGED)
}

/// Bus messages this process dropped (bus down or queue full).
pub fn bus_drops() -> u64 {
    BUS_DROPPED.load(Ordering::Relaxed)
}

/// Count one API publish refused with 503 for want of the bus's acknowledgement.
pub(crate) fn publish_unacknowledged() {
    PUBLISH_UNACKED.fetch_add(1, Ordering::Relaxed);
}

fn bus_metrics(out: &mut String, prefix: &str, port: u16) {
    let dropped = BUS_DROPPED.load(Ordering::Relaxed);
    let unacked = PUBLISH_UNACKED.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP {prefix}bus_dropped_total Cluster bus messages dropped (bus down or queue full).\n\
         # TYPE {prefix}bus_dropped_total counter\n{prefix}bus_dropped_total{{port=\"{port}\"}} {dropped}\n\
         # HELP {prefix}publish_unacknowledged_total API publishes answered 503: the bus did not acknowledge them in time.\n\
         # TYPE {prefix}publish_unacknowledged_total counter\n{prefix}publish_unacknowledged_total{{port=\"{port}\"}} {unacked}"
    );
}

/// How many refusals of `reason` this process counted.
static BUS_RECEIVED: AtomicU64 = AtomicU64::new(0);

/// One message arrived from the cluster bus (any subject, this node's own included).
pub(crate) fn bus_received() {
    BUS_RECEIVED.fetch_add(1, Ordering::Relaxed);
}

pub fn refusals(reason: &str) -> u64 {
    let at = REFUSALS.iter().position(|r| *r == reason);
    at.map_or(0, |at| REFUSED[at].load(Ordering::Relaxed))
}

fn refusal_metrics(out: &mut String, prefix: &str, port: u16) {
    let name = format!("{prefix}refusals_total");
    let _ = writeln!(
        out,
        "# HELP {name} Connections, requests and subscriptions refused, by reason.\n# TYPE {name} counter"
    );
    for reason in REFUSALS {
        let n = refusals(reason);
        let _ = writeln!(out, "{name}{{reason=\"{reason}\",port=\"{port}\"}} {n}");
    }
}

/// Connections of this process's webhook queue (`queue_driver = "redis"`) that cannot reach Redis now.
static QUEUE_LINKS_DOWN: AtomicI64 = AtomicI64::new(0);
/// Webhook jobs this process took over from workers that stopped beating.
static QUEUE_CLAIMED: AtomicU64 = AtomicU64::new(0);

/// A webhook queue connection lost Redis (`true`) or got it back (`false`).
pub(crate) fn webhook_queue_link(down: bool) {
    QUEUE_LINKS_DOWN.fetch_add(if down { 1 } else { -1 }, Ordering::Relaxed);
}

pub(crate) fn webhook_jobs_claimed(jobs: usize) {
    QUEUE_CLAIMED.fetch_add(jobs as u64, Ordering::Relaxed);
}

fn queue_metrics(out: &mut String, prefix: &str, port: u16) {
    let down = QUEUE_LINKS_DOWN.load(Ordering::Relaxed);
    let claimed = QUEUE_CLAIMED.load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "# HELP {prefix}webhook_queue_links_down Webhook queue connections that cannot reach Redis.\n\
         # TYPE {prefix}webhook_queue_links_down gauge\n{prefix}webhook_queue_links_down{{port=\"{port}\"}} {down}\n\
         # HELP {prefix}webhook_jobs_claimed_total Webhook jobs taken over from workers that stopped.\n\
         # TYPE {prefix}webhook_jobs_claimed_total counter\n{prefix}webhook_jobs_claimed_total{{port=\"{port}\"}} {claimed}"
    );
}

type Table = Mutex<BTreeMap<(String, u16), Arc<AppMetrics>>>;

fn table() -> &'static Table {
    static TABLE: OnceLock<Table> = OnceLock::new();
    TABLE.get_or_init(Table::default)
}

/// The counters of `app_id` on the main port `port`.
pub(crate) fn app(app_id: &str, port: u16) -> Arc<AppMetrics> {
    let mut t = table().lock().unwrap_or_else(|e| e.into_inner());
    t.entry((app_id.to_string(), port)).or_default().clone()
}

/// The Prometheus text exposition of every app's counters and the process figures.
pub(crate) fn render(prefix: &str, port: u16) -> String {
    let apps: Vec<((String, u16), Arc<AppMetrics>)> = {
        let t = table().lock().unwrap_or_else(|e| e.into_inner());
        t.iter().map(|(k, v)| (k.clone(), v.clone())).collect()
    };
    let mut out = String::new();
    for (name, kind, help, read) in APP_METRICS {
        let _ = writeln!(
            out,
            "# HELP {prefix}{name} {help}\n# TYPE {prefix}{name} {kind}"
        );
        for ((app_id, app_port), m) in &apps {
            let _ = writeln!(
                out,
                "{prefix}{name}{{app_id=\"{}\",port=\"{app_port}\"}} {}",
                escape(app_id),
                read(m)
            );
        }
    }
    refusal_metrics(&mut out, prefix, port);
    queue_metrics(&mut out, prefix, port);
    bus_metrics(&mut out, prefix, port);
    process_metrics(&mut out, prefix, port);
    out
}

/// A label value with `\`, `"` and newlines escaped.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gauge_counts_only_admitted_sockets() {
        let m = app("metrics-unit-test", 1);
        let a = m.connection();
        let b = m.connection();
        drop(a);
        let text = render("t_", 1);
        assert!(
            text.contains("t_connected{app_id=\"metrics-unit-test\",port=\"1\"} 1"),
            "{text}"
        );
        drop(b);
        let text = render("t_", 1);
        assert!(text.contains("t_connected{app_id=\"metrics-unit-test\",port=\"1\"} 0"));
        assert!(
            text.contains("t_new_disconnections_total{app_id=\"metrics-unit-test\",port=\"1\"} 2")
        );
        assert!(text.contains("# TYPE t_new_connections_total counter"));
    }

    #[test]
    fn process_figures_come_from_proc() {
        assert!(resident_bytes().unwrap() > 0);
        let (user, system) = process::cpu_seconds().unwrap();
        assert!(user >= 0.0 && system >= 0.0);
        let usage: serde_json::Value = serde_json::from_str(&usage_json()).unwrap();
        assert!(usage["memory"]["used"].as_u64().unwrap() > 0);
        assert!(escape("a\"b\\") == "a\\\"b\\\\");
    }
}
