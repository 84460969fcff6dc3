//! Several nodes joined through a real `nats-server -js` started on a free port
//! with its own JetStream store directory. The shared scenarios run here in
//! `on_nats`; only what is NATS-specific is written in this file.

use crate::cluster::{member_removed_within, node, wait_listening, wait_ready, Bus, Killed};
use crate::support::*;
use crate::watchlist::{offline, online, watch_events};
use serde_json::json;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` with JetStream on a free port (and its monitoring endpoint
/// on another), killed on drop.
pub struct Nats {
    pub port: u16,
    monitor: u16,
    store: PathBuf,
    child: Option<Child>,
}

impl Nats {
    pub async fn start() -> Nats {
        let port = free_port();
        let store = std::env::temp_dir().join(format!("herald-nats-{port}-{}", std::process::id()));
        let mut n = Nats {
            port,
            monitor: free_port(),
            store,
            child: None,
        };
        n.restart(true).await;
        n
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again; `keep_store`: with the JetStream store as it was, else empty.
    pub async fn restart(&mut self, keep_store: bool) {
        self.stop();
        if !keep_store {
            let _ = std::fs::remove_dir_all(&self.store);
        }
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-m", &self.monitor.to_string()])
            .arg("-sd")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (make test installs it)");
        self.child = Some(child);
        wait_listening(self.port, "nats-server").await;
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

impl Bus for Nats {
    fn stop_keeping_data(&mut self) {
        Nats::stop(self)
    }
    async fn restart_with_data(&mut self) {
        Nats::restart(self, true).await
    }
    fn server_toml(&self) -> String {
        format!("adapter='nats'\nnats_servers=['{}']\n", self.server())
    }
    fn stop(&mut self) {
        Nats::stop(self)
    }
    async fn restart(&mut self) {
        Nats::restart(self, false).await
    }
    /// Connections with a subscription to exactly `subject`, from `/connz?subs=1`.
    fn listeners(&self, subject: &str) -> usize {
        let connz = self.monitoring("/connz?subs=1&limit=10000");
        let conns = connz["connections"].as_array().cloned().unwrap_or_default();
        conns
            .iter()
            .filter(|c| {
                let subs = c["subscriptions_list"].as_array();
                subs.is_some_and(|s| s.iter().any(|x| x == subject))
            })
            .count()
    }
    fn prefix_toml(&self, prefix: &str) -> String {
        format!("nats_prefix='{prefix}'\n")
    }
    /// Test names are plain subject tokens (no `=XX` escapes needed).
    fn channel_subject(&self, prefix: &str, app: &str, channel: &str) -> String {
        format!("{prefix}.c.{app}.{channel}")
    }
    fn node_subject(&self, prefix: &str) -> String {
        format!("{prefix}.a.>")
    }
    fn may_announce_after_the_list(&self) -> bool {
        false
    }
    async fn cut_off_link(&mut self) -> crate::partition::Link {
        crate::partition::Link::to_port(self.port, "adapter='nats'\nnats_servers=['{addr}']\n")
            .await
    }
    fn name(&self) -> &'static str {
        "nats"
    }
}

/// NATS-specific: the same server restarted with its JetStream store kept (the
/// plain [`Nats`] restarts empty, as Redis does without persistence).
pub struct KeptStore(Nats);

impl Bus for KeptStore {
    fn stop_keeping_data(&mut self) {
        self.0.stop()
    }
    async fn restart_with_data(&mut self) {
        self.0.restart(true).await
    }
    fn server_toml(&self) -> String {
        self.0.server_toml()
    }
    fn stop(&mut self) {
        self.0.stop()
    }
    async fn restart(&mut self) {
        self.0.restart(true).await
    }
    fn listeners(&self, subject: &str) -> usize {
        self.0.listeners(subject)
    }
    fn prefix_toml(&self, prefix: &str) -> String {
        self.0.prefix_toml(prefix)
    }
    fn may_announce_after_the_list(&self) -> bool {
        false
    }
    async fn cut_off_link(&mut self) -> crate::partition::Link {
        self.0.cut_off_link().await
    }
    fn name(&self) -> &'static str {
        "nats"
    }
}

impl Nats {
    /// A JSON answer of the monitoring endpoint (blocking, like `redis-cli`).
    fn monitoring(&self, path: &str) -> serde_json::Value {
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.monitor)).unwrap();
        write!(conn, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").unwrap();
        let mut text = String::new();
        conn.read_to_string(&mut text).unwrap();
        let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        serde_json::from_str(body).unwrap_or_else(|e| panic!("{path}: {e}: {text}"))
    }
}

/// A herald process configured only through Soketi's variables, as a Soketi user would.
fn soketi_command(nats: &Nats, prefix: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .env("SOKETI_PORT", port.to_string())
        .env("SOKETI_HOST", "127.0.0.1")
        .env("SOKETI_ADAPTER_DRIVER", "nats")
        .env(
            "SOKETI_ADAPTER_NATS_SERVERS",
            format!("[\"{}\"]", nats.server()),
        )
        .env("SOKETI_ADAPTER_NATS_PREFIX", prefix)
        .env("SOKETI_DEFAULT_APP_ID", APP_ID)
        .env("SOKETI_DEFAULT_APP_KEY", KEY)
        .env("SOKETI_DEFAULT_APP_SECRET", SECRET)
        .env("SOKETI_DEFAULT_APP_ENABLE_WATCHLIST_EVENTS", "true")
        .env("HERALD_LOG", "error")
        .stdout(Stdio::null());
    command
}

/// NATS-specific: a node started from Soketi's NATS variables alone joins the
/// cluster; killed with SIGKILL, its member is removed and its user goes offline
/// (`cluster::a_killed_node_has_its_members_removed` covers a TOML-configured node).
#[tokio::test]
async fn nats_a_killed_soketi_configured_node_has_its_members_removed() {
    let nats = Nats::start().await;
    let a = node(&nats, "n7", crate::watchlist::ON).await;
    let port = free_port();
    let mut child = Killed(soketi_command(&nats, "n7", port).spawn().unwrap());
    let b = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
    wait_ready(&b, true).await;
    let mut doomed = b.client().await;
    doomed.sign_in(r#"{"id":"d"}"#).await;
    doomed
        .subscribe_presence("presence-k", r#"{"user_id":"d"}"#)
        .await;
    let mut watcher = a.client().await;
    watcher.sign_in(r#"{"id":"w","watchlist":["d"]}"#).await;
    assert_eq!(watch_events(&mut watcher).await, online(&["d"]));
    let mut member = a.client().await;
    member
        .subscribe_presence("presence-k", r#"{"user_id":"w"}"#)
        .await;
    a.publish("presence-k", "hello", "1").await;
    assert_eq!(doomed.expect("hello").await["data"], "1");
    let t = Instant::now();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let removed = member_removed_within(&mut member, 12_000).await;
    assert_eq!(data(&removed), json!({"user_id":"d"}));
    assert_eq!(watch_events(&mut watcher).await, offline(&["d"]));
    let elapsed = t.elapsed();
    eprintln!("killed node cleaned up after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10));
    let users = format!("/apps/{APP_ID}/channels/presence-k/users");
    assert_eq!(
        a.api("GET", &users, &[], "").await.1["users"],
        json!([{"id":"w"}])
    );
}

/// The outage scenarios again with the JetStream store kept through the restart.
#[tokio::test]
async fn nats_restart_with_its_store_kept_is_loud_and_recovers_by_itself() {
    let mut kept = KeptStore(Nats::start().await);
    crate::cluster::redis_outage_is_loud_and_recovers_by_itself(&mut kept).await;
    crate::cluster::a_member_leaving_during_an_outage_is_announced_after(&mut kept).await;
}

/// Every shared scenario against one `nats-server -js`.
mod on_nats {
    use super::*;
    use crate::cluster::every_scenario;

    every_scenario!(Nats::start().await);
}
