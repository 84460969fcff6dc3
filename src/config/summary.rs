//! The resolved configuration as text for `herald config check`: one line per
//! setting row, with where it was written when it is not a default, and the
//! adapter, apps table, queue and mode as they resolve. Secrets are masked
//! entirely (see `redact`).

use super::settings::{Kind, APP, LIMITS, SERVER};
use super::{mask, url_without_password, App, AppTable, Config, Redis, Scope, Server, MASK};
use std::fmt::Write;

/// Every setting the server would run with, one per line; secrets masked.
pub fn render(config: &Config) -> String {
    let mut out = server(config);
    let mut apps: Vec<_> = config.apps.iter().collect();
    apps.sort_by(|a, b| a.raw.id.cmp(&b.raw.id));
    for app in apps {
        out.push_str(&self::app(&app));
    }
    out
}

fn server(config: &Config) -> String {
    let s = &config.server;
    let mut out = format!("[server]\nlisten = {}:{}\n", s.raw.host, s.raw.port);
    let settings =
        super::redact::masked_settings(toml::Table::try_from(&s.raw).unwrap_or_default());
    let limits = toml::Table::try_from(&s.app_defaults).unwrap_or_default();
    for row in SERVER.iter().chain(LIMITS) {
        let written = settings.get(row.key).or(limits.get(row.key));
        let Some(value) = derived(s, row.key).or_else(|| written.map(|v| v.to_string())) else {
            continue;
        };
        let from = (config.sources.of(Scope::Server, row.key))
            .map_or(String::new(), |f| format!("  # {f}"));
        writeln!(out, "{} = {value}{from}", row.key).expect("write to String");
    }
    out
}

/// The settings shown as what they resolve to: the adapter, the apps table, the
/// webhook queue and the mode.
fn derived(s: &Server, key: &str) -> Option<String> {
    Some(match key {
        "adapter" => match (&s.cluster, &s.nats) {
            (Some(c), _) => redis(c),
            (None, Some(n)) => format!(
                "nats {} prefix {:?} user {} token {} timeout {:?}",
                n.servers.join(","),
                n.prefix,
                n.user.as_deref().unwrap_or("-"),
                n.token.as_ref().map_or("-", |_| MASK),
                n.connect_timeout
            ),
            (None, None) if s.raw.adapter == "cluster" => {
                "local (Soketi's cluster: one process serves every core of this host)".into()
            }
            (None, None) => "local".to_string(),
        },
        "app_manager" => app_manager(s.app_table.as_ref()),
        "queue_driver" => match (&s.webhooks.redis_queue, &s.webhooks.sqs_queue) {
            (Some(r), _) => redis(r),
            (_, Some(q)) => format!("sqs {} region {}", url_without_password(&q.url), q.region),
            _ => "sync (this node's memory)".to_string(),
        },
        "mode" => s.mode.name().to_string(),
        _ => return None,
    })
}

/// A Redis link, its passwords masked.
fn redis(r: &Redis) -> String {
    let urls = |u: &[String]| {
        u.iter()
            .map(|n| url_without_password(n))
            .collect::<Vec<_>>()
    };
    let at = match (r.cluster_nodes.as_slice(), r.sentinels.as_slice()) {
        ([], []) => url_without_password(&r.redis_url),
        ([], s) => format!("sentinel {} master {:?}", s.join(","), r.master_name),
        (nodes, _) => format!("cluster {}", urls(nodes).join(",")),
    };
    format!("redis {at} prefix {:?}", r.prefix)
}

/// `array`, or where the apps table is (password masked) and how often it is read.
fn app_manager(table: Option<&AppTable>) -> String {
    let Some(t) = table else {
        return "array".to_string();
    };
    if t.driver == super::Driver::Dynamodb {
        let (endpoint, region) = (url_without_password(&t.host), &t.database);
        return format!(
            "dynamodb table {:?} region {region} endpoint {endpoint:?} refresh {:?}",
            t.table, t.refresh
        );
    }
    let (d, u, p, h, port) = (t.driver.name(), &t.user, mask(&t.password), &t.host, t.port);
    let (db, table, refresh) = (&t.database, &t.table, t.refresh);
    format!("{d} {u}:{p}@{h}:{port}/{db} table {table:?} refresh {refresh:?}")
}

/// One app: its rows in table order (secret masked, webhooks below), then its limits.
fn app(a: &App) -> String {
    let mut out = String::from("\n[[apps]]\n");
    let mut line = |k: &str, v: &dyn std::fmt::Display| writeln!(out, "{k} = {v}").expect("write");
    let raw = toml::Table::try_from(&a.raw).unwrap_or_default();
    for row in APP.iter().filter(|r| r.key != "webhooks") {
        let max = || {
            a.max_connections
                .map_or("unlimited".into(), |n| n.to_string())
        };
        let value = match (row.key, row.kind, raw.get(row.key)) {
            ("max_connections", ..) => max(),
            (_, Kind::Secret, _) => format!("{MASK:?}"),
            (_, _, Some(toml::Value::String(s))) => format!("{s:?}"),
            (_, _, Some(toml::Value::Array(items))) => {
                format!(
                    "{:?}",
                    items.iter().filter_map(|i| i.as_str()).collect::<Vec<_>>()
                )
            }
            (_, _, v) => v.map_or(String::new(), ToString::to_string),
        };
        line(row.key, &value);
    }
    let limits = toml::Table::try_from(&a.limits).expect("limits serialize to a table");
    for (k, v) in limits {
        line(&k, &v);
    }
    let masked = |(k, v): &(String, String)| format!("{k}: {}", mask(v));
    for w in &a.webhooks {
        let headers: Vec<_> = w.headers.iter().map(masked).collect();
        let (url, types) = (url_without_password(&w.url), &w.event_types);
        line("webhook", &format!("{url} {types:?} headers {headers:?}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::toml;
    use crate::config::RawConfig;

    #[test]
    fn secrets_are_masked() {
        for secret in ["app-secret", "ab", ""] {
            assert_eq!(mask(secret), "****");
        }
        let url = url_without_password("redis://u:hunter22@h:6379/0");
        assert_eq!(url, "redis://u:****@h:6379/0");
        assert_eq!(url_without_password("redis://h:6379/0"), "redis://h:6379/0");
    }

    /// `config` rendered holds every line of `want` and none of `hidden`.
    fn shows(config: &Config, want: &[&str], hidden: &[&str]) {
        let text = render(config);
        assert!(want.iter().all(|w| text.contains(w)), "{text}");
        assert!(!hidden.iter().any(|h| text.contains(h)), "{text}");
    }

    #[test]
    #[rustfmt::skip]
    fn render_lists_server_and_apps_without_secrets() {
        let cfg = RawConfig::default().build().unwrap();
        shows(&cfg, &["listen = 0.0.0.0:6001", "key = \"app-key\"", "secret = \"****\""], &["app-secret"]);
        shows(&cfg, &["app_manager = array", "mode = full", "queue_driver = sync"], &[]);
        let raw = "[server]\nmode='worker'\nqueue_driver='redis'\nredis_url='redis://:pw1234@h:1/0'\n";
        let queue = "queue_driver = redis redis://:****@h:1/0 prefix \"herald\"";
        shows(&toml(raw).unwrap(), &["mode = worker", queue], &[]);
    }

    #[test]
    fn render_names_the_apps_table_with_its_password_masked() {
        let text = "[server]\napp_manager = 'mysql'\nmysql_host = 'db'\nmysql_password = 'hunter22'\nmysql_table = 'soketi_apps'\n";
        let want = "app_manager = mysql root:****@db:3306/main table \"soketi_apps\" refresh 5s";
        shows(&toml(text).unwrap(), &[want], &["hunter22"]);
    }

    #[test]
    fn the_nats_adapter_is_shown_without_its_secrets() {
        let text = "[server]\nadapter='nats'\nnats_servers=['n1:4222','n2:4222']\n\
                    nats_user='u'\nnats_password='pw-secret'\nnats_token='tok-secret'\n";
        let adapter = "adapter = nats n1:4222,n2:4222 prefix \"herald\" user u token ****";
        shows(
            &toml(text).unwrap(),
            &[adapter],
            &["pw-secret", "tok-secret"],
        );
    }
}
