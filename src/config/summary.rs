//! The resolved configuration as text for `herald config check`: one line per
//! setting row, with where it was written when it is not a default, and the
//! adapter, apps table, queue and mode as they resolve. Secrets are masked
//! entirely (see `redact`).

use super::settings::{LIMITS, SERVER};
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
        "queue_driver" => s
            .webhooks
            .redis_queue
            .as_ref()
            .map_or("sync (this node's memory)".to_string(), redis),
        "mode" => s.mode.name().to_string(),
        _ => return None,
    })
}

/// A Redis link, its passwords masked.
fn redis(r: &Redis) -> String {
    if r.cluster_nodes.is_empty() && !r.sentinels.is_empty() {
        let (nodes, master) = (r.sentinels.join(","), &r.master_name);
        return format!(
            "redis sentinel {nodes} master {master:?} prefix {:?}",
            r.prefix
        );
    }
    if r.cluster_nodes.is_empty() {
        return format!(
            "redis {} prefix {:?}",
            url_without_password(&r.redis_url),
            r.prefix
        );
    }
    let nodes: Vec<String> = r
        .cluster_nodes
        .iter()
        .map(|n| url_without_password(n))
        .collect();
    format!("redis cluster {} prefix {:?}", nodes.join(","), r.prefix)
}

/// `array`, or where the apps table is (password masked) and how often it is read.
fn app_manager(table: Option<&AppTable>) -> String {
    let Some(t) = table else {
        return "array".to_string();
    };
    format!(
        "{} {}:{}@{}:{}/{} table {:?} refresh {:?}",
        t.driver.name(),
        t.user,
        mask(&t.password),
        t.host,
        t.port,
        t.database,
        t.table,
        t.refresh
    )
}

fn app(a: &App) -> String {
    let mut out = String::from("\n[[apps]]\n");
    let mut line =
        |k: &str, v: &dyn std::fmt::Display| writeln!(out, "{k} = {v}").expect("write to String");
    line("id", &format!("{:?}", a.raw.id));
    line("key", &format!("{:?}", a.raw.key));
    line("secret", &format!("{:?}", mask(&a.raw.secret)));
    line("enabled", &a.raw.enabled);
    line("enable_client_messages", &a.raw.enable_client_messages);
    line(
        "enable_user_authentication",
        &a.raw.enable_user_authentication,
    );
    line(
        "enable_subscription_count",
        &a.raw.enable_subscription_count,
    );
    line("enable_watchlist_events", &a.raw.enable_watchlist_events);
    let max = a
        .max_connections
        .map_or("unlimited".into(), |n| n.to_string());
    line("max_connections", &max);
    line("allowed_origins", &format!("{:?}", a.raw.allowed_origins));
    let limits = toml::Table::try_from(&a.limits).expect("limits serialize to a table");
    for (k, v) in limits {
        line(&k, &v);
    }
    for w in &a.webhooks {
        let headers: Vec<String> = w
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", mask(v)))
            .collect();
        line(
            "webhook",
            &format!(
                "{} {:?} headers {headers:?}",
                url_without_password(&w.url),
                w.event_types
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RawConfig;

    #[test]
    fn secrets_are_masked() {
        assert_eq!(mask("app-secret"), "****");
        assert_eq!(mask("ab"), "****");
        assert_eq!(mask(""), "****");
        let url = url_without_password("redis://u:hunter22@h:6379/0");
        assert_eq!(url, "redis://u:****@h:6379/0");
        assert_eq!(url_without_password("redis://h:6379/0"), "redis://h:6379/0");
    }

    #[test]
    fn render_lists_server_and_apps_without_secrets() {
        let cfg = RawConfig::default().build().unwrap();
        let text = render(&cfg);
        let shown = [
            "listen = 0.0.0.0:6001",
            "key = \"app-key\"",
            "secret = \"****\"",
        ];
        for want in shown
            .into_iter()
            .chain(["app_manager = array", "mode = full"])
        {
            assert!(text.contains(want), "{text}");
        }
        assert!(!text.contains("app-secret"), "{text}");
        assert!(text.contains("queue_driver = sync"), "{text}");
        let raw =
            "[server]\nmode='worker'\nqueue_driver='redis'\nredis_url='redis://:pw1234@h:1/0'\n";
        let text = render(&RawConfig::parse_toml("x", raw).unwrap().build().unwrap());
        assert!(text.contains("mode = worker"), "{text}");
        let queue = "queue_driver = redis redis://:****@h:1/0 prefix \"herald\"";
        assert!(text.contains(queue), "{text}");
    }

    #[test]
    fn render_names_the_apps_table_with_its_password_masked() {
        let text = "[server]\napp_manager = 'mysql'\nmysql_host = 'db'\nmysql_password = 'hunter22'\nmysql_table = 'soketi_apps'\n";
        let cfg = RawConfig::parse_toml("x", text).unwrap().build().unwrap();
        let text = render(&cfg);
        let want = "app_manager = mysql root:****@db:3306/main table \"soketi_apps\" refresh 5s";
        assert!(text.contains(want), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
    }

    #[test]
    fn the_nats_adapter_is_shown_without_its_secrets() {
        let text = "[server]\nadapter='nats'\nnats_servers=['n1:4222','n2:4222']\n\
                    nats_user='u'\nnats_password='pw-secret'\nnats_token='tok-secret'\n";
        let cfg = RawConfig::parse_toml("t", text).unwrap().build().unwrap();
        let text = render(&cfg);
        let adapter = "adapter = nats n1:4222,n2:4222 prefix \"herald\" user u token ****";
        assert!(text.contains(adapter), "{text}");
        let secret = text.contains("pw-secret") || text.contains("tok-secret");
        assert!(!secret, "{text}");
    }
}
