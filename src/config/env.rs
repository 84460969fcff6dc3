//! `SOKETI_*` environment variables layered onto the raw configuration.
//!
//! Values are read the way Soketi reads them: JSON first (`"true"`, `"6001"`),
//! else the raw string; an empty value counts as unset.

use super::{ConfigError, RawConfig, Source};

mod vars;

use vars::{Kind, Target, ACCEPTED, UNSUPPORTED, VARS};

/// One warning per set `SOKETI_*` variable that herald does not act on, naming
/// the variable and saying why. `vars` are every (name, value) in the environment.
pub fn unsupported<'a>(vars: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in vars {
        if !name.starts_with("SOKETI_") || value.is_empty() || is_read(name) {
            continue;
        }
        let why = match UNSUPPORTED.iter().find(|(p, _, _)| name.starts_with(p)) {
            Some((_, fine, _)) if fine.contains(&value.trim_matches('"')) => continue,
            Some((_, _, why)) => *why,
            None => "not a Soketi 1.6 variable herald knows",
        };
        out.push(format!("{name} is ignored: {why}"));
    }
    out.sort();
    out
}

fn is_read(name: &str) -> bool {
    VARS.iter().any(|(n, ..)| *n == name)
        || ACCEPTED.contains(&name)
        || name.starts_with("SOKETI_ADAPTER_")
        || name.starts_with("SOKETI_DB_REDIS_")
}

/// The variables of a `.env` file (`dotenvy`: comments, `export`, quotes,
/// escapes and `${VAR}` references as the dotenv family reads them). Lines it
/// cannot read end the list, with a warning.
pub fn parse_dotenv(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => out.push(pair),
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the rest of .env");
                break;
            }
        }
    }
    out
}

/// Read by [`apply_queue`]: `sqs` is left alone (and warned about, see `vars::UNSUPPORTED`).
const QUEUE_DRIVER: &str = "SOKETI_QUEUE_DRIVER";

/// `SOKETI_QUEUE_DRIVER=sync|redis`; `sqs` keeps the in-process queue, with a warning.
fn apply_queue(raw: &mut RawConfig, lookup: &dyn Fn(&str) -> Option<String>) {
    if let Some(driver) = lookup(QUEUE_DRIVER).filter(|v| v == "sync" || v == "redis") {
        let source = Source::Env(QUEUE_DRIVER.to_string());
        raw.set_server("queue_driver", driver.into(), source);
    }
}

/// Apply every set `SOKETI_*` variable. `lookup` reads one variable.
pub fn apply(
    raw: &mut RawConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    apply_redis(raw, lookup, &|name| Source::Env(name.to_string()));
    apply_queue(raw, lookup);
    for &(name, target, key, kind) in VARS {
        let Some(text) = lookup(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = coerce(&text, kind).ok_or_else(|| ConfigError::Env {
            name: name.into(),
            message: format!("cannot read {text:?} as {}", kind_name(kind)),
        })?;
        let source = Source::Env(name.to_string());
        match target {
            Target::Server => raw.set_server(key, value, source),
            Target::DefaultApp => raw.set_first_app(key, value, source),
        }
    }
    Ok(())
}

/// `SOKETI_ADAPTER_DRIVER`, `SOKETI_ADAPTER_REDIS_PREFIX` and `SOKETI_DB_REDIS_*`;
/// `source` says where a variable's value was written.
pub(super) fn apply_redis(
    raw: &mut RawConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
    source: &dyn Fn(&str) -> Source,
) {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    for (name, key) in [
        ("SOKETI_ADAPTER_DRIVER", "adapter"),
        ("SOKETI_ADAPTER_REDIS_PREFIX", "redis_prefix"),
    ] {
        if let Some(value) = get(name) {
            raw.set_server(key, value.into(), source(name));
        }
    }
    apply_redis_cluster(raw, &get, source);
    let names =
        ["HOST", "PORT", "DB", "USERNAME", "PASSWORD"].map(|p| format!("SOKETI_DB_REDIS_{p}"));
    let parts = names.clone().map(|name| get(&name));
    let given = names.iter().zip(&parts).filter(|(_, v)| v.is_some());
    let Some(written) = given.map(|(name, _)| source(name)).reduce(Source::and) else {
        return;
    };
    let [host, port, db, _, _] = parts;
    let auth = redis_auth(&get);
    let host = host.unwrap_or_else(|| "127.0.0.1".into());
    let url = format!(
        "redis://{auth}{host}:{}/{}",
        port.unwrap_or_else(|| "6379".into()),
        db.unwrap_or_else(|| "0".into())
    );
    raw.set_server("redis_url", url.into(), written);
}

/// The `user:password@` part of a Redis URL from `SOKETI_DB_REDIS_{USERNAME,PASSWORD}`.
fn redis_auth(get: &dyn Fn(&str) -> Option<String>) -> String {
    match (
        get("SOKETI_DB_REDIS_USERNAME"),
        get("SOKETI_DB_REDIS_PASSWORD"),
    ) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (None, Some(p)) => format!(":{p}@"),
        (Some(u), None) => format!("{u}@"),
        (None, None) => String::new(),
    }
}

/// `SOKETI_ADAPTER_REDIS_CLUSTER_MODE=true` with `SOKETI_DB_REDIS_CLUSTER_NODES`, as
/// Soketi reads them: a JSON array of `{"host":..,"port":..}` (or `"host:port"`
/// strings); without it the one seed is `SOKETI_DB_REDIS_HOST`/`_PORT`. The nodes
/// share the Redis username and password. Unreadable JSON is kept as a string, which
/// the config check then refuses (`redis_cluster_nodes` must be a list).
fn apply_redis_cluster(
    raw: &mut RawConfig,
    get: &dyn Fn(&str) -> Option<String>,
    source: &dyn Fn(&str) -> Source,
) {
    let on = get("SOKETI_ADAPTER_REDIS_CLUSTER_MODE");
    if !on.is_some_and(|v| matches!(v.as_str(), "true" | "1")) {
        return;
    }
    let auth = redis_auth(get);
    let seed = || {
        let host = get("SOKETI_DB_REDIS_HOST").unwrap_or_else(|| "127.0.0.1".into());
        let port = get("SOKETI_DB_REDIS_PORT").unwrap_or_else(|| "6379".into());
        format!("[\"{host}:{port}\"]")
    };
    let text = get("SOKETI_DB_REDIS_CLUSTER_NODES").unwrap_or_else(seed);
    let value = match cluster_nodes(&text) {
        Some(nodes) => {
            let urls = nodes.iter().map(|n| format!("redis://{auth}{n}").into());
            toml::Value::Array(urls.collect())
        }
        None => text.into(),
    };
    let from = [
        "SOKETI_ADAPTER_REDIS_CLUSTER_MODE",
        "SOKETI_DB_REDIS_CLUSTER_NODES",
    ];
    let written = from.map(source).into_iter().reduce(Source::and);
    if let Some(written) = written {
        raw.set_server("redis_cluster_nodes", value, written);
    }
}

/// `host:port` of each node in Soketi's `clusterNodes` JSON.
fn cluster_nodes(text: &str) -> Option<Vec<String>> {
    let list: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    let node = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.trim_start_matches("redis://").to_string()),
        serde_json::Value::Object(o) => {
            let host = o
                .get("host")
                .and_then(|h| h.as_str())
                .unwrap_or("127.0.0.1");
            let port = match o.get("port") {
                Some(serde_json::Value::Number(n)) => n.to_string(),
                Some(serde_json::Value::String(s)) => s.clone(),
                _ => "6379".into(),
            };
            Some(format!("{host}:{port}"))
        }
        _ => None,
    };
    list.iter().map(node).collect()
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Int => "an integer",
        Kind::Float => "a number",
        Kind::Bool => "a boolean",
        Kind::Megabytes => "a number of megabytes",
        Kind::JsonArray => "a JSON array",
        Kind::Raw => "text",
        Kind::List => "addresses separated by commas",
    }
}

/// JSON first, else the raw string; then into the field's kind.
fn coerce(text: &str, kind: Kind) -> Option<toml::Value> {
    if let Kind::Raw = kind {
        return Some(toml::Value::String(text.to_string()));
    }
    if let Kind::List = kind {
        return list(text);
    }
    let json = serde_json::from_str::<serde_json::Value>(text)
        .unwrap_or_else(|_| serde_json::Value::String(text.to_string()));
    use serde_json::Value as J;
    Some(match (kind, json) {
        (Kind::Str, J::String(s)) => toml::Value::String(s),
        (Kind::Str, J::Number(n)) => toml::Value::String(n.to_string()),
        (Kind::Int, J::Number(n)) => {
            toml::Value::Integer(n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?)
        }
        (Kind::Float, J::Number(n)) => toml::Value::Float(n.as_f64()?),
        (Kind::Megabytes, J::Number(n)) => toml::Value::Integer((n.as_f64()? * 1024.0) as i64),
        (Kind::JsonArray, j @ J::Array(_)) => json_to_toml(j)?,
        (Kind::Bool, J::Bool(b)) => toml::Value::Boolean(b),
        (Kind::Bool, J::Number(n)) => toml::Value::Boolean(n.as_f64()? != 0.0),
        (Kind::Bool, J::String(s)) => toml::Value::Boolean(match s.to_ascii_lowercase().as_str() {
            "yes" | "on" => true,
            "no" | "off" => false,
            _ => return None,
        }),
        _ => return None,
    })
}

/// `["a","b"]` or `a, b` as a TOML array of strings.
fn list(text: &str) -> Option<toml::Value> {
    let items: Vec<String> = match serde_json::from_str::<Vec<String>>(text) {
        Ok(items) => items,
        Err(_) if text.trim_start().starts_with('[') => return None,
        Err(_) => text.split(',').map(|s| s.trim().to_string()).collect(),
    };
    let items = items.into_iter().filter(|s| !s.is_empty());
    Some(toml::Value::Array(items.map(toml::Value::String).collect()))
}

/// JSON into TOML; `null` (which TOML lacks) drops the key.
pub(super) fn json_to_toml(j: serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match j {
        J::Null => return None,
        J::Bool(b) => toml::Value::Boolean(b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        J::String(s) => toml::Value::String(s),
        J::Array(a) => toml::Value::Array(a.into_iter().filter_map(json_to_toml).collect()),
        J::Object(o) => toml::Value::Table(
            o.into_iter()
                .filter_map(|(k, v)| Some((k, json_to_toml(v)?)))
                .collect(),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn build(vars: &[(&str, &str)]) -> Result<super::super::Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut raw = RawConfig::default();
        apply(&mut raw, &|k| map.get(k).cloned())?;
        raw.build()
    }

    #[test]
    fn soketi_variables_set_server_and_default_app() {
        let cfg = build(&[
            ("SOKETI_PORT", "6010"),
            ("SOKETI_DEBUG", "1"),
            ("SOKETI_DEFAULT_APP_ID", "123"),
            ("SOKETI_DEFAULT_APP_KEY", "key"),
            ("SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES", "true"),
            ("SOKETI_DEFAULT_APP_ENABLE_SUBSCRIPTION_COUNT", "true"),
            ("SOKETI_DEFAULT_APP_ENABLE_WATCHLIST_EVENTS", "1"),
            ("SOKETI_DEFAULT_APP_MAX_CONNS", "5"),
            ("SOKETI_SHUTDOWN_GRACE_PERIOD", "100"),
        ])
        .unwrap();
        assert_eq!(cfg.server.port, 6010);
        assert!(cfg.server.debug);
        assert_eq!(cfg.server.shutdown_grace_period.as_millis(), 100);
        let app = cfg.apps.by_id("123").unwrap();
        assert_eq!(app.key, "key");
        assert_eq!(app.secret, "app-secret");
        assert!(app.enable_client_messages);
        assert!(app.enable_subscription_count && app.enable_watchlist_events);
        assert_eq!(app.max_connections, Some(5));
    }

    #[test]
    fn trusted_proxies_and_the_reconnect_window_come_from_herald_variables() {
        let cfg = build(&[
            ("HERALD_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
            ("HERALD_SHUTDOWN_RECONNECT_WINDOW", "250"),
        ])
        .unwrap();
        let proxies = &cfg.server.guard.trusted_proxies;
        assert!(proxies.trusts("10.9.8.7".parse().unwrap()));
        assert!(proxies.trusts("127.0.0.1".parse().unwrap()));
        assert!(!proxies.trusts("192.0.2.1".parse().unwrap()));
        assert_eq!(cfg.server.reconnect_window.as_millis(), 250);
        let cfg = build(&[("HERALD_TRUSTED_PROXIES", r#"["::1"]"#)]).unwrap();
        assert!(cfg
            .server
            .guard
            .trusted_proxies
            .trusts("::1".parse().unwrap()));
        let err = build(&[("HERALD_TRUSTED_PROXIES", "nginx")]).unwrap_err();
        assert!(err.to_string().contains("trusted_proxies"), "{err}");
        let cfg = build(&[]).unwrap();
        assert!(cfg.server.guard.trusted_proxies.is_empty());
        assert_eq!(cfg.server.reconnect_window.as_millis(), 1000);
    }

    #[test]
    fn soketi_redis_variables_build_the_url() {
        let cfg = build(&[
            ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_DB_REDIS_HOST", "redis"),
            ("SOKETI_DB_REDIS_PASSWORD", "pw"),
            ("SOKETI_DB_REDIS_DB", "2"),
            ("SOKETI_ADAPTER_REDIS_PREFIX", "site-a"),
        ])
        .unwrap();
        let cluster = cfg.server.cluster.unwrap();
        assert_eq!(cluster.redis_url, "redis://:pw@redis:6379/2");
        assert_eq!(cluster.prefix, "site-a");
        assert!(build(&[("SOKETI_ADAPTER_DRIVER", "kafka")]).is_err());
    }

    #[test]
    fn soketi_nats_variables_build_the_nats_settings() {
        let cfg = build(&[
            ("SOKETI_ADAPTER_DRIVER", "nats"),
            ("SOKETI_ADAPTER_NATS_SERVERS", r#"["n1:4222","n2:4223"]"#),
            ("SOKETI_ADAPTER_NATS_USER", "u"),
            ("SOKETI_ADAPTER_NATS_PASSWORD", "123"),
            ("SOKETI_ADAPTER_NATS_TIMEOUT", "2500"),
            ("SOKETI_ADAPTER_NATS_PREFIX", "site-a"),
        ])
        .unwrap();
        assert!(cfg.server.cluster.is_none());
        let nats = cfg.server.nats.unwrap();
        assert_eq!(nats.servers, ["n1:4222", "n2:4223"]);
        assert_eq!(nats.user.as_deref(), Some("u"));
        assert_eq!(nats.password.as_deref(), Some("123"), "kept as text");
        assert_eq!(nats.token, None);
        assert_eq!(nats.connect_timeout.as_millis(), 2500);
        assert_eq!(nats.prefix, "site-a");
        let nats = build(&[("SOKETI_ADAPTER_DRIVER", "nats")])
            .unwrap()
            .server
            .nats;
        assert_eq!(
            nats.unwrap().servers,
            ["127.0.0.1:4222"],
            "Soketi's default"
        );
    }

    #[test]
    fn soketi_redis_cluster_variables_give_the_seed_nodes() {
        let cfg = build(&[
            ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ("SOKETI_DB_REDIS_PASSWORD", "pw"),
            (
                "SOKETI_DB_REDIS_CLUSTER_NODES",
                r#"[{"host":"r1","port":7000},{"host":"r2","port":"7001"},"r3:7002"]"#,
            ),
        ])
        .unwrap();
        let cluster = cfg.server.cluster.unwrap();
        assert_eq!(
            cluster.cluster_nodes,
            [
                "redis://:pw@r1:7000",
                "redis://:pw@r2:7001",
                "redis://:pw@r3:7002"
            ]
        );
        let cfg = build(&[
            ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ("SOKETI_DB_REDIS_HOST", "seed"),
        ])
        .unwrap();
        let cluster = cfg.server.cluster.unwrap();
        assert_eq!(cluster.cluster_nodes, ["redis://seed:6379"]);
        let cfg = build(&[
            ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ("SOKETI_DB_REDIS_CLUSTER_NODES", r#"["r1:7000"]"#),
            ("SOKETI_QUEUE_DRIVER", "redis"),
        ])
        .unwrap();
        let queue = cfg.server.webhooks.redis_queue.unwrap();
        assert_eq!(
            queue.cluster_nodes,
            ["redis://r1:7000"],
            "the adapter's seeds"
        );
        let bad = build(&[
            ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            ("SOKETI_DB_REDIS_CLUSTER_NODES", "not json"),
        ]);
        assert!(bad.is_err(), "unreadable nodes are refused");
    }

    #[test]
    fn soketi_mysql_variables_build_the_apps_table() {
        let cfg = build(&[
            ("SOKETI_APP_MANAGER_DRIVER", "mysql"),
            ("SOKETI_DB_MYSQL_HOST", "mysql"),
            ("SOKETI_DB_MYSQL_PORT", "3307"),
            ("SOKETI_DB_MYSQL_USERNAME", "soketi"),
            ("SOKETI_DB_MYSQL_PASSWORD", "123"),
            ("SOKETI_DB_MYSQL_DATABASE", "laravel"),
            ("SOKETI_APP_MANAGER_MYSQL_TABLE", "soketi_apps"),
            ("SOKETI_APP_MANAGER_CACHE_TTL", "30"),
        ])
        .unwrap();
        let t = cfg.server.app_table.unwrap();
        assert_eq!(t.driver, super::super::Driver::Mysql);
        assert_eq!(
            (t.host.as_str(), t.port, t.user.as_str()),
            ("mysql", 3307, "soketi")
        );
        // A password of digits stays text (it is never read as JSON).
        assert_eq!(t.password, "123");
        assert_eq!(
            (t.database.as_str(), t.table.as_str()),
            ("laravel", "soketi_apps")
        );
        assert_eq!(t.refresh.as_secs(), 30);
        assert!(cfg.apps.iter().next().is_none(), "apps come from the table");
        let err = build(&[
            ("SOKETI_APP_MANAGER_DRIVER", "mysql"),
            ("SOKETI_APP_MANAGER_MYSQL_TABLE", "apps; DROP TABLE apps"),
        ])
        .unwrap_err();
        assert!(err.to_string().contains("not a plain table name"), "{err}");
    }

    #[test]
    fn empty_is_unset_and_bad_values_name_the_variable() {
        let cfg = build(&[("SOKETI_PORT", "")]).unwrap();
        assert_eq!(cfg.server.port, 6001);
        let err = build(&[("SOKETI_PORT", "abc")]).unwrap_err();
        assert!(err.to_string().contains("SOKETI_PORT"), "{err}");
        let cfg = build(&[("SOKETI_DEFAULT_APP_MAX_CONNS", "-1")]).unwrap();
        assert_eq!(cfg.apps.by_id("app-id").unwrap().max_connections, None);
    }

    #[test]
    fn metrics_prefix_limits_webhooks_and_request_size() {
        let hooks = r#"[{"url":"http://hooks.test/pusher","event_types":["channel_occupied"],"filter":{"channel_name_starts_with":"private-"},"headers":{"X-Token":"t"},"lambda":null}]"#;
        let cfg = build(&[
            ("SOKETI_METRICS_ENABLED", "true"),
            ("SOKETI_METRICS_SERVER_PORT", "9700"),
            ("SOKETI_METRICS_PROMETHEUS_PREFIX", "herald_"),
            ("SOKETI_PATH_PREFIX", "ws/"),
            ("SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC", "50"),
            ("SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC", "7"),
            ("SOKETI_DEFAULT_APP_WEBHOOKS", hooks),
            ("SOKETI_WEBHOOKS_BATCHING", "true"),
            ("SOKETI_WEBHOOKS_BATCHING_DURATION", "200"),
            ("SOKETI_HTTP_MAX_REQUEST_SIZE", "2"),
        ])
        .unwrap();
        let s = &cfg.server;
        assert!(s.metrics.enabled);
        assert_eq!(
            (s.metrics.port, s.metrics.prefix.as_str()),
            (9700, "herald_")
        );
        assert_eq!(s.path_prefix, "/ws");
        assert_eq!(s.max_request_bytes, 2 * 1024 * 1024);
        assert_eq!(
            s.webhooks.batching,
            Some(std::time::Duration::from_millis(200))
        );
        let app = cfg.apps.by_id("app-id").unwrap();
        assert_eq!(app.limits.max_backend_events_per_sec, 50);
        assert_eq!(app.limits.max_read_req_per_sec, 7);
        let hook = &app.webhooks[0];
        assert_eq!(hook.url, "http://hooks.test/pusher");
        assert_eq!(hook.headers, vec![("X-Token".to_string(), "t".to_string())]);
        assert!(hook.wants("channel_occupied", "private-a"));
        assert!(!hook.wants("channel_occupied", "public"));
        let err = build(&[("SOKETI_DEFAULT_APP_WEBHOOKS", "{}")]).unwrap_err();
        assert!(
            err.to_string().contains("SOKETI_DEFAULT_APP_WEBHOOKS"),
            "{err}"
        );
    }

    #[test]
    fn unsupported_variables_each_get_a_named_warning() {
        let vars = [
            ("SOKETI_SSL_CA", "/ca.pem"),
            ("SOKETI_SSL_CERT", "/c.pem"),
            ("SOKETI_QUEUE_DRIVER", "sqs"),
            ("SOKETI_QUEUE_DRIVER_OK", ""),
            ("SOKETI_RATE_LIMITER_DRIVER", "cluster"),
            ("SOKETI_CACHE_DRIVER", "memory"),
            ("SOKETI_MODE", "worker"),
            ("SOKETI_APP_MANAGER_DYNAMODB_TABLE", "apps"),
            ("SOKETI_APP_MANAGER_MYSQL_TABLE", "apps"),
            ("SOKETI_APP_MANAGER_MYSQL_VERSION", "8.0"),
            ("SOKETI_APP_MANAGER_MYSQL_USE_V2", "true"),
            ("SOKETI_DB_MYSQL_HOST", "db"),
            ("SOKETI_DB_POOLING_MAX", "7"),
            ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_DB_REDIS_HOST", "redis"),
            ("SOKETI_PORT", "6001"),
            ("SOKETI_PORTT", "6001"),
            ("PATH", "/bin"),
        ];
        let warnings = unsupported(vars.iter().copied());
        let named: Vec<&str> = warnings
            .iter()
            .map(|w| w.split(' ').next().unwrap())
            .collect();
        assert_eq!(
            named,
            [
                "SOKETI_APP_MANAGER_DYNAMODB_TABLE",
                "SOKETI_DB_POOLING_MAX",
                "SOKETI_PORTT",
                "SOKETI_QUEUE_DRIVER",
                "SOKETI_RATE_LIMITER_DRIVER",
                "SOKETI_SSL_CA",
            ]
        );
        assert!(warnings.iter().any(|w| w.contains("SOKETI_SSL_CERT after")));
    }

    #[test]
    fn soketi_mode_and_redis_queue_are_read() {
        use crate::config::Mode;
        let cfg = build(&[
            ("SOKETI_MODE", "worker"),
            ("SOKETI_QUEUE_DRIVER", "redis"),
            ("SOKETI_DB_REDIS_PORT", "6390"),
            ("SOKETI_ADAPTER_REDIS_PREFIX", "p"),
        ])
        .unwrap();
        assert_eq!(cfg.server.mode, Mode::Worker);
        let queue = cfg.server.webhooks.redis_queue.unwrap();
        assert_eq!(queue.redis_url, "redis://127.0.0.1:6390/0");
        assert_eq!(queue.prefix, "p");
        let cfg = build(&[("SOKETI_QUEUE_DRIVER", "sqs")]).unwrap();
        assert_eq!(cfg.server.webhooks.redis_queue, None);
        assert_eq!(cfg.server.mode, Mode::Full);
        let err = build(&[("SOKETI_MODE", "both")]).unwrap_err();
        assert!(err.to_string().contains("SOKETI_MODE"), "{err}");
        let quiet = [("SOKETI_QUEUE_DRIVER", "redis"), ("SOKETI_MODE", "server")];
        assert!(unsupported(quiet.iter().copied()).is_empty());
    }

    #[test]
    fn soketi_ssl_variables_turn_tls_on_verbatim() {
        let cfg = build(&[
            ("SOKETI_SSL_CERT", "/etc/ssl/c.pem"),
            ("SOKETI_SSL_KEY", "/etc/ssl/k.pem"),
            ("SOKETI_SSL_PASS", "true"),
        ])
        .unwrap();
        let tls = cfg.server.tls.unwrap();
        assert_eq!(tls.cert, "/etc/ssl/c.pem");
        assert_eq!(tls.key, "/etc/ssl/k.pem");
        assert_eq!(tls.passphrase.as_deref(), Some("true"));
        let err = build(&[("SOKETI_SSL_KEY", "/k.pem")]).unwrap_err();
        assert!(err.to_string().contains("SOKETI_SSL_CERT"), "{err}");
    }

    #[test]
    fn dotenv_lines_are_read_like_dotenv() {
        let text = "# comment\n\nSOKETI_PORT=6010\nexport SOKETI_DEBUG=\"true\"\nSOKETI_DEFAULT_APP_KEY='k=1'\nnonsense\n";
        assert_eq!(
            parse_dotenv(text),
            vec![
                ("SOKETI_PORT".to_string(), "6010".to_string()),
                ("SOKETI_DEBUG".to_string(), "true".to_string()),
                ("SOKETI_DEFAULT_APP_KEY".to_string(), "k=1".to_string()),
            ]
        );
    }
}
