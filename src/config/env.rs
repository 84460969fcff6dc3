//! `SOKETI_*` and `HERALD_*` environment variables layered onto the raw
//! configuration, as the rows of [`super::settings`] name them.
//!
//! Values are read the way Soketi reads them: JSON first (`"true"`, `"6001"`),
//! else the raw string; an empty value counts as unset.

use super::settings::{rows, DEFAULT_APP};
use super::{ConfigError, RawConfig, Source};

/// Soketi's Redis connection, written in parts: (variable, Soketi JSON path).
#[rustfmt::skip]
pub(super) const REDIS_PARTS: [(&str, &str); 7] = [
    ("SOKETI_DB_REDIS_HOST", "database.redis.host"),
    ("SOKETI_DB_REDIS_PORT", "database.redis.port"),
    ("SOKETI_DB_REDIS_DB", "database.redis.db"),
    ("SOKETI_DB_REDIS_USERNAME", "database.redis.username"),
    ("SOKETI_DB_REDIS_PASSWORD", "database.redis.password"),
    ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "adapter.redis.clusterMode"),
    ("SOKETI_DB_REDIS_CLUSTER_NODES", "database.redis.clusterNodes"),
];

/// Soketi variables herald accepts and needs no value of: the version hints and
/// the choice of Node driver Soketi hands to Knex.
const ACCEPTED: &[&str] = &[
    "SOKETI_APP_MANAGER_MYSQL_VERSION",
    "SOKETI_APP_MANAGER_MYSQL_USE_V2",
    "SOKETI_APP_MANAGER_POSTGRES_VERSION",
];

/// Soketi variables for features herald does not have, by prefix, with the
/// values that need no warning (herald already behaves that way) and why the
/// others are ignored.
#[rustfmt::skip]
const UNSUPPORTED: &[(&str, &[&str], &str)] = &[
    ("SOKETI_SSL_CA", &[], "client certificates are not verified; put intermediate certificates in SOKETI_SSL_CERT after the server's"),
    ("SOKETI_APP_MANAGER_CACHE_ENABLED", &["true", "false", "1", "0"], "apps from Postgres or MySQL are always kept in memory and read again every SOKETI_APP_MANAGER_CACHE_TTL seconds"),
    ("SOKETI_APP_MANAGER_", &[], "apps come from the config file, SOKETI_DEFAULT_APP_*, Postgres, MySQL or DynamoDB"),
    ("SOKETI_DB_MYSQL_", &[], "not a MySQL setting herald reads"),
    ("SOKETI_DB_POSTGRES_", &[], "not a Postgres setting herald reads"),
    ("SOKETI_DB_POOLING_", &[], "the apps table is read over one connection every SOKETI_APP_MANAGER_CACHE_TTL seconds; there is no pool to size"),
    ("SOKETI_QUEUE_", &[], "the Redis queue uses SOKETI_DB_REDIS_* and the adapter's prefix; each worker node delivers up to 64 jobs per app at once, retries included"),
    ("SOKETI_CACHE_DRIVER", &["memory"], "cache channels live in memory, or in Redis or NATS JetStream with SOKETI_ADAPTER_DRIVER=redis or nats"),
    ("SOKETI_CACHE_", &[], "cache channels live in memory, or in Redis or NATS JetStream with SOKETI_ADAPTER_DRIVER=redis or nats"),
    ("SOKETI_RATE_LIMITER_DRIVER", &["local", "redis"], "HTTP API limits follow the adapter: cluster-wide with Redis or NATS, per node otherwise"),
    ("SOKETI_RATE_LIMITER_", &[], "HTTP API limits follow the adapter: cluster-wide with Redis or NATS, per node otherwise"),
    ("SOKETI_METRICS_DRIVER", &["prometheus"], "only Prometheus metrics exist"),
];

/// One warning per set `SOKETI_*` variable that herald does not act on, naming
/// the variable and saying why. `vars` are every (name, value) in the environment.
pub fn unsupported<'a>(vars: impl Iterator<Item = (&'a str, &'a str)>) -> Vec<String> {
    let mut out = Vec::new();
    for (name, value) in vars {
        if !name.starts_with("SOKETI_") || value.is_empty() || is_read(name, value) {
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

/// Whether a row reads this variable with this value, or it is accepted as it is.
fn is_read(name: &str, value: &str) -> bool {
    rows().any(|row| row.env.contains(&name) && row.kind.read_text(value).is_some())
        || ACCEPTED.contains(&name)
        || REDIS_PARTS.iter().any(|(var, _)| *var == name)
        || name.starts_with("SOKETI_ADAPTER_")
        || name.starts_with("SOKETI_CLUSTER_") // one process needs no discovery (see main)
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

/// Apply every set variable a row names. `lookup` reads one variable. A value
/// of the wrong type is reported when the configuration is built, by its variable.
pub fn apply(
    raw: &mut RawConfig,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let get = |name: &str| lookup(name).filter(|v| !v.is_empty());
    let parts = REDIS_PARTS.map(|(name, _)| get(name).map(|v| (v, Source::Env(name.into()))));
    apply_redis(raw, parts);
    for row in rows() {
        for &name in row.env {
            let Some(value) = get(name).and_then(|text| row.kind.read_text(&text)) else {
                continue;
            };
            let source = Source::Env(name.to_string());
            if name.starts_with(DEFAULT_APP) {
                raw.set_first_app(row.key, value, source);
            } else {
                raw.set_server(row.key, value, source);
            }
        }
    }
    Ok(())
}

/// A written part of the Redis connection: its text and where it was written.
pub(super) type Part = Option<(String, Source)>;

/// `redis_url` from Soketi's host, port, db, username and password, and
/// `redis_cluster_nodes` when cluster mode is on (the parts of [`REDIS_PARTS`]).
pub(super) fn apply_redis(raw: &mut RawConfig, parts: [Part; 7]) {
    let text = |i: usize, or: &str| parts[i].as_ref().map_or(or.to_string(), |(t, _)| t.clone());
    let auth = match (&parts[3], &parts[4]) {
        (Some((u, _)), Some((p, _))) => format!("{u}:{p}@"),
        (None, Some((p, _))) => format!(":{p}@"),
        (Some((u, _)), None) => format!("{u}@"),
        (None, None) => String::new(),
    };
    let (host, port, db) = (text(0, "127.0.0.1"), text(1, "6379"), text(2, "0"));
    let written = |range: std::ops::Range<usize>| {
        let sources = parts[range].iter().flatten().map(|(_, s)| s.clone());
        sources.reduce(Source::and)
    };
    if matches!(text(5, "").as_str(), "true" | "1") {
        let nodes = text(6, &format!("[\"{host}:{port}\"]"));
        let value = match cluster_nodes(&nodes) {
            Some(list) => {
                let urls = list.iter().map(|n| format!("redis://{auth}{n}").into());
                toml::Value::Array(urls.collect())
            }
            None => toml::Value::from(nodes),
        };
        if let Some(from) = written(5..7) {
            raw.set_server("redis_cluster_nodes", value, from);
        }
    }
    if let Some(from) = written(0..5) {
        let url = format!("redis://{auth}{host}:{port}/{db}");
        raw.set_server("redis_url", url.into(), from);
    }
}

/// `host:port` of each node in Soketi's `clusterNodes` JSON: `{"host":..,"port":..}`
/// objects or `"host:port"` strings.
fn cluster_nodes(text: &str) -> Option<Vec<String>> {
    let list: Vec<serde_json::Value> = serde_json::from_str(text).ok()?;
    let node = |v: &serde_json::Value| match v {
        serde_json::Value::String(s) => Some(s.trim_start_matches("redis://").to_string()),
        serde_json::Value::Object(o) => {
            let host = o
                .get("host")
                .and_then(|h| h.as_str())
                .unwrap_or("127.0.0.1");
            let port = o.get("port").and_then(super::settings::text);
            Some(format!("{host}:{}", port.as_deref().unwrap_or("6379")))
        }
        _ => None,
    };
    list.iter().map(node).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::vars as build;
    use crate::config::{Driver, Mode};

    /// The error of building `vars`, which must fail, and that it names `want`.
    fn error_names(vars: &[(&str, &str)], want: &str) {
        let err = build(vars).unwrap_err();
        assert!(err.to_string().contains(want), "{err}");
    }

    const REDIS: (&str, &str) = ("SOKETI_ADAPTER_DRIVER", "redis");
    const CLUSTER_MODE: (&str, &str) = ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true");

    #[test]
    #[rustfmt::skip]
    fn soketi_variables_set_server_and_default_app() {
        let cfg = build(&[
            ("SOKETI_PORT", "6010"), ("SOKETI_DEBUG", "1"),
            ("SOKETI_DEFAULT_APP_ID", "123"), ("SOKETI_DEFAULT_APP_KEY", "key"),
            ("SOKETI_DEFAULT_APP_ENABLE_CLIENT_MESSAGES", "true"),
            ("SOKETI_DEFAULT_APP_ENABLE_SUBSCRIPTION_COUNT", "true"),
            ("SOKETI_DEFAULT_APP_ENABLE_WATCHLIST_EVENTS", "1"),
            ("SOKETI_DEFAULT_APP_MAX_CONNS", "5"), ("SOKETI_SHUTDOWN_GRACE_PERIOD", "100"),
        ]).unwrap();
        let s = &cfg.server;
        assert_eq!((s.raw.port, s.raw.debug, s.shutdown_grace_period.as_millis()), (6010, true, 100));
        let app = cfg.apps.by_id("123").unwrap();
        assert_eq!((app.raw.key.as_str(), app.raw.secret.as_str()), ("key", "app-secret"));
        let r = &app.raw;
        assert!(r.enable_client_messages && r.enable_subscription_count && r.enable_watchlist_events);
        assert_eq!(app.max_connections, Some(5));
    }

    #[test]
    fn trusted_proxies_and_the_reconnect_window_come_from_herald_variables() {
        let proxies = ("HERALD_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8");
        let cfg = build(&[proxies, ("HERALD_SHUTDOWN_RECONNECT_WINDOW", "250")]).unwrap();
        let trusts = |cfg: &crate::config::Config, ip: &str| {
            cfg.server.guard.trusted_proxies.trusts(ip.parse().unwrap())
        };
        assert!(trusts(&cfg, "10.9.8.7") && trusts(&cfg, "127.0.0.1"));
        assert!(!trusts(&cfg, "192.0.2.1"));
        assert_eq!(cfg.server.reconnect_window.as_millis(), 250);
        let cfg = build(&[("HERALD_TRUSTED_PROXIES", r#"["::1"]"#)]).unwrap();
        assert!(trusts(&cfg, "::1"));
        error_names(&[("HERALD_TRUSTED_PROXIES", "nginx")], "trusted_proxies");
        let cfg = build(&[]).unwrap();
        assert!(cfg.server.guard.trusted_proxies.is_empty());
        assert_eq!(cfg.server.reconnect_window.as_millis(), 1000);
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_redis_variables_build_the_url() {
        let cfg = build(&[
            REDIS, ("SOKETI_DB_REDIS_HOST", "redis"), ("SOKETI_DB_REDIS_PASSWORD", "pw"),
            ("SOKETI_DB_REDIS_DB", "2"), ("SOKETI_ADAPTER_REDIS_PREFIX", "site-a"),
        ]).unwrap();
        let cluster = cfg.server.cluster.unwrap();
        assert_eq!((cluster.redis_url.as_str(), cluster.prefix.as_str()), ("redis://:pw@redis:6379/2", "site-a"));
        assert!(build(&[("SOKETI_ADAPTER_DRIVER", "kafka")]).is_err());
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_nats_variables_build_the_nats_settings() {
        let cfg = build(&[
            ("SOKETI_ADAPTER_DRIVER", "nats"), ("SOKETI_ADAPTER_NATS_SERVERS", r#"["n1:4222","n2:4223"]"#),
            ("SOKETI_ADAPTER_NATS_USER", "u"), ("SOKETI_ADAPTER_NATS_PASSWORD", "123"),
            ("SOKETI_ADAPTER_NATS_TIMEOUT", "2500"), ("SOKETI_ADAPTER_NATS_PREFIX", "site-a"),
        ]).unwrap();
        assert!(cfg.server.cluster.is_none());
        let nats = cfg.server.nats.unwrap();
        assert_eq!(nats.servers, ["n1:4222", "n2:4223"]);
        let secrets = (nats.user.as_deref(), nats.password.as_deref(), nats.token.as_deref());
        assert_eq!(secrets, (Some("u"), Some("123"), None), "the password kept as text");
        assert_eq!((nats.connect_timeout.as_millis(), nats.prefix.as_str()), (2500, "site-a"));
        let nats = build(&[("SOKETI_ADAPTER_DRIVER", "nats")]).unwrap().server.nats;
        assert_eq!(nats.unwrap().servers, ["127.0.0.1:4222"], "Soketi's default");
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_redis_cluster_variables_give_the_seed_nodes() {
        let nodes = r#"[{"host":"r1","port":7000},{"host":"r2","port":"7001"},"r3:7002"]"#;
        let nodes = [REDIS, CLUSTER_MODE, ("SOKETI_DB_REDIS_PASSWORD", "pw"), ("SOKETI_DB_REDIS_CLUSTER_NODES", nodes)];
        let cluster = build(&nodes).unwrap().server.cluster.unwrap();
        assert_eq!(cluster.cluster_nodes, ["redis://:pw@r1:7000", "redis://:pw@r2:7001", "redis://:pw@r3:7002"]);
        let seed = [REDIS, CLUSTER_MODE, ("SOKETI_DB_REDIS_HOST", "seed")];
        let cluster = build(&seed).unwrap().server.cluster.unwrap();
        assert_eq!(cluster.cluster_nodes, ["redis://seed:6379"]);
        let nodes = ("SOKETI_DB_REDIS_CLUSTER_NODES", r#"["r1:7000"]"#);
        let queue = [REDIS, CLUSTER_MODE, nodes, ("SOKETI_QUEUE_DRIVER", "redis")];
        let queue = build(&queue).unwrap().server.webhooks.redis_queue.unwrap();
        assert_eq!(queue.cluster_nodes, ["redis://r1:7000"], "the adapter's seeds");
        let bad = [REDIS, CLUSTER_MODE, ("SOKETI_DB_REDIS_CLUSTER_NODES", "not json")];
        assert!(build(&bad).is_err(), "unreadable nodes are refused");
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_mysql_variables_build_the_apps_table() {
        let cfg = build(&[
            ("SOKETI_APP_MANAGER_DRIVER", "mysql"), ("SOKETI_DB_MYSQL_HOST", "mysql"),
            ("SOKETI_DB_MYSQL_PORT", "3307"), ("SOKETI_DB_MYSQL_USERNAME", "soketi"),
            ("SOKETI_DB_MYSQL_PASSWORD", "123"), ("SOKETI_DB_MYSQL_DATABASE", "laravel"),
            ("SOKETI_APP_MANAGER_MYSQL_TABLE", "soketi_apps"), ("SOKETI_APP_MANAGER_CACHE_TTL", "30"),
        ]).unwrap();
        let t = cfg.server.app_table.unwrap();
        assert_eq!((t.driver, t.host.as_str(), t.port, t.user.as_str()), (Driver::Mysql, "mysql", 3307, "soketi"));
        // A password of digits stays text (it is never read as JSON).
        assert_eq!((t.password.as_str(), t.database.as_str(), t.table.as_str()), ("123", "laravel", "soketi_apps"));
        assert_eq!(t.refresh.as_secs(), 30);
        assert!(cfg.apps.iter().next().is_none(), "apps come from the table");
        let table = ("SOKETI_APP_MANAGER_MYSQL_TABLE", "apps; DROP TABLE apps");
        error_names(&[("SOKETI_APP_MANAGER_DRIVER", "mysql"), table], "not a plain table name");
    }

    #[test]
    fn empty_is_unset_and_bad_values_name_the_variable() {
        assert_eq!(build(&[("SOKETI_PORT", "")]).unwrap().server.raw.port, 6001);
        error_names(&[("SOKETI_PORT", "abc")], "SOKETI_PORT");
        let cfg = build(&[("SOKETI_DEFAULT_APP_MAX_CONNS", "-1")]).unwrap();
        assert_eq!(cfg.apps.by_id("app-id").unwrap().max_connections, None);
    }

    #[test]
    #[rustfmt::skip]
    fn metrics_prefix_limits_webhooks_and_request_size() {
        let hooks = r#"[{"url":"http://hooks.test/pusher","event_types":["channel_occupied"],"filter":{"channel_name_starts_with":"private-"},"headers":{"X-Token":"t"},"lambda":null}]"#;
        let cfg = build(&[
            ("SOKETI_METRICS_ENABLED", "true"), ("SOKETI_METRICS_SERVER_PORT", "9700"),
            ("SOKETI_METRICS_PROMETHEUS_PREFIX", "herald_"), ("SOKETI_PATH_PREFIX", "ws/"),
            ("SOKETI_DEFAULT_APP_MAX_BACKEND_EVENTS_PER_SEC", "50"), ("SOKETI_DEFAULT_APP_MAX_READ_REQ_PER_SEC", "7"),
            ("SOKETI_DEFAULT_APP_WEBHOOKS", hooks), ("SOKETI_WEBHOOKS_BATCHING", "true"),
            ("SOKETI_WEBHOOKS_BATCHING_DURATION", "200"), ("SOKETI_HTTP_MAX_REQUEST_SIZE", "2"),
        ]).unwrap();
        let s = &cfg.server;
        assert_eq!((s.raw.metrics_enabled, s.raw.metrics_port, s.raw.metrics_prefix.as_str()), (true, 9700, "herald_"));
        assert_eq!((s.path_prefix.as_str(), s.max_request_bytes), ("/ws", 2 * 1024 * 1024));
        assert_eq!(s.webhooks.batching, Some(std::time::Duration::from_millis(200)));
        let app = cfg.apps.by_id("app-id").unwrap();
        assert_eq!((app.limits.max_backend_events_per_sec, app.limits.max_read_req_per_sec), (50, 7));
        let hook = &app.webhooks[0];
        assert_eq!((hook.url.as_str(), hook.headers.as_slice()), ("http://hooks.test/pusher", &[("X-Token".into(), "t".into())][..]));
        assert!(hook.wants("channel_occupied", "private-a") && !hook.wants("channel_occupied", "public"));
        let name = "SOKETI_DEFAULT_APP_WEBHOOKS";
        error_names(&[(name, "{}")], name);
    }

    #[test]
    #[rustfmt::skip]
    fn unsupported_variables_each_get_a_named_warning() {
        let vars = [
            ("SOKETI_SSL_CA", "/ca.pem"), ("SOKETI_SSL_CERT", "/c.pem"), ("SOKETI_QUEUE_DRIVER", "kafka"),
            ("SOKETI_QUEUE_DRIVER_OK", ""), ("SOKETI_RATE_LIMITER_DRIVER", "cluster"),
            ("SOKETI_CACHE_DRIVER", "memory"), ("SOKETI_MODE", "worker"),
            ("SOKETI_APP_MANAGER_CACHE_ENABLED", "maybe"), ("SOKETI_APP_MANAGER_MYSQL_TABLE", "apps"),
            ("SOKETI_APP_MANAGER_MYSQL_VERSION", "8.0"), ("SOKETI_APP_MANAGER_MYSQL_USE_V2", "true"),
            ("SOKETI_DB_MYSQL_HOST", "db"), ("SOKETI_DB_POOLING_MAX", "7"), ("SOKETI_ADAPTER_DRIVER", "redis"),
            ("SOKETI_DB_REDIS_HOST", "redis"), ("SOKETI_PORT", "6001"), ("SOKETI_PORTT", "6001"), ("PATH", "/bin"),
        ];
        let warnings = unsupported(vars.iter().copied());
        let named: Vec<&str> = warnings.iter().map(|w| w.split(' ').next().unwrap()).collect();
        assert_eq!(named, [
            "SOKETI_APP_MANAGER_CACHE_ENABLED", "SOKETI_DB_POOLING_MAX", "SOKETI_PORTT",
            "SOKETI_QUEUE_DRIVER", "SOKETI_RATE_LIMITER_DRIVER", "SOKETI_SSL_CA",
        ]);
        assert!(warnings.iter().any(|w| w.contains("SOKETI_SSL_CERT after")));
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_mode_and_redis_queue_are_read() {
        let cfg = build(&[
            ("SOKETI_MODE", "worker"), ("SOKETI_QUEUE_DRIVER", "redis"),
            ("SOKETI_DB_REDIS_PORT", "6390"), ("SOKETI_ADAPTER_REDIS_PREFIX", "p"),
        ]).unwrap();
        assert_eq!(cfg.server.mode, Mode::Worker);
        let queue = cfg.server.webhooks.redis_queue.unwrap();
        assert_eq!((queue.redis_url.as_str(), queue.prefix.as_str()), ("redis://127.0.0.1:6390/0", "p"));
        let s = build(&[
            ("SOKETI_QUEUE_DRIVER", "sqs"), ("SOKETI_QUEUE_SQS_URL", "https://sqs.eu-west-1.amazonaws.com/1/h.fifo"),
            ("SOKETI_QUEUE_SQS_REGION", "eu-west-1"), ("SOKETI_QUEUE_SQS_BATCH_SIZE", "5"),
            ("SOKETI_QUEUE_SQS_POLLING_WAIT_TIME_MS", "250"),
        ]).unwrap().server;
        assert_eq!((&s.webhooks.redis_queue, s.mode), (&None, Mode::Full));
        let q = s.webhooks.sqs_queue.unwrap();
        assert_eq!((q.region.as_str(), q.endpoint, q.batch_size), ("eu-west-1", None, 1), "batch size needs PROCESS_BATCH");
        assert_eq!(q.polling_wait, std::time::Duration::from_millis(250));
        let e = build(&[("SOKETI_QUEUE_DRIVER", "sqs")]).unwrap_err().to_string();
        assert!(e.contains("sqs_url") && e.contains("must be set"), "{e}");
        error_names(&[("SOKETI_MODE", "both")], "SOKETI_MODE");
        let quiet = [("SOKETI_QUEUE_DRIVER", "redis"), ("SOKETI_MODE", "server")];
        assert!(unsupported(quiet.iter().copied()).is_empty());
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_ssl_variables_turn_tls_on_verbatim() {
        let cfg = build(&[("SOKETI_SSL_CERT", "/etc/ssl/c.pem"), ("SOKETI_SSL_KEY", "/etc/ssl/k.pem"), ("SOKETI_SSL_PASS", "true")]).unwrap();
        let tls = cfg.server.tls.unwrap();
        assert_eq!((tls.cert.as_str(), tls.key.as_str()), ("/etc/ssl/c.pem", "/etc/ssl/k.pem"));
        assert_eq!(tls.passphrase.as_deref(), Some("true"));
        error_names(&[("SOKETI_SSL_KEY", "/k.pem")], "SOKETI_SSL_CERT");
    }

    #[test]
    fn dotenv_lines_are_read_like_dotenv() {
        let text = "# comment\n\nSOKETI_PORT=6010\nexport SOKETI_DEBUG=\"true\"\nSOKETI_DEFAULT_APP_KEY='k=1'\nnonsense\n";
        let pairs = [
            ("SOKETI_PORT", "6010"),
            ("SOKETI_DEBUG", "true"),
            ("SOKETI_DEFAULT_APP_KEY", "k=1"),
        ];
        let want: Vec<_> = pairs.map(|(k, v)| (k.to_string(), v.to_string())).into();
        assert_eq!(parse_dotenv(text), want);
    }
}
