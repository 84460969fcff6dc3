//! Validation: the raw tables turned into one [`Config`].

use super::settings::{names, RawServer, LIMITS};
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
        let s: RawServer = on_top(Scope::Server, server_table, &toml::Table::new())?;
        let defaults = merge_limits(Scope::Server, &Limits::default(), limit_table)?;
        let mut apps = Vec::new();
        for (i, raw) in self.apps_or_default().drain(..).enumerate() {
            apps.push(build_app(raw, &defaults).map_err(|e| e.in_app(i))?);
        }
        let server = server(s, defaults)?;
        // Apps from a database are loaded before serving (see `crate::app_table`).
        let apps = match server.app_table {
            Some(_) => Apps::default(),
            None => Apps::new(apps)?,
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
    let modes = [
        ("full", Mode::Full),
        ("server", Mode::Server),
        ("worker", Mode::Worker),
    ];
    let mode = pick("mode", &s.mode, &modes)?;
    let adapters = [("local", false), ("redis", true), ("nats", false)];
    // Soketi's `cluster` (the processes of one host) is what one herald process is.
    let adapter = one_host(&s)?.unwrap_or(&s.adapter);
    let cluster = pick("adapter", adapter, &adapters)?.then(|| redis(&s));
    let secs = |n: u64| Duration::from_secs(n.max(1));
    let kb = |n: usize| n.max(1).saturating_mul(1024);
    Ok(Server {
        activity_timeout: secs(s.activity_timeout),
        pong_timeout: secs(s.pong_timeout),
        http_idle_timeout: secs(s.http_idle_timeout),
        threads: match s.threads {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
        shutdown_grace_period: Duration::from_millis(s.shutdown_grace_period_ms),
        reconnect_window: Duration::from_millis(s.shutdown_reconnect_window_ms),
        http_fallback_idle_timeout: Duration::from_millis(
            s.http_fallback_idle_timeout_ms.max(1000),
        ),
        cache_ttl: Duration::from_secs(s.cache_ttl),
        timestamp_window: Duration::from_secs(s.timestamp_window),
        max_request_bytes: kb(s.max_request_size_kb),
        max_message_bytes: kb(s.max_message_size_kb),
        socket_queue: s.socket_queue.max(1),
        cluster,
        path_prefix: normalize_prefix(&s.path_prefix),
        app_defaults: defaults,
        console: Console {
            enabled: s.console_enabled,
            token: non_empty(&s.console_token),
            queue: s.console_queue.max(1),
        },
        raw: s,
        nats,
        webhooks,
        guard,
        tls,
        app_table,
        mode,
    })
}

fn webhook_settings(s: &RawServer) -> Result<WebhookSettings, ConfigError> {
    let ms = |n: u64| Duration::from_millis(n.max(1));
    let queues = [("sync", 0), ("redis", 1), ("sqs", 2)];
    let driver = pick("queue_driver", &s.queue_driver, &queues)?;
    Ok(WebhookSettings {
        batching: s.webhook_batching.then(|| ms(s.webhook_batching_ms)),
        vacate_delay: Duration::from_millis(s.webhook_vacate_delay_ms),
        retry_initial: ms(s.webhook_retry_initial_ms),
        retry_for: Duration::from_secs(s.webhook_retry_for_secs),
        queue: s.webhook_queue.max(1),
        timeout: ms(s.webhook_timeout_ms),
        ca_file: non_empty(&s.webhook_ca_file),
        redis_queue: (driver == 1).then(|| redis(s)),
        sqs_queue: (driver == 2).then(|| sqs(s)).transpose()?,
    })
}

/// The SQS queue (`queue_driver = "sqs"`); its URL is required.
fn sqs(s: &RawServer) -> Result<SqsQueue, ConfigError> {
    if s.sqs_url.is_empty() {
        let why = "must be set with queue_driver = \"sqs\"";
        return Err(ConfigError::server_key("sqs_url", why));
    }
    Ok(SqsQueue {
        url: s.sqs_url.clone(),
        region: s.sqs_region.clone(),
        endpoint: non_empty(&s.sqs_endpoint),
        batch_size: if s.sqs_process_batch {
            s.sqs_batch_size.clamp(1, 10)
        } else {
            1
        },
        polling_wait: Duration::from_millis(s.sqs_polling_wait_ms),
    })
}

/// The Redis link of the adapter and of the queue: `redis_url`, or the Redis
/// Cluster seeded by `redis_cluster_nodes` (`host:port` becomes `redis://host:port`).
fn redis(s: &RawServer) -> Redis {
    let url = |n: &String| match n.contains("://") {
        true => n.clone(),
        false => format!("redis://{n}"),
    };
    Redis {
        redis_url: s.redis_url.clone(),
        cluster_nodes: s.redis_cluster_nodes.iter().map(url).collect(),
        prefix: s.redis_prefix.clone(),
        sentinels: s.redis_sentinels.clone(),
        master_name: s.redis_master_name.clone(),
        sentinel_password: non_empty(&s.redis_sentinel_password),
    }
}

/// Soketi's `cluster` adapter joined the processes of one host, which herald's one
/// process already is (`Some("local")`); peers named on other hosts cannot be
/// joined without a bus.
fn one_host(s: &RawServer) -> Result<Option<&'static str>, ConfigError> {
    let local = |a: &String| {
        a == "localhost" || a.parse().is_ok_and(|ip: std::net::IpAddr| ip.is_loopback())
    };
    let remote = s.cluster_unicast.iter().find(|a| !local(a));
    let named = match (remote, s.cluster_multicast.as_str()) {
        (Some(peer), _) => format!("{} names {peer:?}", names("cluster_unicast")),
        (None, "") => return Ok((s.adapter == "cluster").then_some("local")),
        (None, group) => format!("{} is {group:?}", names("cluster_multicast")),
    };
    let message = format!(
        "{named}: the nodes of Soketi's cluster adapter on several hosts join through \
         SOKETI_ADAPTER_DRIVER=redis or nats with herald (UDP discovery is not built in)"
    );
    match s.adapter.as_str() {
        "cluster" => Err(ConfigError::server_key("adapter", message)),
        _ => Ok(None),
    }
}

/// The value of the choice `value` names (`""`: the first), else `key must be
/// "a", "b" or "c", not "value"`.
fn pick<T: Copy>(key: &str, value: &str, choices: &[(&str, T)]) -> Result<T, ConfigError> {
    let name =
        |(i, (name, _)): &(usize, &(&str, T))| *name == value || (value.is_empty() && *i == 0);
    if let Some((_, (_, chosen))) = choices.iter().enumerate().find(name) {
        return Ok(*chosen);
    }
    let quoted: Vec<String> = choices.iter().map(|(c, _)| format!("{c:?}")).collect();
    let (last, rest) = quoted.split_last().expect("choices");
    let list = match rest {
        [] => last.clone(),
        _ => format!("{} or {last}", rest.join(", ")),
    };
    let message = format!("{key} must be {list}, not {value:?}");
    Err(ConfigError::server_key(key, message))
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
    let none = String::new();
    let (driver, host, port, user, password, database, table) = match s.app_manager.as_str() {
        "array" | "" => return Ok(None),
        // DynamoDB: the endpoint as host ("": AWS's own), the region as database.
        "dynamodb" => (Driver::Dynamodb, &s.dynamodb_endpoint, 0, &none, &none,
            &s.dynamodb_region, &s.dynamodb_table),
        "postgres" => (Driver::Postgres, &s.postgres_host, s.postgres_port, &s.postgres_user,
            &s.postgres_password, &s.postgres_database, &s.postgres_table),
        "mysql" => (Driver::Mysql, &s.mysql_host, s.mysql_port, &s.mysql_user,
            &s.mysql_password, &s.mysql_database, &s.mysql_table),
        other => return Err(ConfigError::server_key(
            "app_manager",
            format!("app manager {other:?} is not available: use \"postgres\", \"mysql\", \"dynamodb\" or list the apps in a config file"),
        )),
    };
    // DynamoDB table names may also hold `-`; SQL ones are quoted nowhere, so no.
    let dash = matches!(driver, Driver::Dynamodb);
    let plain = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.' || (dash && c == '-');
    if table.is_empty() || !table.chars().all(plain) {
        return Err(ConfigError::server_key(
            &format!("{}_table", driver.name()),
            format!("table {table:?} is not a plain table name"),
        ));
    }
    Ok(Some(AppTable {
        driver,
        host: host.clone(),
        port,
        user: user.clone(),
        password: password.clone(),
        database: database.clone(),
        table: table.clone(),
        refresh: Duration::from_secs(if s.app_refresh_secs > 0 {
            s.app_refresh_secs as u64
        } else {
            5
        }),
    }))
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

/// Like Soketi, a certificate or a key turns TLS on; it then needs both. The
/// error is about the half that was given: that is where the operator looks.
fn tls(s: &RawServer) -> Result<Option<Tls>, ConfigError> {
    let missing = |given: &str, what: &str, key: &str| {
        let names = settings::names(key);
        let message =
            format!("TLS needs both a certificate and a key: the {what} ({names}) is not set");
        Err(ConfigError::server_key(given, message))
    };
    match (non_empty(&s.tls_cert), non_empty(&s.tls_key)) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => Ok(Some(Tls {
            cert,
            key,
            passphrase: non_empty(&s.tls_passphrase),
        })),
        (None, Some(_)) => missing("tls_key", "certificate", "tls_cert"),
        (Some(_), None) => missing("tls_cert", "key", "tls_key"),
    }
}

/// The NATS settings when `adapter = "nats"`.
fn nats(s: &RawServer) -> Result<Option<Nats>, ConfigError> {
    if s.adapter != "nats" {
        return Ok(None);
    }
    let servers: Vec<String> = s.nats_servers.iter().map(|v| v.trim().into()).collect();
    if servers.is_empty() || servers.iter().any(String::is_empty) {
        let message = "nats_servers must list at least one host:port";
        return Err(ConfigError::server_key("nats_servers", message));
    }
    let prefix = &s.nats_prefix;
    if prefix.contains(|c: char| c.is_whitespace() || "*>".contains(c)) {
        let message = format!("nats_prefix {prefix:?} may not hold spaces, * or >");
        return Err(ConfigError::server_key("nats_prefix", message));
    }
    Ok(Some(Nats {
        servers,
        user: non_empty(&s.nats_user),
        password: non_empty(&s.nats_password),
        token: non_empty(&s.nats_token),
        connect_timeout: Duration::from_millis(s.nats_timeout_ms.max(1)),
        prefix: prefix.clone(),
    }))
}

/// `table` on top of `valid` (values known to pass) into its type. On failure
/// the error names the key at fault: the first key of `table` that fails on its own.
fn on_top<T: serde::de::DeserializeOwned>(
    scope: Scope,
    table: toml::Table,
    valid: &toml::Table,
) -> Result<T, ConfigError> {
    let mut whole = valid.clone();
    whole.extend(table.clone());
    let error = match try_into::<T>(whole) {
        Ok(value) => return Ok(value),
        Err(e) => e,
    };
    let culprit = table.into_iter().find_map(|(key, value)| {
        let mut one = valid.clone();
        one.insert(key.clone(), value);
        try_into::<T>(one).err().map(|message| (key, message))
    });
    let (key, message) = culprit.unwrap_or((String::new(), error));
    Err(ConfigError::key(scope, key, message))
}

fn try_into<T: serde::de::DeserializeOwned>(table: toml::Table) -> Result<T, String> {
    toml::Value::Table(table)
        .try_into()
        .map_err(|e: toml::de::Error| e.message().to_string())
}

/// The limit keys of a table, moved out of it.
fn split_limits(table: &mut toml::Table) -> toml::Table {
    (LIMITS.iter())
        .filter_map(|row| Some((row.key.to_string(), table.remove(row.key)?)))
        .collect()
}

fn build_app(mut table: toml::Table, defaults: &Limits) -> Result<App, ConfigError> {
    let scope = Scope::App(0);
    let has = |k: &&str| table.contains_key(*k);
    if let Some(key) = ["id", "key", "secret"].iter().find(|k| !has(k)) {
        let message = format!("missing field `{key}`");
        return Err(ConfigError::key(scope, "", message));
    }
    let limit_table = split_limits(&mut table);
    let mut raw: RawApp = on_top(scope, table, &toml::Table::new())?;
    let limits = merge_limits(scope, defaults, limit_table)?;
    let webhooks = std::mem::take(&mut raw.webhooks)
        .into_iter()
        .map(|w| w.build())
        .collect::<Result<_, _>>()?;
    Ok(App {
        max_connections: usize::try_from(raw.max_connections).ok(),
        raw,
        limits,
        webhooks,
    })
}

/// Overlay limit keys on a base set of limits.
fn merge_limits(
    scope: Scope,
    base: &Limits,
    overrides: toml::Table,
) -> Result<Limits, ConfigError> {
    let valid = toml::Table::try_from(base).expect("limits serialize to a table");
    on_top(scope, overrides, &valid)
}
