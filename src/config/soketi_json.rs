//! Soketi's JSON config file (`soketi start --config=config.json`) translated
//! into the same raw tables as the TOML file, so everything downstream is shared.
//!
//! Keys may be dot paths (`"metrics.enabled": true`) or nested objects; apps come
//! from `appManager.array.apps` with Soketi's field names and aliases. Both are
//! read as the rows of [`super::settings`] name them.

use super::env::{apply_redis, REDIS_PARTS};
use super::settings::{rows, text, LIMITS, SERVER};
use super::{ConfigError, RawConfig, Scope, Source};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// Options whose value herald already has, so they need no warning.
const NO_OP: &[(&str, &[&str])] = &[
    ("appManager.cache.enabled", &["true", "false"]),
    ("appManager.postgres.version", &[]),
    ("appManager.mysql.version", &[]),
    ("appManager.mysql.useMysql2", &[]),
    ("metrics.driver", &["prometheus"]),
    ("cache.driver", &["memory"]),
    ("rateLimiter.driver", &["local"]),
    // herald asks JetStream, not the other nodes: no request timeout or node count.
    ("adapter.nats.requestsTimeout", &[]),
    ("adapter.nats.nodesNumber", &[]),
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
        let apps = apps_of(apps, &mut warnings).map_err(file_error)?;
        for (i, (table, names)) in apps.into_iter().enumerate() {
            let at = |option: String| Source::file(path, format!("{APPS}[{i}]{option}"));
            raw.sources.record(Scope::App(i), "", at(String::new()));
            for (key, alias) in names {
                raw.sources
                    .record(Scope::App(i), key, at(format!(".{alias}")));
            }
            raw.apps.push(table);
        }
    }
    server_options(&mut raw, &mut options, path);
    for (key, value) in options {
        warnings.push(unsupported(&key, &value));
    }
    Ok((raw, warnings))
}

/// Nested objects become dot paths; arrays and scalars are leaves.
fn flatten(prefix: &str, object: Map<String, Value>, out: &mut BTreeMap<String, Value>) {
    for (key, value) in object {
        let path = match prefix {
            "" => key,
            _ => format!("{prefix}.{key}"),
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

/// Move every option a row reads from `options` into `raw.server`.
fn server_options(raw: &mut RawConfig, options: &mut BTreeMap<String, Value>, file: &str) {
    let parts = REDIS_PARTS.map(|(_, path)| {
        let value = options.remove(path)?;
        let text = match value {
            Value::Array(_) => value.to_string(),
            other => text(&other)?,
        };
        Some((text, Source::file(file, path)))
    });
    apply_redis(raw, parts);
    for row in SERVER.iter().chain(LIMITS) {
        for &path in row.json {
            let Some(value) = options.get(path).and_then(|v| row.kind.read(v.clone())) else {
                continue; // absent, or a value left for the warning (`queue.driver: kafka`)
            };
            options.remove(path);
            raw.set_server(row.key, value, Source::file(file, path));
        }
    }
    for &(path, fine) in NO_OP {
        let harmless =
            |v: &Value| fine.is_empty() || fine.contains(&text(v).unwrap_or_default().as_str());
        if options.get(path).is_some_and(harmless) {
            options.remove(path);
        }
    }
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
            Value::Object(fields) => Ok(app_of(i, fields, warnings)),
            _ => Err(format!("{APPS}[{i}] must be an object")),
        })
        .collect()
}

/// One app: the first set alias of each field; unknown fields warn.
fn app_of(i: usize, mut fields: Map<String, Value>, warnings: &mut Vec<String>) -> AppOptions {
    let mut table = toml::Table::new();
    let mut names = Vec::new();
    for row in rows() {
        let found = (row.alias.iter())
            .filter_map(|a| Some((*a, fields.remove(*a)?)))
            .find(|(_, v)| is_set(v));
        if let Some((value, alias)) = found.and_then(|(a, v)| Some((row.kind.read(v)?, a))) {
            table.insert(row.key.into(), value);
            names.push((row.key, alias.to_string()));
        }
    }
    for (key, value) in fields {
        warnings.push(unsupported(&format!("{APPS}[{i}].{key}"), &value));
    }
    (table, names)
}

/// One row of Soketi's SQL apps table (its columns as a JSON object), as an `[[apps]]` table.
pub fn app_row(
    fields: Map<String, Value>,
    warnings: &mut Vec<String>,
) -> Result<toml::Table, String> {
    Ok(app_of(0, fields, warnings).0)
}

/// Empty strings and `null` count as unset, as in Soketi.
fn is_set(value: &Value) -> bool {
    !matches!(value, Value::Null) && value.as_str() != Some("")
}

fn unsupported(key: &str, value: &Value) -> String {
    format!("config option {key} = {value} is ignored: herald does not have this feature")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::json as build;

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
        let (s, r) = (&cfg.server, &cfg.server.raw);
        assert_eq!((r.port, r.debug, r.metrics_enabled), (6010, true, true));
        assert_eq!((r.metrics_port, r.metrics_prefix.as_str()), (9700, "x_"));
        assert_eq!(s.path_prefix, "/ws");
        assert_eq!(s.shutdown_grace_period.as_millis(), 500);
        let l = &cfg.apps.by_key("app-key").unwrap().limits;
        assert_eq!((l.max_presence_members, l.max_event_payload_kb), (7, 50.0));
        assert_eq!((l.max_event_batch_size, l.max_channel_name_length), (3, 99));
    }

    #[test]
    #[rustfmt::skip]
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
        assert_eq!((a.raw.key.as_str(), a.max_connections), ("k1", Some(5)));
        let r = &a.raw;
        assert!(r.enable_client_messages && r.enable_subscription_count && r.enable_watchlist_events);
        let l = &a.limits;
        assert_eq!((l.max_presence_members, l.max_client_events_per_sec), (3, 4));
        assert_eq!(a.webhooks.len(), 1);
        let b = cfg.apps.by_key("k2").unwrap();
        let got = (b.raw.id.as_str(), b.raw.enabled, b.max_connections);
        assert_eq!(got, ("2", false, Some(1)));
        assert!(b.webhooks.is_empty());
        assert!(!b.raw.enable_subscription_count && !b.raw.enable_watchlist_events);
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("apps[1].colour"), "{warnings:?}");
    }

    #[test]
    #[rustfmt::skip]
    fn nats_options_build_the_nats_settings() {
        let text = r#"{"adapter": {"driver": "nats", "nats": {"servers": ["n:4222"],
            "token": "t", "timeout": 3000, "prefix": "p", "requestsTimeout": 5000}}}"#;
        let (cfg, warnings) = build(text);
        assert!(warnings.is_empty(), "{warnings:?}");
        let n = cfg.server.nats.unwrap();
        assert_eq!((n.servers.as_slice(), n.token.as_deref()), (&["n:4222".into()][..], Some("t")));
        assert_eq!((n.connect_timeout.as_millis(), n.prefix.as_str()), (3000, "p"));
    }

    #[test]
    #[rustfmt::skip]
    fn redis_options_build_the_cluster_settings() {
        let text = r#"{"adapter": {"driver": "redis", "redis": {"prefix": "p"}},
            "database.redis.host": "redis", "database.redis.port": 6380}"#;
        let (cfg, _) = build(text);
        let c = cfg.server.cluster.unwrap();
        assert_eq!((c.redis_url.as_str(), c.prefix.as_str()), ("redis://redis:6380/0", "p"));
        let text = r#"{"adapter": {"driver": "redis", "redis": {"clusterMode": true}},
            "database": {"redis": {"clusterNodes": [{"host": "r1", "port": 7000}, "r2:7001"]}}}"#;
        let (cfg, _) = build(text);
        let want = ["redis://r1:7000", "redis://r2:7001"];
        assert_eq!(cfg.server.cluster.unwrap().cluster_nodes, want);
    }

    /// (driver, its extra options, what it is with nothing but the driver)
    #[rustfmt::skip]
    const SQL_MANAGERS: [(&str, &str, (&str, u16, &str)); 2] = [
        ("postgres", r#""version": "13.3""#, ("127.0.0.1", 5432, "postgres")),
        ("mysql", r#""version": "5.7", "useMysql2": true"#, ("127.0.0.1", 3306, "root")),
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
            let (host, user, password) = (t.host.as_str(), t.user.as_str(), t.password.as_str());
            let want = ("db", 3307, "u", "p");
            assert_eq!((host, t.port, user, password), want, "{driver}");
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
            "appManager.driver": "array", "queue.driver": "kafka", "cors": {"origin": ["*"]}}"#;
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
