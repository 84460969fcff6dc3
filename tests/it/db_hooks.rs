//! Webhooks follow the apps table (PostgreSQL, MariaDB): a row's secret rotated
//! and its webhooks changed while serving take effect within the refresh, for
//! new events and for requests made before the change alike (Pusher signs a
//! webhook with the app's secret when it sends it). Real receivers check the
//! signatures.

use crate::cluster::Killed;
use crate::db::wait_listening;
use crate::support::*;
use crate::webhooks::{Hit, Receiver};
use herald::auth;
use serde_json::json;
use std::net::SocketAddr;
use std::process::{Command, Stdio};

pub const OLD_SECRET: &str = "old-secret";
pub const NEW_SECRET: &str = "new-secret";

/// The three webhooks of the app: kept (failing at first, so its first
/// request is still being retried when the row changes), removed and added.
pub struct HookCase {
    kept: Receiver,
    removed: Receiver,
    added: Receiver,
}

/// A webhook for `channel_occupied` on channels starting with `prefix`.
fn hook(url: String, prefix: &str) -> serde_json::Value {
    json!({"url": url, "event_types": ["channel_occupied"],
           "filter": {"channel_name_starts_with": prefix}})
}

impl HookCase {
    pub async fn new() -> HookCase {
        HookCase {
            kept: Receiver::start(usize::MAX).await,
            removed: Receiver::start(0).await,
            added: Receiver::start(0).await,
        }
    }

    /// The row's `webhooks` before the change: kept and removed.
    pub fn before(&self) -> String {
        json!([
            hook(self.kept.url("/kept"), "queued"),
            hook(self.removed.url("/removed"), "")
        ])
        .to_string()
    }

    /// After: kept (the same) and added, which hears of `after-*` channels only.
    pub fn after(&self) -> String {
        json!([
            hook(self.kept.url("/kept"), "queued"),
            hook(self.added.url("/added"), "after")
        ])
        .to_string()
    }

    /// Drive the app (key [`KEY`], secret [`OLD_SECRET`] and [`HookCase::before`]
    /// at first); `change` sets [`NEW_SECRET`] and [`HookCase::after`] in its row.
    pub async fn check(mut self, server: &Server, change: impl FnOnce()) {
        let mut c = server.client().await;
        c.subscribe("queued-1").await;
        let hit = self.removed.next_within(5).await;
        assert_eq!(signed_by(&hit), OLD_SECRET);
        let hit = self.kept.next_within(5).await;
        assert!(hit.failed && signed_by(&hit) == OLD_SECRET);
        change();
        // Within the refresh (1 s), the new webhook hears of events, signed anew.
        let mut n = 0;
        let first = loop {
            n += 1;
            assert!(n <= 40, "the added webhook was never called");
            c.subscribe(&format!("after-{n}")).await;
            if let Some(hit) = self.added.try_next(200).await {
                break hit;
            }
        };
        assert_eq!(signed_by(&first), NEW_SECRET);
        // The removed one hears of nothing from now on.
        c.subscribe("after-last").await;
        let hit = self.added.next_within(5).await;
        assert_eq!(channel(&hit), "after-last");
        while let Some(hit) = self.removed.try_next(1000).await {
            assert_ne!(channel(&hit), "after-last", "a removed webhook was called");
        }
        // The request made before the change is signed with the new secret once it goes through.
        self.kept.heal();
        let delivered = loop {
            let hit = self.kept.next_within(10).await;
            if !hit.failed {
                break hit;
            }
        };
        assert_eq!(channel(&delivered), "queued-1");
        assert_eq!(signed_by(&delivered), NEW_SECRET);
        assert_eq!(delivered.headers["x-pusher-key"], KEY);
    }
}

fn channel(hit: &Hit) -> String {
    hit.json["events"][0]["channel"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Which of the two secrets signed the hit.
fn signed_by(hit: &Hit) -> &'static str {
    let signature = &hit.headers["x-pusher-signature"];
    [OLD_SECRET, NEW_SECRET]
        .into_iter()
        .find(|s| auth::sign(s, &hit.body) == *signature)
        .unwrap_or("neither secret")
}

/// herald with `vars` (as [`crate::db::herald_with`]) and a config file of `toml`,
/// listening: quick webhook retries, and the Redis queue when `toml` says so.
/// Killed when dropped, also when an assertion fails first.
pub async fn herald_with_file(vars: &[(&str, String)], toml: &str) -> (Killed, Server) {
    let port = free_port();
    let path = std::env::temp_dir().join(format!("herald-db-hooks-{port}.toml"));
    let text = format!("[server]\nwebhook_retry_initial_ms = 200\n{toml}\n");
    std::fs::write(&path, text).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", path.to_str().unwrap()])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HERALD_LOG", "warn")
        .env("SOKETI_PORT", port.to_string())
        .env("SOKETI_HOST", "127.0.0.1")
        .env("SOKETI_METRICS_ENABLED", "false")
        .env("SOKETI_APP_MANAGER_CACHE_TTL", "1")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    (Killed(child), Server::external(addr))
}
