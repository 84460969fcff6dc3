//! One herald node's shared state: configuration, adapter, socket ids and the
//! drain signal. Handed to every connection task and API request.

use crate::adapter::Adapter;
use crate::channel::registry::AppState;
use crate::channel::Registry;
use crate::config::Config;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::sync::Notify;

pub struct Node {
    pub config: Config,
    pub adapter: Adapter,
    /// Random per-process part of socket ids, so ids differ across nodes and restarts.
    prefix: u64,
    next_socket: AtomicU64,
    draining: AtomicBool,
    drain_notify: Notify,
}

impl Node {
    /// Build the node; with a Redis cluster configured this starts the adapter's
    /// background task, so it must run inside a tokio runtime.
    pub fn new(config: Config) -> Result<Arc<Node>, ::redis::RedisError> {
        let registry = Arc::new(Registry::new(config.apps.iter()));
        let prefix = random_prefix();
        let adapter = match &config.server.cluster {
            None => Adapter::Local(registry),
            Some(cluster) => {
                let id = format!("{prefix}-{}", std::process::id());
                Adapter::Redis(crate::adapter::redis::Cluster::start(
                    cluster, registry, &id,
                )?)
            }
        };
        Ok(Arc::new(Node {
            config,
            adapter,
            prefix,
            next_socket: AtomicU64::new(1),
            draining: AtomicBool::new(false),
            drain_notify: Notify::new(),
        }))
    }

    /// Ready for traffic: not draining and, when clustered, connected to Redis.
    pub fn is_ready(&self) -> bool {
        !self.is_draining() && self.adapter.healthy()
    }

    /// A unique socket key and its `\d+\.\d+` socket id.
    pub fn next_socket_id(&self) -> (u64, Arc<str>) {
        let key = self.next_socket.fetch_add(1, Ordering::Relaxed);
        (key, format!("{}.{}", self.prefix, key).into())
    }

    /// The state of the app with this id, if the app exists.
    pub fn app_by_id(&self, id: &str) -> Option<Arc<AppState>> {
        let app = self.config.apps.by_id(id)?;
        Some(self.adapter.app_for(&app))
    }

    /// The state of the app with this key, if the app exists.
    pub fn app_by_key(&self, key: &str) -> Option<Arc<AppState>> {
        let app = self.config.apps.by_key(key)?;
        Some(self.adapter.app_for(&app))
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::Acquire)
    }

    /// Start draining: new upgrades get 503 and every socket is told to reconnect.
    pub fn drain(&self) {
        self.draining.store(true, Ordering::Release);
        self.drain_notify.notify_waiters();
    }

    /// Resolves once draining starts (or at once if it has).
    pub async fn drained(&self) {
        let notified = self.drain_notify.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if !self.is_draining() {
            notified.await;
        }
    }

    /// Seconds since the Unix epoch.
    pub fn now_secs() -> u64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0)
    }
}

/// A random number from the OS-seeded hasher (no extra dependency).
fn random_prefix() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    h.finish() % 1_000_000_000
}
