//! One herald node's shared state: configuration, adapter, socket ids and the
//! roster of open sockets (liveness sweep and drain). Handed to every
//! connection task and API request.

use crate::adapter::Adapter;
use crate::capacity::{self, Gate};
use crate::channel::registry::AppState;
use crate::channel::Registry;
use crate::config::Config;
use crate::roster::Roster;
use crate::socket::SocketId;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

pub struct Node {
    pub config: Config,
    pub adapter: Adapter,
    /// Random per-process part of socket ids, so ids differ across nodes and restarts.
    prefix: u32,
    next_socket: AtomicU64,
    /// Every open socket (liveness sweep, drain).
    pub roster: Arc<Roster>,
    /// Open main-port connections against the node's caps.
    pub gate: Arc<Gate>,
    /// False while a `mode = "worker"` node's webhook queue cannot read from Redis.
    pub queue_up: Arc<AtomicBool>,
}

impl Node {
    /// Build the node; with a Redis cluster configured this starts the adapter's
    /// background task, so it must run inside a tokio runtime.
    pub fn new(config: Config) -> Result<Arc<Node>, ::redis::RedisError> {
        let registry = Arc::new(Registry::new(config.apps.iter()));
        let prefix = random_prefix();
        let id = format!("{prefix}-{}", std::process::id());
        // The one place that names a backend.
        let adapter = match (&config.server.cluster, &config.server.nats) {
            (None, Some(nats)) => {
                let cache_ttl = config.server.cache_ttl;
                let bus =
                    crate::adapter::nats::Cluster::start(nats, cache_ttl, registry.clone(), &id);
                Adapter::clustered(registry, bus)
            }
            (None, None) => Adapter::local(registry),
            (Some(cluster), _) => {
                let bus = crate::adapter::redis::Cluster::start(cluster, registry.clone(), &id)?;
                Adapter::clustered(registry, bus)
            }
        };
        adapter.start_counts();
        let guard = &config.server.guard;
        let gate = Gate::new(
            capacity::descriptors(),
            guard.max_connections,
            guard.max_connections_per_ip,
        );
        Ok(Arc::new(Node {
            gate,
            config,
            adapter,
            prefix,
            next_socket: AtomicU64::new(1),
            roster: Arc::default(),
            queue_up: Arc::new(AtomicBool::new(true)),
        }))
    }

    /// Ready for traffic: not draining and, when clustered, connected to Redis
    /// (a worker: its queue too).
    pub fn is_ready(&self) -> bool {
        !self.is_draining() && self.adapter.healthy() && self.queue_up.load(Ordering::Acquire)
    }

    /// A unique socket key and its `\d+\.\d+` socket id.
    pub(crate) fn next_socket_id(&self) -> SocketId {
        SocketId::new(
            self.prefix,
            self.next_socket.fetch_add(1, Ordering::Relaxed),
        )
    }

    /// The state of the app with this id, if the app exists.
    pub fn app_by_id(&self, id: &str) -> Option<Arc<AppState>> {
        let app = self.config.apps.by_id(id)?;
        Some(self.adapter.app_for(&app))
    }

    /// The state of the app with this key, if the app exists.
    pub(crate) fn app_by_key(&self, key: &str) -> Option<Arc<AppState>> {
        let app = self.config.apps.by_key(key)?;
        Some(self.adapter.app_for(&app))
    }

    /// This node's name in the debug console: the first part of its socket ids.
    pub(crate) fn label(&self) -> String {
        self.prefix.to_string()
    }

    pub(crate) fn is_draining(&self) -> bool {
        self.roster.is_draining()
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
fn random_prefix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0),
    );
    (h.finish() % 1_000_000_000) as u32
}
