//! Validation: the raw tables turned into one [`Config`].

use super::raw::{RawConfig, RawServer, LIMIT_KEYS};
use super::*;

impl RawConfig {
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
        let server = server(s, defaults)?;
        let from_db = server.postgres.is_some();
        // Apps from a database are loaded before serving (see `crate::postgres`).
        let apps = if from_db {
            Apps::default()
        } else {
            Apps::new(apps)?
        };
        Ok(Config { server, apps })
    }
}

/// The `[server]` settings, validated.
fn server(s: RawServer, defaults: Limits) -> Result<Server, ConfigError> {
    let (webhooks, guard, tls) = (webhook_settings(&s), guard(&s)?, tls(&s)?);
    let postgres = postgres(&s)?;
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
        cache_ttl: Duration::from_secs(s.cache_ttl),
        timestamp_window: Duration::from_secs(s.timestamp_window),
        max_request_bytes: s.max_request_size_kb.max(1).saturating_mul(1024),
        max_message_bytes: s.max_message_size_kb.max(1).saturating_mul(1024),
        socket_queue: s.socket_queue.max(1),
        cluster: cluster(&s.adapter, &s.redis_url, &s.redis_prefix)?,
        path_prefix: normalize_prefix(&s.path_prefix),
        webhooks,
        guard,
        tls,
        postgres,
        accept_traffic_memory_threshold: s.accept_traffic_memory_threshold,
        app_defaults: defaults,
        console: super::console::build(s.console_enabled, &s.console_token, s.console_queue),
        metrics: MetricsServer {
            enabled: s.metrics_enabled,
            host: s.metrics_host,
            port: s.metrics_port,
            prefix: s.metrics_prefix,
        },
    })
}

fn webhook_settings(s: &RawServer) -> WebhookSettings {
    WebhookSettings {
        batching: s
            .webhook_batching
            .then(|| Duration::from_millis(s.webhook_batching_ms.max(1))),
        vacate_delay: Duration::from_millis(s.webhook_vacate_delay_ms),
        retry_initial: Duration::from_millis(s.webhook_retry_initial_ms.max(1)),
        retry_for: Duration::from_secs(s.webhook_retry_for_secs),
        queue: s.webhook_queue.max(1),
        timeout: Duration::from_millis(s.webhook_timeout_ms.max(1)),
        ca_file: non_empty(&s.webhook_ca_file),
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
        trusted_proxies: proxies::TrustedProxies::parse(&s.trusted_proxies)?,
    })
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
