//! Configuration: raw input (TOML file, Soketi JSON, `SOKETI_*` / `HERALD_*`
//! environment, flags) turned into one validated [`Config`] with apps indexed by
//! id and by key. Every setting is one row of [`settings`]. Pure: no I/O here
//! except what the caller passes in.

mod apps;
mod build;
pub mod console;
pub mod env;
pub mod proxies;
mod raw;
mod redact;
pub mod settings;
pub mod soketi_json;
pub mod source;
pub mod summary;
pub mod webhooks;

pub use apps::Apps;
pub use build::app_from_row;
pub use console::Console;
pub use raw::RawConfig;
pub use redact::{mask, url_without_password, MASK};
pub use settings::{Limits, RawApp, RawServer};
pub use source::{Scope, Source, Sources};

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
    #[error("no apps configured")]
    NoApps,
    /// A bad value, by the key that holds it (before [`Sources::locate`] names its source).
    #[error("{scope}{}: {message}", spaced(.key))]
    Key {
        scope: Scope,
        key: String,
        message: String,
    },
    /// A bad value, by where it was written.
    #[error("{origin}: {message}")]
    Setting { origin: Source, message: String },
    #[error("{0}")]
    Invalid(String),
}

/// `" key"`, or nothing for the table itself.
fn spaced(key: &str) -> String {
    format!("{}{key}", if key.is_empty() { "" } else { " " })
}

impl ConfigError {
    /// An error about `key` of the `[server]` table.
    pub fn server_key(key: &str, message: impl Into<String>) -> ConfigError {
        ConfigError::key(Scope::Server, key, message)
    }

    /// An error about `key` of a table (`""`: the table itself).
    #[rustfmt::skip]
    fn key(scope: Scope, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Key { scope, key: key.into(), message: message.into() }
    }

    /// The same error, about the `index`-th app.
    #[rustfmt::skip]
    fn in_app(mut self, index: usize) -> ConfigError {
        if let ConfigError::Key { scope: s @ Scope::App(_), .. } = &mut self {
            *s = Scope::App(index);
        }
        self
    }
}

/// One application: credentials, switches and limits. Its `Debug` masks the secret.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    /// The app as written: credentials, switches and `allowed_origins` are read
    /// here (its `webhooks` are taken: see [`App::webhooks`]).
    pub raw: RawApp,
    /// `None` means unlimited.
    pub max_connections: Option<usize>,
    pub limits: Limits,
    pub webhooks: Vec<webhooks::Webhook>,
}

/// Server-wide settings.
#[derive(Debug, Clone, PartialEq)]
pub struct Server {
    /// The `[server]` values as written (defaults included): settings used as
    /// they are (`host`, `port`, `debug`, `http_fallback`, `metrics_*`, ...) are read here.
    pub raw: RawServer,
    pub activity_timeout: Duration,
    pub pong_timeout: Duration,
    /// An HTTP connection that sends no complete request head for this long is closed.
    pub http_idle_timeout: Duration,
    /// Threads serving connections, one runtime each (`threads = 0`: one per core).
    pub threads: usize,
    pub shutdown_grace_period: Duration,
    /// At shutdown, once the listener is closed, the 4200s are spread over this.
    pub reconnect_window: Duration,
    /// A fallback session without a receiving request this long is closed.
    pub http_fallback_idle_timeout: Duration,
    pub cache_ttl: Duration,
    pub timestamp_window: Duration,
    pub max_request_bytes: usize,
    pub max_message_bytes: usize,
    pub socket_queue: usize,
    pub cluster: Option<Cluster>,
    /// NATS adapter settings (`adapter = "nats"`).
    pub nats: Option<Nats>,
    /// Prefix of every route on both listeners (`""` or `/something`).
    pub path_prefix: String,
    pub webhooks: WebhookSettings,
    /// Serve HTTPS and `wss://` on the main port; `None` is plain HTTP.
    pub tls: Option<Tls>,
    /// Apps come from this SQL table (Soketi's `postgres` or `mysql` app manager)
    /// instead of the config.
    pub app_table: Option<AppTable>,
    /// Limits for apps that do not set their own (apps from a database).
    pub app_defaults: Limits,
    /// What strangers may hold of the node: deadlines and connection caps.
    pub guard: Guard,
    /// The debug console on the metrics port.
    pub console: Console,
    /// What this node runs: sockets and API, webhook queue jobs, or both.
    pub mode: Mode,
}

/// Soketi's `SOKETI_MODE`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Sockets, the HTTP API and webhook queue jobs.
    Full,
    /// Sockets and the HTTP API; queue jobs are left to workers.
    Server,
    /// Queue jobs only: the main port answers `/` and `/ready`, nothing else.
    Worker,
}

impl Mode {
    /// Serves WebSockets and the HTTP API.
    pub fn serves_clients(self) -> bool {
        self != Mode::Worker
    }

    /// Takes webhook jobs from a Redis queue.
    pub fn processes_queue(self) -> bool {
        self != Mode::Server
    }

    pub fn name(self) -> &'static str {
        match self {
            Mode::Full => "full",
            Mode::Server => "server",
            Mode::Worker => "worker",
        }
    }
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
    /// `None`: jobs wait in this node's memory (`sync`); else in Redis.
    pub redis_queue: Option<RedisQueue>,
    /// With `queue_driver = "sqs"`: jobs wait in this SQS queue.
    pub sqs_queue: Option<SqsQueue>,
}

/// The SQS webhook queue (`queue_driver = "sqs"`, Soketi's `SOKETI_QUEUE_SQS_*`).
#[derive(Debug, Clone, PartialEq)]
pub struct SqsQueue {
    /// The queue's URL (a `.fifo` queue gets Soketi's group and deduplication ids).
    pub url: String,
    pub region: String,
    /// Where requests go; `None`: the queue URL's scheme and host.
    pub endpoint: Option<String>,
    /// Messages asked for per receive (1 to 10; `sqs_process_batch` off: 1).
    pub batch_size: usize,
    /// Pause after an empty receive (Soketi's polling wait).
    pub polling_wait: Duration,
}

impl Server {
    /// The route below the configured path prefix, or `None` if the path is outside it.
    pub fn local_path<'a>(&self, path: &'a str) -> Option<&'a str> {
        match path.strip_prefix(self.path_prefix.as_str())? {
            "" => Some("/"),
            rest => rest.starts_with('/').then_some(rest),
        }
    }
}

/// `"api/"` or `"/api"` -> `"/api"`; empty stays empty.
fn normalize_prefix(prefix: &str) -> String {
    match prefix.trim_matches('/') {
        "" => String::new(),
        trimmed => format!("/{trimmed}"),
    }
}

/// A Redis link: the adapter's (`adapter = "redis"`) and the webhook queue's
/// (`queue_driver = "redis"`: the adapter's URL or seeds and prefix, whichever
/// adapter is chosen). Its `Debug` masks the URLs' passwords.
#[derive(Clone, PartialEq)]
pub struct Redis {
    pub redis_url: String,
    /// Seed nodes (`redis://host:port`) of a Redis Cluster; empty: the one server at `redis_url`.
    pub cluster_nodes: Vec<String>,
    /// Every Redis key, stream and pub/sub channel starts with this.
    pub prefix: String,
    /// Redis Sentinel: these sentinels (`host[:port]`) name the master; `redis_url`
    /// then gives only its username, password and database.
    pub sentinels: Vec<String>,
    /// The master's name at the sentinels (Soketi's `database.redis.name`).
    pub master_name: String,
    pub sentinel_password: Option<String>,
}

/// The adapter's Redis link (the name the adapter reads).
pub type Cluster = Redis;
/// The webhook queue's Redis link (the name the queue reads).
pub type RedisQueue = Redis;

/// NATS adapter settings (`adapter = "nats"`). Its `Debug` masks the password and token.
#[derive(Clone, PartialEq)]
pub struct Nats {
    /// `host:port` (or `nats://host:port`) servers, tried in turn.
    pub servers: Vec<String>,
    pub user: Option<String>,
    pub password: Option<String>,
    pub token: Option<String>,
    pub connect_timeout: Duration,
    /// Subjects and JetStream buckets start with this.
    pub prefix: String,
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: Server,
    pub apps: Apps,
    /// Where each setting was written, for errors found when serving starts.
    pub sources: Sources,
}

/// Where the apps table is and how often it is read again. Its `Debug` masks the password.
#[derive(Clone, PartialEq)]
pub struct AppTable {
    pub driver: Driver,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    pub database: String,
    pub table: String,
    pub refresh: Duration,
}

/// The database that holds the apps table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Driver {
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// `host` is the endpoint (empty: AWS's), `database` the region.
    Dynamodb,
}

impl Driver {
    /// The name `app_manager` / `SOKETI_APP_MANAGER_DRIVER` gives it.
    pub fn name(self) -> &'static str {
        match self {
            Driver::Postgres => "postgres",
            Driver::Mysql => "mysql",
            Driver::Dynamodb => "dynamodb",
        }
    }
}

/// Shared by the config tests: configurations built from a file, variables or both.
#[cfg(test)]
pub(crate) mod testing {
    use super::{env, soketi_json, Config, ConfigError, RawConfig};

    /// The file at `path` with `text`: Soketi JSON by its name, else TOML.
    pub fn file(path: &str, text: &str) -> RawConfig {
        match path.ends_with(".json") {
            true => soketi_json::parse(path, text).unwrap().0,
            false => RawConfig::parse_toml(path, text).unwrap(),
        }
    }

    /// `raw` with `vars` on top (the last of a name wins), built.
    pub fn with_vars(mut raw: RawConfig, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let found = |k: &str| vars.iter().rfind(|(n, _)| *n == k);
        env::apply(&mut raw, &|k| found(k).map(|(_, v)| v.to_string()))?;
        raw.build()
    }

    pub fn toml(text: &str) -> Result<Config, ConfigError> {
        file("x", text).build()
    }

    /// Variables alone, no file.
    pub fn vars(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        with_vars(RawConfig::default(), vars)
    }

    /// A Soketi JSON file built, and its warnings.
    pub fn json(text: &str) -> (Config, Vec<String>) {
        let (raw, warnings) = soketi_json::parse("config.json", text).unwrap();
        (raw.build().unwrap(), warnings)
    }
}

#[cfg(test)]
#[rustfmt::skip]
mod tests {
    use super::testing::toml as build;
    use super::*;

    #[test]
    fn empty_file_gives_default_app() {
        let cfg = build("").unwrap();
        let app = cfg.apps.by_key("app-key").unwrap();
        assert_eq!((app.raw.id.as_str(), app.raw.secret.as_str()), ("app-id", "app-secret"));
        assert!(!app.raw.enable_client_messages);
        assert_eq!(cfg.server.raw.port, 6001);
    }

    /// Found with the `config_toml` fuzz target: sizes in KB times 1024 overflowed
    /// (a panic with overflow checks, a wrapped and much smaller limit without).
    #[test]
    fn huge_size_limits_saturate() {
        let text = "[server]\nmax_request_size_kb = 9223372036854775807\nmax_message_size_kb = 18014398509481985\n";
        let s = build(text).unwrap().server;
        assert_eq!((s.max_request_bytes, s.max_message_bytes), (usize::MAX, usize::MAX));
    }

    #[test]
    fn per_app_limits_override_server_defaults() {
        let text = "[server]\nmax_presence_members = 5\n[[apps]]\nid = '1'\nkey = 'k'\nsecret = 's'\nmax_client_events_per_sec = 3\n";
        let app = build(text).unwrap().apps.by_id("1").unwrap();
        let l = &app.limits;
        assert_eq!((l.max_presence_members, l.max_client_events_per_sec, app.max_connections), (5, 3, None));
    }

    #[test]
    fn duplicate_key_and_empty_secret_are_errors() {
        let dup = "[[apps]]\nid='1'\nkey='k'\nsecret='s'\n[[apps]]\nid='2'\nkey='k'\nsecret='s'\n";
        assert_eq!(build(dup).unwrap_err().to_string(), "duplicate app key \"k\"");
        let err = build("[[apps]]\nid='1'\nkey='k'\nsecret=''\n").unwrap_err();
        assert!(err.to_string().contains("secret must not be empty"));
    }

    #[test]
    fn tls_needs_cert_and_key() {
        assert_eq!(build("").unwrap().server.tls, None);
        let text = "[server]\ntls_cert='c.pem'\ntls_key='k.pem'\ntls_passphrase='pw'\n";
        let tls = build(text).unwrap().server.tls.unwrap();
        assert_eq!((tls.cert.as_str(), tls.key.as_str()), ("c.pem", "k.pem"));
        assert_eq!(tls.passphrase.as_deref(), Some("pw"));
        assert!(!format!("{tls:?}").contains("pw"));
        let err = build("[server]\ntls_cert='c.pem'\n").unwrap_err();
        assert!(err.to_string().contains("SOKETI_SSL_KEY"), "{err}");
    }

    #[test]
    fn unknown_fields_are_rejected() {
        assert!(build("[server]\nprot = 1\n").is_err());
        assert!(RawConfig::parse_toml("x", "[sever]\n").is_err());
        assert!(build("[[apps]]\nid='1'\nkey='k'\nsecret='s'\nmax_foo=1\n").is_err());
    }
}
