//! The configuration as written: the `[server]` and `[[apps]]` tables of a
//! TOML file, with environment variables and flags layered on top before
//! anything is validated ([`RawConfig::build`]).

use super::{webhooks, ConfigError, Scope, Source, Sources};
use serde::Deserialize;

/// The `[server]` table as written in the file (no `Debug`: it holds passwords).
#[derive(Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RawServer {
    pub host: String,
    pub port: u16,
    pub debug: bool,
    pub activity_timeout: u64,
    pub pong_timeout: u64,
    pub http_idle_timeout: u64,
    pub threads: usize,
    pub shutdown_grace_period_ms: u64,
    pub shutdown_reconnect_window_ms: u64,
    pub http_fallback: bool,
    pub http_fallback_idle_timeout_ms: u64,
    pub cache_ttl: u64,
    pub timestamp_window: u64,
    pub max_request_size_kb: usize,
    pub max_message_size_kb: usize,
    pub socket_queue: usize,
    pub adapter: String,
    pub redis_url: String,
    pub redis_prefix: String,
    /// Seed nodes of a Redis Cluster (`redis://host:port` or `host:port`); empty: one Redis.
    pub redis_cluster_nodes: Vec<String>,
    pub path_prefix: String,
    pub metrics_enabled: bool,
    pub metrics_host: String,
    pub metrics_port: u16,
    pub metrics_prefix: String,
    pub webhook_batching: bool,
    pub webhook_batching_ms: u64,
    pub webhook_vacate_delay_ms: u64,
    pub webhook_retry_initial_ms: u64,
    pub webhook_retry_for_secs: u64,
    pub webhook_queue: usize,
    pub webhook_timeout_ms: u64,
    pub accept_traffic_memory_threshold: f64,
    pub tls_cert: String,
    pub tls_key: String,
    pub tls_passphrase: String,
    /// Where apps come from: `array` (this file), `postgres` or `mysql`.
    pub app_manager: String,
    pub postgres_host: String,
    pub postgres_port: u16,
    pub postgres_user: String,
    pub postgres_password: String,
    pub postgres_database: String,
    pub postgres_table: String,
    pub mysql_host: String,
    pub mysql_port: u16,
    pub mysql_user: String,
    pub mysql_password: String,
    pub mysql_database: String,
    pub mysql_table: String,
    /// Seconds between two reads of the apps table (0 or less: 5).
    pub app_refresh_secs: i64,
    pub webhook_ca_file: String,
    pub http_request_timeout: u64,
    pub ws_frame_timeout: u64,
    /// 0: the descriptor limit less a reserve.
    pub max_node_connections: usize,
    /// 0: unlimited.
    pub max_connections_per_ip: usize,
    /// 0: unlimited.
    pub max_channels_per_connection: usize,
    /// Addresses or CIDR blocks whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Vec<String>,
    /// The debug console (`[console]` in a file; see `config::console`).
    pub console_enabled: bool,
    pub console_token: String,
    pub console_queue: usize,
    /// `full`, `server` (sockets and API, no queue jobs) or `worker` (queue jobs only).
    pub mode: String,
    /// Where webhook jobs wait: `sync` (this node's memory) or `redis`.
    pub queue_driver: String,
    /// NATS adapter (`adapter = "nats"`): `host:port` servers, tried in turn.
    pub nats_servers: Vec<String>,
    pub nats_user: String,
    pub nats_password: String,
    pub nats_token: String,
    /// Connect timeout, milliseconds.
    pub nats_timeout_ms: u64,
    /// Every NATS subject and JetStream bucket starts with this.
    pub nats_prefix: String,
}

impl Default for RawServer {
    fn default() -> Self {
        RawServer {
            host: "0.0.0.0".into(),
            port: 6001,
            debug: false,
            activity_timeout: 30,
            pong_timeout: 30,
            http_idle_timeout: 60,
            threads: 0,
            shutdown_grace_period_ms: 3000,
            shutdown_reconnect_window_ms: 1000,
            http_fallback: true,
            http_fallback_idle_timeout_ms: 10_000,
            cache_ttl: 1800,
            timestamp_window: 600,
            max_request_size_kb: 1024,
            max_message_size_kb: 100,
            socket_queue: 1024,
            adapter: "local".into(),
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_prefix: "herald".into(),
            redis_cluster_nodes: Vec::new(),
            path_prefix: String::new(),
            metrics_enabled: false,
            metrics_host: "0.0.0.0".into(),
            metrics_port: 9601,
            metrics_prefix: "soketi_".into(),
            webhook_batching: false,
            webhook_batching_ms: 50,
            webhook_vacate_delay_ms: 3000,
            webhook_retry_initial_ms: 1000,
            webhook_retry_for_secs: 300,
            webhook_queue: 10_000,
            webhook_timeout_ms: 10_000,
            accept_traffic_memory_threshold: 85.0,
            tls_cert: String::new(),
            tls_key: String::new(),
            tls_passphrase: String::new(),
            webhook_ca_file: String::new(),
            app_manager: "array".into(),
            postgres_host: "127.0.0.1".into(),
            postgres_port: 5432,
            postgres_user: "postgres".into(),
            postgres_password: "password".into(),
            postgres_database: "main".into(),
            postgres_table: "apps".into(),
            mysql_host: "127.0.0.1".into(),
            mysql_port: 3306,
            mysql_user: "root".into(),
            mysql_password: "password".into(),
            mysql_database: "main".into(),
            mysql_table: "apps".into(),
            app_refresh_secs: 5,
            http_request_timeout: 15,
            ws_frame_timeout: 15,
            max_node_connections: 0,
            max_connections_per_ip: 0,
            max_channels_per_connection: 0,
            trusted_proxies: Vec::new(),
            console_enabled: false,
            console_token: String::new(),
            console_queue: super::console::DEFAULT_QUEUE,
            mode: "full".into(),
            queue_driver: "sync".into(),
            nats_servers: vec!["127.0.0.1:4222".into()],
            nats_user: String::new(),
            nats_password: String::new(),
            nats_token: String::new(),
            nats_timeout_ms: 10_000,
            nats_prefix: "herald".into(),
        }
    }
}

/// An `[[apps]]` entry as written; unset limits fall back to the server's (no
/// `Debug`: it holds the secret).
#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawApp {
    pub id: String,
    pub key: String,
    pub secret: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub enable_client_messages: bool,
    #[serde(default)]
    pub enable_user_authentication: bool,
    #[serde(default)]
    pub enable_subscription_count: bool,
    #[serde(default)]
    pub enable_watchlist_events: bool,
    #[serde(default = "unlimited")]
    pub max_connections: i64,
    #[serde(default)]
    pub webhooks: Vec<webhooks::RawWebhook>,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
}

fn yes() -> bool {
    true
}

fn unlimited() -> i64 {
    -1
}

/// Keys that may appear in `[server]` (as defaults) and in `[[apps]]` (as overrides).
pub(super) const LIMIT_KEYS: [&str; 11] = [
    "max_channel_name_length",
    "max_presence_members",
    "max_presence_member_size_kb",
    "max_event_payload_kb",
    "max_event_name_length",
    "max_event_channels_at_once",
    "max_event_batch_size",
    "max_client_events_per_sec",
    "user_authentication_timeout_ms",
    "max_backend_events_per_sec",
    "max_read_req_per_sec",
];

/// The whole file, kept as TOML tables so that environment variables can be
/// layered on top before anything is validated (no `Debug`: it holds secrets).
#[derive(Clone, Default)]
pub struct RawConfig {
    pub server: toml::Table,
    pub apps: Vec<toml::Table>,
    /// Where each key was written, for errors.
    pub sources: Sources,
}

impl RawConfig {
    pub fn parse_toml(path: &str, text: &str) -> Result<RawConfig, ConfigError> {
        let file_error = |message: String| ConfigError::File {
            path: path.into(),
            message,
        };
        let mut root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_error(e.message().to_string()))?;
        let mut server = match root.remove("server") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(file_error("`server` must be a table".into())),
        };
        super::console::fold(&mut root, &mut server).map_err(file_error)?;
        let apps = match root.remove("apps") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::Table(t) => Ok(t),
                    _ => Err(file_error("each `[[apps]]` entry must be a table".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(file_error("`apps` must be an array of tables".into())),
        };
        if let Some(key) = root.keys().next() {
            return Err(file_error(format!("unknown section `{key}`")));
        }
        let mut sources = Sources::default();
        sources.record_file(path, Scope::Server, &server);
        for (i, app) in apps.iter().enumerate() {
            sources.record_file(path, Scope::App(i), app);
        }
        Ok(RawConfig {
            server,
            apps,
            sources,
        })
    }

    /// Set one key of `[server]`, noting where it came from.
    pub fn set_server(&mut self, key: &str, value: toml::Value, source: Source) {
        self.server.insert(key.to_string(), value);
        self.sources.record(Scope::Server, key, source);
    }

    /// Set one key of the first app (the default app when none is listed), as
    /// `SOKETI_DEFAULT_APP_*` do, noting where it came from.
    pub fn set_first_app(&mut self, key: &str, value: toml::Value, source: Source) {
        self.apps_or_default()[0].insert(key.to_string(), value);
        self.sources.record(Scope::App(0), key, source);
    }

    /// The default app, as Soketi ships it.
    pub fn default_app() -> toml::Table {
        let mut t = toml::Table::new();
        t.insert("id".into(), "app-id".into());
        t.insert("key".into(), "app-key".into());
        t.insert("secret".into(), "app-secret".into());
        t
    }

    /// The apps, or the default app when none are listed.
    pub fn apps_or_default(&mut self) -> &mut Vec<toml::Table> {
        if self.apps.is_empty() {
            self.apps.push(RawConfig::default_app());
        }
        &mut self.apps
    }
}
