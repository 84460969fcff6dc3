//! Configuration: raw input (TOML file, `SOKETI_*` environment, flags) turned into
//! one validated [`Config`] with apps indexed by id and by key. Pure: no I/O here
//! except what the caller passes in.

pub mod env;
pub mod origins;
pub mod proxies;
mod redact;
pub mod soketi_json;
pub use redact::url_without_password;
pub mod summary;
pub mod webhooks;

use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

/// Problems that stop the server from starting, each naming what is wrong.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {message}")]
    File { path: String, message: String },
    #[error("duplicate app {field} {value:?}")]
    Duplicate { field: &'static str, value: String },
    #[error("app {id:?}: {field} must not be empty")]
    Empty { id: String, field: &'static str },
    #[error("environment variable {name}: {message}")]
    Env { name: String, message: String },
    #[error("no apps configured")]
    NoApps,
    #[error("TLS needs both a certificate and a key: {missing} is not set")]
    TlsHalf { missing: &'static str },
    #[error("{0}")]
    Invalid(String),
}

/// Limits that apply per app; the server section gives their defaults.
#[derive(Debug, Clone, Deserialize, serde::Serialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    pub max_channel_name_length: usize,
    pub max_presence_members: usize,
    pub max_presence_member_size_kb: f64,
    pub max_event_payload_kb: f64,
    pub max_event_name_length: usize,
    pub max_event_channels_at_once: usize,
    pub max_event_batch_size: usize,
    /// Client events per second per socket; negative means unlimited.
    pub max_client_events_per_sec: i64,
    pub user_authentication_timeout_ms: u64,
    /// HTTP API events per second per app, one point per channel; negative means unlimited.
    pub max_backend_events_per_sec: i64,
    /// HTTP API channel queries (GET) per second per app; negative means unlimited.
    pub max_read_req_per_sec: i64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_channel_name_length: 200,
            max_presence_members: 100,
            max_presence_member_size_kb: 2.0,
            max_event_payload_kb: 100.0,
            max_event_name_length: 200,
            max_event_channels_at_once: 100,
            max_event_batch_size: 10,
            max_client_events_per_sec: 10,
            user_authentication_timeout_ms: 30_000,
            max_backend_events_per_sec: -1,
            max_read_req_per_sec: -1,
        }
    }
}

/// One application: credentials, switches and limits. Its `Debug` masks the secret.
#[derive(Clone, PartialEq)]
pub struct App {
    pub id: String,
    pub key: String,
    pub secret: String,
    pub enabled: bool,
    pub enable_client_messages: bool,
    pub enable_user_authentication: bool,
    /// `None` means unlimited.
    pub max_connections: Option<usize>,
    pub limits: Limits,
    pub webhooks: Vec<webhooks::Webhook>,
    /// Host globs a browser's `Origin` must match; empty means any origin.
    pub allowed_origins: Vec<String>,
}

/// Server-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    pub host: String,
    pub port: u16,
    pub debug: bool,
    pub activity_timeout: Duration,
    pub pong_timeout: Duration,
    /// An HTTP connection that sends no complete request head for this long is closed.
    pub http_idle_timeout: Duration,
    /// Threads serving connections, one runtime each (`threads = 0`: one per core).
    pub threads: usize,
    pub shutdown_grace_period: Duration,
    /// At shutdown, once the listener is closed, the 4200s are spread over this.
    pub reconnect_window: Duration,
    pub cache_ttl: Duration,
    pub timestamp_window: Duration,
    pub max_request_bytes: usize,
    pub max_message_bytes: usize,
    pub socket_queue: usize,
    pub cluster: Option<Cluster>,
    /// Prefix of every route on both listeners (`""` or `/something`).
    pub path_prefix: String,
    pub metrics: MetricsServer,
    pub webhooks: WebhookSettings,
    /// `/accept-traffic` answers 503 above this share of memory in use (percent).
    pub accept_traffic_memory_threshold: f64,
    /// Serve HTTPS and `wss://` on the main port; `None` is plain HTTP.
    pub tls: Option<Tls>,
    /// Apps come from this PostgreSQL table instead of the config.
    pub postgres: Option<Postgres>,
    /// Limits for apps that do not set their own (apps from a database).
    pub app_defaults: Limits,
    /// What strangers may hold of the node: deadlines and connection caps.
    pub guard: Guard,
}

/// Bounds on what one client (or all of them) may hold of a node.
#[derive(Debug, Clone, PartialEq)]
pub struct Guard {
    /// A whole HTTP request (head and body) must arrive within this, counted
    /// from its first byte, else 408 and close.
    pub request_timeout: Duration,
    /// A WebSocket frame that has started must be complete within this, else close 1008.
    pub frame_timeout: Duration,
    /// Open connections on the main port; `None`: the descriptor limit less a reserve.
    pub max_connections: Option<usize>,
    /// Open connections from one source address; `None`: unlimited.
    pub max_connections_per_ip: Option<usize>,
    /// Channels one socket may be subscribed to; `None`: unlimited.
    pub max_channels_per_connection: Option<usize>,
    /// Peers whose `X-Forwarded-For` names the client (per-address cap, logs).
    pub trusted_proxies: proxies::TrustedProxies,
}

/// The main port's certificate and key (PEM files), read by [`crate::tls`].
#[derive(Clone, PartialEq)]
pub struct Tls {
    /// Certificate chain, server certificate first.
    pub cert: String,
    /// Private key: PKCS#8, PKCS#1 (RSA) or SEC1 (EC); PKCS#8 may be encrypted.
    pub key: String,
    /// Decrypts an `ENCRYPTED PRIVATE KEY`.
    pub passphrase: Option<String>,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("passphrase", &self.passphrase.as_ref().map(|_| "****"))
            .finish()
    }
}

/// How webhooks are queued, batched and retried (the targets are per app).
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookSettings {
    /// `None`: one request per event; else events are collected for this long.
    pub batching: Option<Duration>,
    /// `channel_vacated` and `member_removed` wait this long and are dropped if
    /// the channel or member comes back meanwhile.
    pub vacate_delay: Duration,
    /// First retry delay; it doubles after every failure.
    pub retry_initial: Duration,
    /// Stop retrying a request once it is this old.
    pub retry_for: Duration,
    /// Events queued for sending at most; more are dropped and counted.
    pub queue: usize,
    /// Per-request timeout.
    pub timeout: Duration,
    /// PEM file of extra CA certificates trusted for `https://` webhooks, on top
    /// of the built-in Mozilla roots.
    pub ca_file: Option<String>,
}

/// The second listener: health, `/usage` and (when enabled) `/metrics`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricsServer {
    /// Serve `/metrics` (health and `/usage` are always served).
    pub enabled: bool,
    pub host: String,
    pub port: u16,
    /// Prefix of every metric name, Soketi's `soketi_` by default.
    pub prefix: String,
}

impl Server {
    /// The route below the configured path prefix, or `None` if the path is outside it.
    pub fn local_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        let rest = path.strip_prefix(self.path_prefix.as_str())?;
        if rest.is_empty() {
            Some("/")
        } else if rest.starts_with('/') {
            Some(rest)
        } else {
            None
        }
    }
}

/// `"api/"` or `"/api"` -> `"/api"`; empty stays empty.
fn normalize_prefix(prefix: &str) -> String {
    let trimmed = prefix.trim_matches('/');
    if trimmed.is_empty() {
        String::new()
    } else {
        format!("/{trimmed}")
    }
}

/// Redis adapter settings (`adapter = "redis"`). Its `Debug` masks the URL's password.
#[derive(Clone, PartialEq)]
pub struct Cluster {
    pub redis_url: String,
    /// Every Redis key and pub/sub channel starts with this.
    pub prefix: String,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub apps: Apps,
}

/// Apps indexed by id and by key, read without a lock (`arc-swap`).
/// Replaceable as a whole while serving, for apps that come from a database.
#[derive(Debug, Default)]
pub struct Apps {
    index: arc_swap::ArcSwap<AppIndex>,
}

#[derive(Debug, Default)]
struct AppIndex {
    by_id: HashMap<String, Arc<App>>,
    by_key: HashMap<String, Arc<App>>,
}

impl Clone for Apps {
    fn clone(&self) -> Apps {
        Apps {
            index: arc_swap::ArcSwap::new(self.index.load_full()),
        }
    }
}

impl Apps {
    pub fn new(apps: Vec<App>) -> Result<Apps, ConfigError> {
        let index = AppIndex::new(apps)?;
        if index.by_id.is_empty() {
            return Err(ConfigError::NoApps);
        }
        Ok(Apps {
            index: arc_swap::ArcSwap::from_pointee(index),
        })
    }

    /// Take a new list of apps (validated as at startup; it may be empty).
    /// Apps whose settings did not change keep their `Arc`.
    pub fn replace(&self, apps: Vec<App>) -> Result<(), ConfigError> {
        let mut fresh = AppIndex::new(apps)?;
        {
            let old = self.read();
            for (id, app) in fresh.by_id.iter_mut() {
                if let Some(same) = old.by_id.get(id).filter(|o| ***o == **app) {
                    *app = same.clone();
                }
            }
        }
        fresh.by_key = fresh
            .by_id
            .values()
            .map(|a| (a.key.clone(), a.clone()))
            .collect();
        self.index.store(Arc::new(fresh));
        Ok(())
    }

    fn read(&self) -> arc_swap::Guard<Arc<AppIndex>> {
        self.index.load()
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.read().by_id.get(id).cloned()
    }

    pub fn by_key(&self, key: &str) -> Option<Arc<App>> {
        self.read().by_key.get(key).cloned()
    }

    /// A snapshot of every app.
    pub fn iter(&self) -> std::vec::IntoIter<Arc<App>> {
        let all: Vec<Arc<App>> = self.read().by_id.values().cloned().collect();
        all.into_iter()
    }
}

impl AppIndex {
    fn new(apps: Vec<App>) -> Result<AppIndex, ConfigError> {
        let mut out = AppIndex::default();
        for app in apps {
            for (field, value) in [("id", &app.id), ("key", &app.key), ("secret", &app.secret)] {
                if value.is_empty() {
                    return Err(ConfigError::Empty {
                        id: app.id.clone(),
                        field,
                    });
                }
            }
            let app = Arc::new(app);
            if out.by_id.insert(app.id.clone(), app.clone()).is_some() {
                return Err(ConfigError::Duplicate {
                    field: "id",
                    value: app.id.clone(),
                });
            }
            if out.by_key.insert(app.key.clone(), app.clone()).is_some() {
                return Err(ConfigError::Duplicate {
                    field: "key",
                    value: app.key.clone(),
                });
            }
        }
        Ok(out)
    }
}

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
    pub cache_ttl: u64,
    pub timestamp_window: u64,
    pub max_request_size_kb: usize,
    pub max_message_size_kb: usize,
    pub socket_queue: usize,
    pub adapter: String,
    pub redis_url: String,
    pub redis_prefix: String,
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
    /// Where apps come from: `array` (this file) or `postgres`.
    pub app_manager: String,
    pub postgres_host: String,
    pub postgres_port: u16,
    pub postgres_user: String,
    pub postgres_password: String,
    pub postgres_database: String,
    pub postgres_table: String,
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
            cache_ttl: 1800,
            timestamp_window: 600,
            max_request_size_kb: 1024,
            max_message_size_kb: 100,
            socket_queue: 1024,
            adapter: "local".into(),
            redis_url: "redis://127.0.0.1:6379/0".into(),
            redis_prefix: "herald".into(),
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
            app_refresh_secs: 5,
            http_request_timeout: 15,
            ws_frame_timeout: 15,
            max_node_connections: 0,
            max_connections_per_ip: 0,
            max_channels_per_connection: 0,
            trusted_proxies: Vec::new(),
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
const LIMIT_KEYS: [&str; 11] = [
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
        let server = match root.remove("server") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(file_error("`server` must be a table".into())),
        };
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
        Ok(RawConfig { server, apps })
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

    /// Validate into the final configuration.
    pub fn build(mut self) -> Result<Config, ConfigError> {
        let mut server_table = self.server.clone();
        let limit_table = split_limits(&mut server_table);
        let s: RawServer = deserialize("[server]", server_table)?;
        let defaults = merge_limits("[server]", &Limits::default(), limit_table)?;
        let mut apps = Vec::new();
        for raw in self.apps_or_default().drain(..) {
            apps.push(build_app(raw, &defaults)?);
        }
        let tls = tls(&s)?;
        let postgres = postgres(&s)?;
        let from_db = postgres.is_some();
        let server = Server {
            host: s.host,
            port: s.port,
            debug: s.debug,
            activity_timeout: Duration::from_secs(s.activity_timeout.max(1)),
            pong_timeout: Duration::from_secs(s.pong_timeout.max(1)),
            http_idle_timeout: Duration::from_secs(s.http_idle_timeout.max(1)),
            threads: match s.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            shutdown_grace_period: Duration::from_millis(s.shutdown_grace_period_ms),
            reconnect_window: Duration::from_millis(s.shutdown_reconnect_window_ms),
            cache_ttl: Duration::from_secs(s.cache_ttl),
            timestamp_window: Duration::from_secs(s.timestamp_window),
            max_request_bytes: s.max_request_size_kb.max(1).saturating_mul(1024),
            max_message_bytes: s.max_message_size_kb.max(1).saturating_mul(1024),
            socket_queue: s.socket_queue.max(1),
            cluster: cluster(&s.adapter, &s.redis_url, &s.redis_prefix)?,
            path_prefix: normalize_prefix(&s.path_prefix),
            metrics: MetricsServer {
                enabled: s.metrics_enabled,
                host: s.metrics_host,
                port: s.metrics_port,
                prefix: s.metrics_prefix,
            },
            webhooks: WebhookSettings {
                batching: s
                    .webhook_batching
                    .then(|| Duration::from_millis(s.webhook_batching_ms.max(1))),
                vacate_delay: Duration::from_millis(s.webhook_vacate_delay_ms),
                retry_initial: Duration::from_millis(s.webhook_retry_initial_ms.max(1)),
                retry_for: Duration::from_secs(s.webhook_retry_for_secs),
                queue: s.webhook_queue.max(1),
                timeout: Duration::from_millis(s.webhook_timeout_ms.max(1)),
                ca_file: non_empty(&s.webhook_ca_file),
            },
            accept_traffic_memory_threshold: s.accept_traffic_memory_threshold,
            tls,
            postgres,
            app_defaults: defaults,
            guard: Guard {
                request_timeout: Duration::from_secs(s.http_request_timeout.max(1)),
                frame_timeout: Duration::from_secs(s.ws_frame_timeout.max(1)),
                max_connections: (s.max_node_connections > 0).then_some(s.max_node_connections),
                max_connections_per_ip: (s.max_connections_per_ip > 0)
                    .then_some(s.max_connections_per_ip),
                max_channels_per_connection: (s.max_channels_per_connection > 0)
                    .then_some(s.max_channels_per_connection),
                trusted_proxies: proxies::TrustedProxies::parse(&s.trusted_proxies)?,
            },
        };
        // Apps from a database are loaded before serving (see `crate::postgres`).
        let apps = if from_db {
            Apps::default()
        } else {
            Apps::new(apps)?
        };
        Ok(Config { server, apps })
    }
}

/// Where the apps table is and how often it is read again. Its `Debug` masks the password.
#[derive(Clone, PartialEq)]
pub struct Postgres {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    pub table: String,
    pub refresh: Duration,
}

fn postgres(s: &RawServer) -> Result<Option<Postgres>, ConfigError> {
    match s.app_manager.as_str() {
        "array" | "" => return Ok(None),
        "postgres" => {}
        other => {
            return Err(ConfigError::Invalid(format!(
                "app manager {other:?} is not available: use \"postgres\" or list the apps in a config file"
            )))
        }
    }
    let identifier = |t: &str| {
        !t.is_empty()
            && t.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
    };
    if !identifier(&s.postgres_table) {
        return Err(ConfigError::Invalid(format!(
            "postgres table {:?} is not a plain table name",
            s.postgres_table
        )));
    }
    let refresh = if s.app_refresh_secs > 0 {
        s.app_refresh_secs
    } else {
        5
    };
    Ok(Some(Postgres {
        host: s.postgres_host.clone(),
        port: s.postgres_port,
        user: s.postgres_user.clone(),
        password: s.postgres_password.clone(),
        database: s.postgres_database.clone(),
        table: s.postgres_table.clone(),
        refresh: Duration::from_secs(refresh as u64),
    }))
}

/// An app from a row of Soketi's apps table (as a JSON object of its columns).
pub fn app_from_row(
    row: serde_json::Map<String, serde_json::Value>,
    defaults: &Limits,
) -> Result<App, String> {
    let mut warnings = Vec::new();
    let table = soketi_json::app_row(row, &mut warnings)?;
    build_app(table, defaults).map_err(|e| e.to_string())
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// Like Soketi, a certificate or a key turns TLS on; it then needs both.
fn tls(s: &RawServer) -> Result<Option<Tls>, ConfigError> {
    match (non_empty(&s.tls_cert), non_empty(&s.tls_key)) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(Tls {
            cert,
            key,
            passphrase: non_empty(&s.tls_passphrase),
        })),
        (None, Some(_)) => Err(ConfigError::TlsHalf {
            missing: "the certificate (tls_cert, SOKETI_SSL_CERT)",
        }),
        (Some(_), None) => Err(ConfigError::TlsHalf {
            missing: "the key (tls_key, SOKETI_SSL_KEY)",
        }),
    }
}

fn cluster(adapter: &str, url: &str, prefix: &str) -> Result<Option<Cluster>, ConfigError> {
    match adapter {
        "local" => Ok(None),
        "redis" => Ok(Some(Cluster {
            redis_url: url.to_string(),
            prefix: prefix.to_string(),
        })),
        other => Err(ConfigError::File {
            path: "[server]".into(),
            message: format!("adapter must be \"local\" or \"redis\", not {other:?}"),
        }),
    }
}

fn deserialize<T: serde::de::DeserializeOwned>(
    what: &str,
    table: toml::Table,
) -> Result<T, ConfigError> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| ConfigError::File {
            path: what.into(),
            message: e.message().to_string(),
        })
}

fn split_limits(table: &mut toml::Table) -> toml::Table {
    LIMIT_KEYS
        .iter()
        .filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v)))
        .collect()
}

fn build_app(mut table: toml::Table, defaults: &Limits) -> Result<App, ConfigError> {
    let limit_table = split_limits(&mut table);
    let what = format!(
        "app {}",
        table.get("id").map(|v| v.to_string()).unwrap_or_default()
    );
    let raw: RawApp = deserialize(&what, table)?;
    let limits = merge_limits(&what, defaults, limit_table)?;
    let webhooks = raw
        .webhooks
        .into_iter()
        .map(|w| w.build(&raw.id))
        .collect::<Result<_, _>>()?;
    Ok(App {
        id: raw.id,
        key: raw.key,
        secret: raw.secret,
        enabled: raw.enabled,
        enable_client_messages: raw.enable_client_messages,
        enable_user_authentication: raw.enable_user_authentication,
        max_connections: usize::try_from(raw.max_connections).ok(),
        limits,
        webhooks,
        allowed_origins: raw.allowed_origins,
    })
}

/// Overlay limit keys on a base set of limits.
fn merge_limits(what: &str, base: &Limits, overrides: toml::Table) -> Result<Limits, ConfigError> {
    let mut table = toml::Table::try_from(base).expect("limits serialize to a table");
    table.extend(overrides);
    deserialize(what, table)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_default_app() {
        let cfg = RawConfig::parse_toml("x", "").unwrap().build().unwrap();
        let app = cfg.apps.by_key("app-key").unwrap();
        assert_eq!(app.id, "app-id");
        assert_eq!(app.secret, "app-secret");
        assert!(!app.enable_client_messages);
        assert_eq!(cfg.server.port, 6001);
    }

    /// Found with the `config_toml` fuzz target: sizes in KB times 1024 overflowed
    /// (a panic with overflow checks, a wrapped and much smaller limit without).
    #[test]
    fn huge_size_limits_saturate() {
        let text = "[server]\nmax_request_size_kb = 9223372036854775807\nmax_message_size_kb = 18014398509481985\n";
        let cfg = RawConfig::parse_toml("x", text).unwrap().build().unwrap();
        assert_eq!(cfg.server.max_request_bytes, usize::MAX);
        assert_eq!(cfg.server.max_message_bytes, usize::MAX);
    }

    #[test]
    fn per_app_limits_override_server_defaults() {
        let text = r#"
            [server]
            max_presence_members = 5
            [[apps]]
            id = "1"
            key = "k"
            secret = "s"
            max_client_events_per_sec = 3
        "#;
        let cfg = RawConfig::parse_toml("x", text).unwrap().build().unwrap();
        let app = cfg.apps.by_id("1").unwrap();
        assert_eq!(app.limits.max_presence_members, 5);
        assert_eq!(app.limits.max_client_events_per_sec, 3);
        assert_eq!(app.max_connections, None);
    }

    #[test]
    fn duplicate_key_and_empty_secret_are_errors() {
        let dup = "[[apps]]\nid='1'\nkey='k'\nsecret='s'\n[[apps]]\nid='2'\nkey='k'\nsecret='s'\n";
        let err = RawConfig::parse_toml("x", dup)
            .unwrap()
            .build()
            .unwrap_err();
        assert_eq!(err.to_string(), "duplicate app key \"k\"");
        let empty = "[[apps]]\nid='1'\nkey='k'\nsecret=''\n";
        let err = RawConfig::parse_toml("x", empty)
            .unwrap()
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("secret must not be empty"));
    }

    #[test]
    fn tls_needs_cert_and_key() {
        let build = |lines: &str| RawConfig::parse_toml("x", lines).unwrap().build();
        assert_eq!(build("").unwrap().server.tls, None);
        let tls = build("[server]\ntls_cert='c.pem'\ntls_key='k.pem'\ntls_passphrase='pw'\n")
            .unwrap()
            .server
            .tls
            .unwrap();
        assert_eq!((tls.cert.as_str(), tls.key.as_str()), ("c.pem", "k.pem"));
        assert_eq!(tls.passphrase.as_deref(), Some("pw"));
        assert!(!format!("{tls:?}").contains("pw"));
        let err = build("[server]\ntls_cert='c.pem'\n").unwrap_err();
        assert!(err.to_string().contains("SOKETI_SSL_KEY"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(RawConfig::parse_toml("x", "[server]\nprot = 1\n")
            .unwrap()
            .build()
            .is_err());
        assert!(RawConfig::parse_toml("x", "[sever]\n").is_err());
        let bad = "[[apps]]\nid='1'\nkey='k'\nsecret='s'\nmax_foo=1\n";
        assert!(RawConfig::parse_toml("x", bad).unwrap().build().is_err());
    }
}
