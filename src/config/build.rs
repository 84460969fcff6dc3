//! Validation: the raw tables turned into one [`Config`].

use super::raw::{RawConfig, RawServer, LIMIT_KEYS};
use super::*;

impl RawConfig {
    /// Validate into the final configuration. A bad value is reported with
    /// where it was written: the file and key, the variable or the flag.
    pub fn build(mut self) -> Result<Config, ConfigError> {
        let sources = std::mem::take(&mut self.sources);
        match self.validate() {
            Ok(config) => Ok(Config { sources, ..config }),
            Err(e) => Err(sources.locate(e)),
        }
    }

    fn validate(mut self) -> Result<Config, ConfigError> {
        let mut server_table = self.server.clone();
        let limit_table = split_limits(&mut server_table);
        let s: RawServer = deserialize(Scope::Server, server_table, &toml::Table::new())?;
        let defaults = merge_limits(Scope::Server, &Limits::default(), limit_table)?;
        let mut apps = Vec::new();
        for (i, raw) in self.apps_or_default().drain(..).enumerate() {
            apps.push(build_app(raw, &defaults).map_err(|e| e.in_app(i))?);
        }
        let server = server(s, defaults)?;
        let from_db = server.app_table.is_some();
        // Apps from a database are loaded before serving (see `crate::app_table`).
        let apps = if from_db {
            Apps::default()
        } else {
            Apps::new(apps)?
        };
        Ok(Config {
            server,
            apps,
            sources: Sources::default(),
        })
    }
}

/// The `[server]` settings, validated.
fn server(s: RawServer, defaults: Limits) -> Result<Server, ConfigError> {
    let (webhooks, guard, tls) = (webhook_settings(&s)?, guard(&s)?, tls(&s)?);
    let (app_table, nats) = (app_table(&s)?, nats(&s)?);
    Ok(Server {
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
        http_fallback: s.http_fallback,
        http_fallback_idle_timeout: Duration::from_millis(
            s.http_fallback_idle_timeout_ms.max(1000),
        ),
        cache_ttl: Duration::from_secs(s.cache_ttl),
        timestamp_window: Duration::from_secs(s.timestamp_window),
        max_request_bytes: s.max_request_size_kb.max(1).saturating_mul(1024),
        max_message_bytes: s.max_message_size_kb.max(1).saturating_mul(1024),
        socket_queue: s.socket_queue.max(1),
        cluster: cluster(&s.adapter, &s.redis_url, &s.redis_prefix)?.map(|c| Cluster {
            cluster_nodes: s.redis_cluster_nodes.iter().map(|n| node_url(n)).collect(),
            ..c
        }),
        nats,
        path_prefix: normalize_prefix(&s.path_prefix),
        webhooks,
        guard,
        tls,
        app_table,
        accept_traffic_memory_threshold: s.accept_traffic_memory_threshold,
        app_defaults: defaults,
        console: super::console::build(s.console_enabled, &s.console_token, s.console_queue),
        mode: mode(&s.mode)?,
        metrics: MetricsServer {
            enabled: s.metrics_enabled,
            host: s.metrics_host,
            port: s.metrics_port,
            prefix: s.metrics_prefix,
        },
    })
}

fn webhook_settings(s: &RawServer) -> Result<WebhookSettings, ConfigError> {
    Ok(WebhookSettings {
        batching: s
            .webhook_batching
            .then(|| Duration::from_millis(s.webhook_batching_ms.max(1))),
        vacate_delay: Duration::from_millis(s.webhook_vacate_delay_ms),
        retry_initial: Duration::from_millis(s.webhook_retry_initial_ms.max(1)),
        retry_for: Duration::from_secs(s.webhook_retry_for_secs),
        queue: s.webhook_queue.max(1),
        timeout: Duration::from_millis(s.webhook_timeout_ms.max(1)),
        ca_file: non_empty(&s.webhook_ca_file),
        redis_queue: redis_queue(s)?,
    })
}

/// `queue_driver` (`SOKETI_QUEUE_DRIVER`): the Redis queue uses the adapter's
/// Redis URL (or Redis Cluster seeds) and prefix, whichever adapter is chosen.
fn redis_queue(s: &RawServer) -> Result<Option<RedisQueue>, ConfigError> {
    match s.queue_driver.as_str() {
        "sync" | "" => Ok(None),
        "redis" => Ok(Some(RedisQueue {
            redis_url: s.redis_url.clone(),
            cluster_nodes: s.redis_cluster_nodes.iter().map(|n| node_url(n)).collect(),
            prefix: s.redis_prefix.clone(),
        })),
        other => Err(ConfigError::Invalid(format!(
            "queue_driver (SOKETI_QUEUE_DRIVER) must be \"sync\" or \"redis\", not {other:?}"
        ))),
    }
}

/// `mode` (`SOKETI_MODE`).
fn mode(mode: &str) -> Result<Mode, ConfigError> {
    match mode {
        "full" | "" => Ok(Mode::Full),
        "server" => Ok(Mode::Server),
        "worker" => Ok(Mode::Worker),
        other => Err(ConfigError::Invalid(format!(
            "mode (SOKETI_MODE) must be \"full\", \"server\" or \"worker\", not {other:?}"
        ))),
    }
}

fn guard(s: &RawServer) -> Result<Guard, ConfigError> {
    let positive = |n: usize| (n > 0).then_some(n);
    Ok(Guard {
        request_timeout: Duration::from_secs(s.http_request_timeout.max(1)),
        frame_timeout: Duration::from_secs(s.ws_frame_timeout.max(1)),
        max_connections: positive(s.max_node_connections),
        max_connections_per_ip: positive(s.max_connections_per_ip),
        max_channels_per_connection: positive(s.max_channels_per_connection),
        trusted_proxies: proxies::TrustedProxies::parse(&s.trusted_proxies)
            .map_err(|e| ConfigError::server_key("trusted_proxies", e.to_string()))?,
    })
}

fn app_table(s: &RawServer) -> Result<Option<AppTable>, ConfigError> {
    let Some(driver) = driver(&s.app_manager)? else {
        return Ok(None);
    };
    let (host, port, user, password, database, table) = match driver {
        Driver::Postgres => (
            &s.postgres_host,
            s.postgres_port,
            &s.postgres_user,
            &s.postgres_password,
            &s.postgres_database,
            &s.postgres_table,
        ),
        Driver::Mysql => (
            &s.mysql_host,
            s.mysql_port,
            &s.mysql_user,
            &s.mysql_password,
            &s.mysql_database,
            &s.mysql_table,
        ),
    };
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    if table.is_empty() || !table.chars().all(plain) {
        return Err(ConfigError::server_key(
            &format!("{}_table", driver.name()),
            format!("table {table:?} is not a plain table name"),
        ));
    }
    let refresh = if s.app_refresh_secs > 0 {
        s.app_refresh_secs as u64
    } else {
        5
    };
    Ok(Some(AppTable {
        driver,
        host: host.clone(),
        port,
        user: user.clone(),
        password: password.clone(),
        database: database.clone(),
        table: table.clone(),
        refresh: Duration::from_secs(refresh),
    }))
}

/// `app_manager`: `None` for apps from the config.
fn driver(app_manager: &str) -> Result<Option<Driver>, ConfigError> {
    match app_manager {
        "array" | "" => Ok(None),
        "postgres" => Ok(Some(Driver::Postgres)),
        "mysql" => Ok(Some(Driver::Mysql)),
        other => Err(ConfigError::server_key(
            "app_manager",
            format!("app manager {other:?} is not available: use \"postgres\", \"mysql\" or list the apps in a config file"),
        )),
    }
}

/// An app from a row of Soketi's apps table (as a JSON object of its columns).
pub fn app_from_row(
    row: serde_json::Map<String, serde_json::Value>,
    defaults: &Limits,
) -> Result<App, String> {
    let mut warnings = Vec::new();
    let table = soketi_json::app_row(row, &mut warnings)?;
    build_app(table, defaults).map_err(|e| match e {
        ConfigError::Key { key, message, .. } if !key.is_empty() => format!("{key}: {message}"),
        ConfigError::Key { message, .. } => message,
        other => other.to_string(),
    })
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
        // Blamed on the half that was given: that is where the operator looks.
        (None, Some(_)) => Err(ConfigError::server_key(
            "tls_key",
            "TLS needs both a certificate and a key: the certificate (tls_cert, SOKETI_SSL_CERT, --tls-cert) is not set",
        )),
        (Some(_), None) => Err(ConfigError::server_key(
            "tls_cert",
            "TLS needs both a certificate and a key: the key (tls_key, SOKETI_SSL_KEY, --tls-key) is not set",
        )),
    }
}

/// A cluster seed as a URL: `host:port` becomes `redis://host:port`.
fn node_url(node: &str) -> String {
    match node.contains("://") {
        true => node.to_string(),
        false => format!("redis://{node}"),
    }
}

fn cluster(adapter: &str, url: &str, prefix: &str) -> Result<Option<Cluster>, ConfigError> {
    match adapter {
        "local" | "nats" => Ok(None),
        "redis" => Ok(Some(Cluster {
            redis_url: url.to_string(),
            cluster_nodes: Vec::new(),
            prefix: prefix.to_string(),
        })),
        other => Err(ConfigError::server_key(
            "adapter",
            format!("adapter must be \"local\", \"redis\" or \"nats\", not {other:?}"),
        )),
    }
}
/// The NATS settings when `adapter = "nats"`.
fn nats(s: &RawServer) -> Result<Option<Nats>, ConfigError> {
    if s.adapter != "nats" {
        return Ok(None);
    }
    let servers: Vec<String> = s
        .nats_servers
        .iter()
        .map(|v| v.trim().to_string())
        .collect();
    if servers.is_empty() || servers.iter().any(String::is_empty) {
        return Err(ConfigError::server_key(
            "nats_servers",
            "nats_servers must list at least one host:port".to_string(),
        ));
    }
    if s.nats_prefix
        .contains(|c: char| c.is_whitespace() || "*>".contains(c))
    {
        return Err(ConfigError::server_key(
            "nats_prefix",
            format!(
                "nats_prefix {:?} may not hold spaces, * or >",
                s.nats_prefix
            ),
        ));
    }
    let set = |v: &str| (!v.is_empty()).then(|| v.to_string());
    Ok(Some(Nats {
        servers,
        user: set(&s.nats_user),
        password: set(&s.nats_password),
        token: set(&s.nats_token),
        connect_timeout: Duration::from_millis(s.nats_timeout_ms.max(1)),
        prefix: s.nats_prefix.clone(),
    }))
}

/// A table into its type. On failure the error names the key at fault: the
/// first key of `table` that fails on its own on top of `valid` (values known
/// to pass: the required ones, or defaults).
fn deserialize<T: serde::de::DeserializeOwned>(
    scope: Scope,
    table: toml::Table,
    valid: &toml::Table,
) -> Result<T, ConfigError> {
    let whole = match try_into::<T>(table.clone()) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let culprit = table.into_iter().find_map(|(key, value)| {
        let mut one = valid.clone();
        one.insert(key.clone(), value);
        try_into::<T>(one).err().map(|message| (key, message))
    });
    let (key, message) = culprit.unwrap_or((String::new(), whole));
    Err(ConfigError::Key {
        scope,
        key,
        message,
    })
}

fn try_into<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// Values that pass for an app's required keys, to test its other keys one by one.
fn app_placeholders() -> toml::Table {
    ["id", "key", "secret"]
        .into_iter()
        .map(|k| (k.to_string(), toml::Value::from("x")))
        .collect()
}

fn split_limits(table: &mut toml::Table) -> toml::Table {
    LIMIT_KEYS
        .iter()
        .filter_map(|k| table.remove(*k).map(|v| (k.to_string(), v)))
        .collect()
}

fn build_app(mut table: toml::Table, defaults: &Limits) -> Result<App, ConfigError> {
    let limit_table = split_limits(&mut table);
    let scope = Scope::App(0);
    let raw: RawApp = deserialize(scope, table, &app_placeholders())?;
    let limits = merge_limits(scope, defaults, limit_table)?;
    let webhooks = raw
        .webhooks
        .into_iter()
        .map(|w| w.build())
        .collect::<Result<_, _>>()?;
    Ok(App {
        id: raw.id,
        key: raw.key,
        secret: raw.secret,
        enabled: raw.enabled,
        enable_client_messages: raw.enable_client_messages,
        enable_user_authentication: raw.enable_user_authentication,
        enable_subscription_count: raw.enable_subscription_count,
        enable_watchlist_events: raw.enable_watchlist_events,
        max_connections: usize::try_from(raw.max_connections).ok(),
        limits,
        webhooks,
        allowed_origins: raw.allowed_origins,
    })
}

/// Overlay limit keys on a base set of limits.
fn merge_limits(
    scope: Scope,
    base: &Limits,
    overrides: toml::Table,
) -> Result<Limits, ConfigError> {
    let valid = toml::Table::try_from(base).expect("limits serialize to a table");
    let mut table = valid.clone();
    table.extend(overrides.clone());
    match try_into(table) {
        Ok(limits) => Ok(limits),
        Err(_) => deserialize(scope, overrides, &valid),
    }
}
