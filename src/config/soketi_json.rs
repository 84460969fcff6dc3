//! Soketi's JSON config file (`soketi start --config=config.json`) translated
//! into the same raw tables as the TOML file, so everything downstream is shared.
//!
//! Keys may be dot paths (`"metrics.enabled": true`) or nested objects; apps come
//! from `appManager.array.apps` with Soketi's field names and aliases.

use super::{env, ConfigError, RawConfig, Scope, Source};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

#[derive(Clone, Copy)]
enum Kind {
    /// Taken as it is (string, number, array).
    Plain,
    /// Soketi's truthiness: `1` and `"true"` count too.
    Bool,
    /// Megabytes, stored as kilobytes.
    Megabytes,
}

/// (Soketi option path, `[server]` key, kind)
const SERVER_KEYS: &[(&str, &str, Kind)] = &[
    ("host", "host", Kind::Plain),
    ("port", "port", Kind::Plain),
    ("debug", "debug", Kind::Bool),
    (
        "shutdownGracePeriod",
        "shutdown_grace_period_ms",
        Kind::Plain,
    ),
    (
        "userAuthenticationTimeout",
        "user_authentication_timeout_ms",
        Kind::Plain,
    ),
    ("pathPrefix", "path_prefix", Kind::Plain),
    ("metrics.enabled", "metrics_enabled", Kind::Bool),
    ("metrics.host", "metrics_host", Kind::Plain),
    ("metrics.port", "metrics_port", Kind::Plain),
    ("metrics.prometheus.prefix", "metrics_prefix", Kind::Plain),
    (
        "presence.maxMembersPerChannel",
        "max_presence_members",
        Kind::Plain,
    ),
    (
        "presence.maxMemberSizeInKb",
        "max_presence_member_size_kb",
        Kind::Plain,
    ),
    (
        "eventLimits.maxBatchSize",
        "max_event_batch_size",
        Kind::Plain,
    ),
    (
        "eventLimits.maxChannelsAtOnce",
        "max_event_channels_at_once",
        Kind::Plain,
    ),
    (
        "eventLimits.maxNameLength",
        "max_event_name_length",
        Kind::Plain,
    ),
    (
        "eventLimits.maxPayloadInKb",
        "max_event_payload_kb",
        Kind::Plain,
    ),
    (
        "channelLimits.maxNameLength",
        "max_channel_name_length",
        Kind::Plain,
    ),
    ("channelLimits.cacheTtl", "cache_ttl", Kind::Plain),
    (
        "httpApi.requestLimitInMb",
        "max_request_size_kb",
        Kind::Megabytes,
    ),
    (
        "httpApi.acceptTraffic.memoryThreshold",
        "accept_traffic_memory_threshold",
        Kind::Plain,
    ),
    ("webhooks.batching.enabled", "webhook_batching", Kind::Bool),
    (
        "webhooks.batching.duration",
        "webhook_batching_ms",
        Kind::Plain,
    ),
    ("ssl.certPath", "tls_cert", Kind::Plain),
    ("ssl.keyPath", "tls_key", Kind::Plain),
    ("ssl.passphrase", "tls_passphrase", Kind::Plain),
    ("appManager.driver", "app_manager", Kind::Plain),
    ("mode", "mode", Kind::Plain),
    ("appManager.postgres.table", "postgres_table", Kind::Plain),
    ("appManager.cache.ttl", "app_refresh_secs", Kind::Plain),
    ("database.postgres.host", "postgres_host", Kind::Plain),
    ("database.postgres.port", "postgres_port", Kind::Plain),
    ("database.postgres.user", "postgres_user", Kind::Plain),
    (
        "database.postgres.password",
        "postgres_password",
        Kind::Plain,
    ),
    (
        "database.postgres.database",
        "postgres_database",
        Kind::Plain,
    ),
    ("appManager.mysql.table", "mysql_table", Kind::Plain),
    ("database.mysql.host", "mysql_host", Kind::Plain),
    ("database.mysql.port", "mysql_port", Kind::Plain),
    ("database.mysql.user", "mysql_user", Kind::Plain),
    ("database.mysql.password", "mysql_password", Kind::Plain),
    ("database.mysql.database", "mysql_database", Kind::Plain),
];

/// Options read through the `SOKETI_*` Redis logic: (option path, variable).
const REDIS_KEYS: &[(&str, &str)] = &[
    ("adapter.driver", "SOKETI_ADAPTER_DRIVER"),
    ("adapter.redis.prefix", "SOKETI_ADAPTER_REDIS_PREFIX"),
    ("database.redis.host", "SOKETI_DB_REDIS_HOST"),
    ("database.redis.port", "SOKETI_DB_REDIS_PORT"),
    ("database.redis.db", "SOKETI_DB_REDIS_DB"),
    ("database.redis.username", "SOKETI_DB_REDIS_USERNAME"),
    ("database.redis.password", "SOKETI_DB_REDIS_PASSWORD"),
];

/// Options whose value herald already has, so they need no warning.
const NO_OP: &[(&str, &[&str])] = &[
    ("appManager.cache.enabled", &["true", "false"]),
    ("appManager.postgres.version", &[]),
    ("appManager.mysql.version", &[]),
    ("appManager.mysql.useMysql2", &[]),
    ("metrics.driver", &["prometheus"]),
    ("cache.driver", &["memory"]),
    ("rateLimiter.driver", &["local"]),
];

/// (`[[apps]]` key, Soketi's names for it, kind)
const APP_KEYS: &[(&str, &[&str], Kind)] = &[
    ("id", &["id", "AppId"], Kind::Plain),
    ("key", &["key", "AppKey"], Kind::Plain),
    ("secret", &["secret", "AppSecret"], Kind::Plain),
    (
        "max_connections",
        &["maxConnections", "MaxConnections", "max_connections"],
        Kind::Plain,
    ),
    (
        "enable_client_messages",
        &[
            "enableClientMessages",
            "EnableClientMessages",
            "enable_client_messages",
        ],
        Kind::Bool,
    ),
    ("enabled", &["enabled", "Enabled"], Kind::Bool),
    (
        "enable_user_authentication",
        &[
            "enableUserAuthentication",
            "EnableUserAuthentication",
            "enable_user_authentication",
        ],
        Kind::Bool,
    ),
    (
        "enable_subscription_count",
        &[
            "enableSubscriptionCount",
            "EnableSubscriptionCount",
            "enable_subscription_count",
        ],
        Kind::Bool,
    ),
    (
        "enable_watchlist_events",
        &[
            "enableWatchlistEvents",
            "EnableWatchlistEvents",
            "enable_watchlist_events",
        ],
        Kind::Bool,
    ),
    (
        "max_backend_events_per_sec",
        &[
            "maxBackendEventsPerSecond",
            "MaxBackendEventsPerSecond",
            "max_backend_events_per_sec",
        ],
        Kind::Plain,
    ),
    (
        "max_client_events_per_sec",
        &[
            "maxClientEventsPerSecond",
            "MaxClientEventsPerSecond",
            "max_client_events_per_sec",
        ],
        Kind::Plain,
    ),
    (
        "max_read_req_per_sec",
        &[
            "maxReadRequestsPerSecond",
            "MaxReadRequestsPerSecond",
            "max_read_req_per_sec",
        ],
        Kind::Plain,
    ),
    (
        "max_presence_members",
        &[
            "maxPresenceMembersPerChannel",
            "MaxPresenceMembersPerChannel",
            "max_presence_members_per_channel",
        ],
        Kind::Plain,
    ),
    (
        "max_presence_member_size_kb",
        &[
            "maxPresenceMemberSizeInKb",
            "MaxPresenceMemberSizeInKb",
            "max_presence_member_size_in_kb",
        ],
        Kind::Plain,
    ),
    (
        "max_channel_name_length",
        &[
            "maxChannelNameLength",
            "MaxChannelNameLength",
            "max_channel_name_length",
        ],
        Kind::Plain,
    ),
    (
        "max_event_channels_at_once",
        &[
            "maxEventChannelsAtOnce",
            "MaxEventChannelsAtOnce",
            "max_event_channels_at_once",
        ],
        Kind::Plain,
    ),
    (
        "max_event_name_length",
        &[
            "maxEventNameLength",
            "MaxEventNameLength",
            "max_event_name_length",
        ],
        Kind::Plain,
    ),
    (
        "max_event_payload_kb",
        &[
            "maxEventPayloadInKb",
            "MaxEventPayloadInKb",
            "max_event_payload_in_kb",
        ],
        Kind::Plain,
    ),
    (
        "max_event_batch_size",
        &[
            "maxEventBatchSize",
            "MaxEventBatchSize",
            "max_event_batch_size",
        ],
        Kind::Plain,
    ),
    (
        "allowed_origins",
        &["allowedOrigins", "allowed_origins"],
        Kind::Plain,
    ),
];

/// Where the apps list lives.
const APPS: &str = "appManager.array.apps";

/// Parse the file; also returns one warning per option herald does not act on.
pub fn parse(path: &str, text: &str) -> Result<(RawConfig, Vec<String>), ConfigError> {
    let file_error = |message: String| ConfigError::File {
        path: path.into(),
        message,
    };
    let root: Value = serde_json::from_str(text).map_err(|e| file_error(e.to_string()))?;
    let Value::Object(root) = root else {
        return Err(file_error("the top level must be a JSON object".into()));
    };
    let mut options = BTreeMap::new();
    flatten("", root, &mut options);
    let mut raw = RawConfig::default();
    let mut warnings = Vec::new();
    if let Some(apps) = options.remove(APPS) {
        for (i, (table, names)) in apps_of(apps, &mut warnings)
            .map_err(file_error)?
            .into_iter()
            .enumerate()
        {
            let at = |option: String| file_key(path, format!("{APPS}[{i}]{option}"));
            raw.sources.record(Scope::App(i), "", at(String::new()));
            for (key, alias) in names {
                raw.sources
                    .record(Scope::App(i), key, at(format!(".{alias}")));
            }
            raw.apps.push(table);
        }
    }
    server_options(&mut raw, &mut options, path).map_err(file_error)?;
    for (key, value) in options {
        warnings.push(unsupported(&key, &value));
    }
    Ok((raw, warnings))
}

/// Nested objects become dot paths; arrays and scalars are leaves.
fn flatten(prefix: &str, object: Map<String, Value>, out: &mut BTreeMap<String, Value>) {
    for (key, value) in object {
        let path = if prefix.is_empty() {
            key
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if path != APPS => flatten(&path, inner, out),
            Value::Null => {}
            other => {
                out.insert(path, other);
            }
        }
    }
}

fn file_key(path: &str, key: String) -> Source {
    Source::File {
        path: path.to_string(),
        key,
    }
}

/// Move every known server option from `options` into `raw.server`.
fn server_options(
    raw: &mut RawConfig,
    options: &mut BTreeMap<String, Value>,
    file: &str,
) -> Result<(), String> {
    for &(path, key, kind) in SERVER_KEYS {
        if let Some(value) = options.remove(path) {
            let value = convert(value, kind).ok_or_else(|| format!("{path}: unexpected value"))?;
            raw.set_server(key, value, file_key(file, path.to_string()));
        }
    }
    let redis: BTreeMap<&str, String> = REDIS_KEYS
        .iter()
        .filter_map(|&(path, var)| Some((var, scalar_text(options.remove(path)?)?)))
        .collect();
    let option_of = |var: &str| {
        let path = REDIS_KEYS
            .iter()
            .find(|(_, v)| *v == var)
            .map_or(var, |(p, _)| p);
        file_key(file, path.to_string())
    };
    env::apply_redis(raw, &|name| redis.get(name).cloned(), &option_of);
    // `sqs` stays behind and is warned about: webhooks then wait in memory.
    if let Some(driver) = options
        .get("queue.driver")
        .and_then(|v| v.as_str())
        .filter(|d| ["sync", "redis"].contains(d))
    {
        raw.set_server(
            "queue_driver",
            driver.into(),
            file_key(file, "queue.driver".to_string()),
        );
        options.remove("queue.driver");
    }
    for &(path, fine) in NO_OP {
        if options.get(path).is_some_and(|v| {
            fine.is_empty() || fine.contains(&scalar_text(v.clone()).unwrap_or_default().as_str())
        }) {
            options.remove(path);
        }
    }
    Ok(())
}

/// An app's table and, for each key in it, the option name it was written as.
type AppOptions = (toml::Table, Vec<(&'static str, String)>);

fn apps_of(apps: Value, warnings: &mut Vec<String>) -> Result<Vec<AppOptions>, String> {
    let Value::Array(items) = apps else {
        return Err(format!("{APPS} must be an array"));
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            Value::Object(fields) => app_of(i, fields, warnings),
            _ => Err(format!("{APPS}[{i}] must be an object")),
        })
        .collect()
}

/// One app: the first non-empty alias of each field; unknown fields warn.
fn app_of(
    i: usize,
    mut fields: Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<AppOptions, String> {
    let mut table = toml::Table::new();
    let mut names = Vec::new();
    for &(key, aliases, kind) in APP_KEYS {
        let found = aliases
            .iter()
            .filter_map(|a| Some((*a, fields.remove(*a)?)))
            .find(|(_, v)| is_set(v));
        if let Some((alias, value)) = found {
            let value = convert(value, kind)
                .ok_or_else(|| format!("{APPS}[{i}].{alias}: unexpected value"))?;
            table.insert(key.into(), value);
            names.push((key, alias.to_string()));
        }
    }
    for key in ["id", "key", "secret"] {
        if let Some(toml::Value::Integer(n)) = table.get(key) {
            table.insert(key.into(), n.to_string().into());
        }
    }
    if let Some((alias, hooks)) = ["webhooks", "Webhooks"]
        .iter()
        .filter_map(|a| Some((*a, fields.remove(*a)?)))
        .find(|(_, v)| is_set(v))
    {
        table.insert("webhooks".into(), webhooks(hooks));
        names.push(("webhooks", alias.to_string()));
    }
    for (key, value) in fields {
        warnings.push(unsupported(&format!("{APPS}[{i}].{key}"), &value));
    }
    Ok((table, names))
}

/// One row of Soketi's SQL apps table (its columns as a JSON object), as an `[[apps]]` table.
pub fn app_row(
    fields: Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<toml::Table, String> {
    app_of(0, fields, warnings).map(|(table, _)| table)
}

/// Soketi takes an array or a JSON string; anything invalid means no webhooks.
fn webhooks(value: Value) -> toml::Value {
    let value = match value {
        Value::String(s) => serde_json::from_str(&s).unwrap_or(Value::Null),
        other => other,
    };
    match value {
        Value::Array(_) => env::json_to_toml(value).unwrap_or(toml::Value::Array(vec![])),
        _ => toml::Value::Array(vec![]),
    }
}

/// Empty strings and `null` count as unset, as in Soketi.
fn is_set(value: &Value) -> bool {
    !matches!(value, Value::Null) && value.as_str() != Some("")
}

fn convert(value: Value, kind: Kind) -> Option<toml::Value> {
    match kind {
        Kind::Plain => env::json_to_toml(value),
        Kind::Bool => Some(toml::Value::Boolean(truthy(&value))),
        Kind::Megabytes => Some(toml::Value::Integer((value.as_f64()? * 1024.0) as i64)),
    }
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty() && s != "false" && s != "0",
        Value::Null => false,
        _ => true,
    }
}

fn scalar_text(value: Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn unsupported(key: &str, value: &Value) -> String {
    format!("config option {key} = {value} is ignored: herald does not have this feature")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn build(text: &str) -> (super::super::Config, Vec<String>) {
        let (raw, warnings) = parse("config.json", text).unwrap();
        (raw.build().unwrap(), warnings)
    }

    #[test]
    fn dot_keys_and_nested_objects_both_work() {
        let text = r#"{
            "port": 6010, "debug": 1, "metrics.enabled": true,
            "metrics": {"port": 9700, "prometheus": {"prefix": "x_"}},
            "presence.maxMembersPerChannel": 7,
            "eventLimits": {"maxPayloadInKb": 50, "maxBatchSize": 3},
            "channelLimits.maxNameLength": 99,
            "shutdownGracePeriod": 500, "pathPrefix": "/ws"
        }"#;
        let (cfg, warnings) = build(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let s = &cfg.server;
        assert_eq!((s.port, s.debug, s.metrics.enabled), (6010, true, true));
        assert_eq!((s.metrics.port, s.metrics.prefix.as_str()), (9700, "x_"));
        assert_eq!(s.path_prefix, "/ws");
        assert_eq!(s.shutdown_grace_period.as_millis(), 500);
        let app = cfg.apps.by_key("app-key").unwrap();
        assert_eq!(app.limits.max_presence_members, 7);
        assert_eq!(app.limits.max_event_payload_kb, 50.0);
        assert_eq!(app.limits.max_event_batch_size, 3);
        assert_eq!(app.limits.max_channel_name_length, 99);
    }

    #[test]
    fn apps_take_soketi_names_and_aliases() {
        let text = r#"{"appManager.array.apps": [
            {"id": 12345, "key": "k1", "secret": "s1", "maxConnections": 5,
             "enableClientMessages": true, "maxPresenceMembersPerChannel": 3,
             "enableSubscriptionCount": true, "enable_watchlist_events": 1,
             "maxEventPayloadInKb": 20, "maxClientEventsPerSecond": 4,
             "webhooks": [{"url": "http://hooks.test/", "event_types": ["channel_occupied"]}]},
            {"AppId": "2", "AppKey": "k2", "AppSecret": "s2", "MaxConnections": 1,
             "Enabled": false, "id": "", "webhooks": "not json", "colour": "blue"}
        ]}"#;
        let (cfg, warnings) = build(text);
        let a = cfg.apps.by_id("12345").unwrap();
        assert_eq!((a.key.as_str(), a.max_connections), ("k1", Some(5)));
        assert!(a.enable_client_messages);
        assert!(a.enable_subscription_count && a.enable_watchlist_events);
        assert_eq!(a.limits.max_presence_members, 3);
        assert_eq!(a.limits.max_client_events_per_sec, 4);
        assert_eq!(a.webhooks.len(), 1);
        let b = cfg.apps.by_key("k2").unwrap();
        assert_eq!(
            (b.id.as_str(), b.enabled, b.max_connections),
            ("2", false, Some(1))
        );
        assert!(b.webhooks.is_empty());
        assert!(!b.enable_subscription_count && !b.enable_watchlist_events);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("apps[1].colour"), "{warnings:?}");
    }

    #[test]
    fn redis_options_build_the_cluster_settings() {
        let text = r#"{"adapter": {"driver": "redis", "redis": {"prefix": "p"}},
            "database.redis.host": "redis", "database.redis.port": 6380}"#;
        let (cfg, _) = build(text);
        let cluster = cfg.server.cluster.unwrap();
        assert_eq!(cluster.redis_url, "redis://redis:6380/0");
        assert_eq!(cluster.prefix, "p");
    }

    /// (driver, its extra options, what it is with nothing but the driver)
    const SQL_MANAGERS: [(&str, &str, (&str, u16, &str)); 2] = [
        (
            "postgres",
            r#""version": "13.3""#,
            ("127.0.0.1", 5432, "postgres"),
        ),
        (
            "mysql",
            r#""version": "5.7", "useMysql2": true"#,
            ("127.0.0.1", 3306, "root"),
        ),
    ];

    #[test]
    fn sql_app_manager_options_build_the_apps_table() {
        for (driver, extra, defaults) in SQL_MANAGERS {
            let text = format!(
                r#"{{"appManager": {{"driver": "{driver}", "cache": {{"enabled": true, "ttl": 60}},
                    "{driver}": {{"table": "soketi_apps", {extra}}}}},
                "database": {{"{driver}": {{"host": "db", "port": 3307, "user": "u",
                    "password": "p", "database": "soketi"}}}}}}"#
            );
            let (cfg, warnings) = build(&text);
            assert!(warnings.is_empty(), "{driver}: {warnings:?}");
            let t = cfg.server.app_table.unwrap();
            assert_eq!(t.driver.name(), driver);
            let got = (
                t.host.as_str(),
                t.port,
                t.user.as_str(),
                t.password.as_str(),
            );
            assert_eq!(got, ("db", 3307, "u", "p"), "{driver}");
            let got = (t.database.as_str(), t.table.as_str(), t.refresh.as_secs());
            assert_eq!(got, ("soketi", "soketi_apps", 60), "{driver}");
            let (cfg, _) = build(&format!(r#"{{"appManager.driver": "{driver}"}}"#));
            let t = cfg.server.app_table.unwrap();
            assert_eq!((t.host.as_str(), t.port, t.user.as_str()), defaults);
            assert_eq!((t.database.as_str(), t.table.as_str()), ("main", "apps"));
        }
    }

    #[test]
    fn unknown_options_warn_once_each_and_harmless_ones_do_not() {
        let text = r#"{"ssl": {"certPath": "/c.pem", "keyPath": "/k.pem", "caPath": "/ca.pem"},
            "appManager.driver": "array", "queue.driver": "sqs", "cors": {"origin": ["*"]}}"#;
        let (config, warnings) = build(text);
        assert_eq!(warnings.len(), 3, "{warnings:?}");
        assert!(warnings.iter().any(|w| w.contains("ssl.caPath")));
        assert!(!warnings.iter().any(|w| w.contains("ssl.certPath")));
        assert_eq!(config.server.tls.unwrap().key, "/k.pem");
        assert!(warnings.iter().any(|w| w.contains("queue.driver")));
        assert!(!warnings.iter().any(|w| w.contains("appManager.driver")));
        let text = r#"{"mode": "worker", "queue": {"driver": "redis"}}"#;
        let (config, warnings) = build(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        assert_eq!(config.server.mode, crate::config::Mode::Worker);
        assert!(config.server.webhooks.redis_queue.is_some());
    }

    #[test]
    fn broken_files_name_the_problem() {
        let Err(e) = parse("c.json", "{") else {
            panic!("a broken file was read")
        };
        assert!(e.to_string().starts_with("config file c.json"));
        assert!(parse("c.json", "[]").is_err());
        assert!(parse("c.json", r#"{"appManager.array.apps": {}}"#).is_err());
    }
}
