//! `SOKETI_*` environment variables layered onto the raw configuration.
//!
//! Values are read the way Soketi reads them: JSON first (`"true"`, `"6001"`),
//! else the raw string; an empty value counts as unset.

use super::{ConfigError, RawConfig};

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Float,
    Bool,
}

#[derive(Clone, Copy)]
enum Target {
    Server,
    DefaultApp,
}

/// (variable, where it goes, key, kind)
const VARS: &[(&str, Target, &str, Kind)] = &[
    ("SOKETI_HOST", Target::Server, "host", Kind::Str),
    ("SOKETI_PORT", Target::Server, "port", Kind::Int),
    ("SOKETI_DEBUG", Target::Server, "debug", Kind::Bool),
    (
        "SOKETI_SHUTDOWN_GRACE_PERIOD",
        Target::Server,
        "shutdown_grace_period_ms",
        Kind::Int,
    ),
    (
        "SOKETI_USER_AUTHENTICATION_TIMEOUT",
        Target::Server,
        "user_authentication_timeout_ms",
        Kind::Int,
    ),
    (
        "SOKETI_PRESENCE_MAX_MEMBERS",
        Target::Server,
        "max_presence_members",
        Kind::Int,
    ),
    (
        "SOKETI_PRESENCE_MAX_MEMBER_SIZE",
        Target::Server,
        "max_presence_member_size_kb",
        Kind::Float,
    ),
    (
        "SOKETI_EVENT_MAX_BATCH_SIZE",
        Target::Server,
        "max_event_batch_size",
        Kind::Int,
    ),
    (
        "SOKETI_EVENT_MAX_CHANNELS_AT_ONCE",
        Target::Server,
        "max_event_channels_at_once",
        Kind::Int,
    ),
    (
        "SOKETI_EVENT_MAX_NAME_LENGTH",
        Target::Server,
        "max_event_name_length",
        Kind::Int,
    ),
    (
        "SOKETI_EVENT_MAX_SIZE_IN_KB",
        Target::Server,
        "max_event_payload_kb",
        Kind::Float,
    ),
    (
        "SOKETI_CHANNEL_MAX_NAME_LENGTH",
        Target::Server,
        "max_channel_name_length",
        Kind::Int,
    ),
    (
        "SOKETI_CHANNEL_LIMITS_MAX_NAME_LENGTH",
        Target::Server,
        "max_channel_name_length",
        Kind::Int,
    ),
    (
        "SOKETI_CHANNEL_CACHE_TTL",
        Target::Server,
        "cache_ttl",
        Kind::Int,
    ),
    ("SOKETI_DEFAULT_APP_ID", Target::DefaultApp, "id", Kind::Str),
    (
        "SOKETI_DEFAULT_APP_KEY",
        Target::DefaultApp,
        "key",
        Kind::Str,
    ),
    (
        "SOKETI_DEFAULT_APP_SECRET",
        Target::DefaultApp,
        "secret",
        Kind::Str,
    ),
    (
        "SOKETI_DEFAULT_APP_ENABLED",
        Target::DefaultApp,
        "enabled",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES",
        Target::DefaultApp,
        "enable_client_messages",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_USER_AUTHENTICATION",
        Target::DefaultApp,
        "enable_user_authentication",
        Kind::Bool,
    ),
    (
        "SOKETI_DEFAULT_APP_MAX_CONNS",
        Target::DefaultApp,
        "max_connections",
        Kind::Int,
    ),
    (
        "SOKETI_DEFAULT_APP_MAX_CLIENT_EVENTS_PER_SEC",
        Target::DefaultApp,
        "max_client_events_per_sec",
        Kind::Int,
    ),
];

/// Apply every set `SOKETI_*` variable. `lookup` reads one variable.
pub fn apply(
    raw: &mut RawConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    apply_redis(raw, lookup);
    for &(name, target, key, kind) in VARS {
        let Some(text) = lookup(name).filter(|v| !v.is_empty()) else {
            continue;
        };
        let value = coerce(&text, kind).ok_or_else(|| ConfigError::Env {
            name: name.into(),
            message: format!("cannot read {text:?} as {}", kind_name(kind)),
        })?;
        let table = match target {
            Target::Server => &mut raw.server,
            Target::DefaultApp => &mut raw.apps_or_default()[0],
        };
        table.insert(key.into(), value);
    }
    Ok(())
}

/// `SOKETI_ADAPTER_DRIVER`, `SOKETI_ADAPTER_REDIS_PREFIX` and `SOKETI_DB_REDIS_*`.
fn apply_redis(raw: &mut RawConfig, lookup: &dyn Fn(&str) -> Option<String>) {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    if let Some(driver) = get("SOKETI_ADAPTER_DRIVER") {
        raw.server.insert("adapter".into(), driver.into());
    }
    if let Some(prefix) = get("SOKETI_ADAPTER_REDIS_PREFIX") {
        raw.server.insert("redis_prefix".into(), prefix.into());
    }
    let parts = ["HOST", "PORT", "DB", "USERNAME", "PASSWORD"]
        .map(|p| get(&format!("SOKETI_DB_REDIS_{p}")));
    if parts.iter().all(Option::is_none) {
        return;
    }
    let [host, port, db, user, pass] = parts;
    let auth = match (user, pass) {
        (Some(u), Some(p)) => format!("{u}:{p}@"),
        (None, Some(p)) => format!(":{p}@"),
        (Some(u), None) => format!("{u}@"),
        (None, None) => String::new(),
    };
    let host = host.unwrap_or_else(|| "127.0.0.1".into());
    let url = format!(
        "redis://{auth}{host}:{}/{}",
        port.unwrap_or_else(|| "6379".into()),
        db.unwrap_or_else(|| "0".into())
    );
    raw.server.insert("redis_url".into(), url.into());
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Str => "a string",
        Kind::Int => "an integer",
        Kind::Float => "a number",
        Kind::Bool => "a boolean",
    }
}

/// JSON first, else the raw string; then into the field's kind.
fn coerce(text: &str, kind: Kind) -> Option<toml::Value> {
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
        assert_eq!(app.max_connections, Some(5));
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
        assert!(build(&[("SOKETI_ADAPTER_DRIVER", "nats")]).is_err());
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
}
