//! The resolved configuration as text for `herald config check`, secrets masked.

use super::{App, AppTable, Config, Server};
use std::fmt::Write;

/// Every setting the server would run with, one per line; secrets masked.
pub fn render(config: &Config) -> String {
    let mut out = server(&config.server);
    let mut apps: Vec<_> = config.apps.iter().collect();
    apps.sort_by(|a, b| a.id.cmp(&b.id));
    for app in apps {
        out.push_str(&self::app(&app));
    }
    out
}

/// The first half of a secret (at most 8 characters), then `****`.
pub fn mask(secret: &str) -> String {
    let shown: String = secret
        .chars()
        .take((secret.chars().count() / 2).min(8))
        .collect();
    format!("{shown}****")
}

/// A Redis URL with its password masked.
fn mask_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let Some((auth, host)) = rest.split_once('@') else {
        return url.to_string();
    };
    match auth.split_once(':') {
        Some((user, pass)) => format!("{scheme}://{user}:{}@{host}", mask(pass)),
        None => url.to_string(),
    }
}

fn server(s: &Server) -> String {
    let mut out = String::from("[server]\n");
    let mut line = |k: &str, v: String| writeln!(out, "{k} = {v}").expect("write to String");
    line("listen", format!("{}:{}", s.host, s.port));
    line("debug", s.debug.to_string());
    line("path_prefix", format!("{:?}", s.path_prefix));
    line("activity_timeout", format!("{:?}", s.activity_timeout));
    line("pong_timeout", format!("{:?}", s.pong_timeout));
    line("http_idle_timeout", format!("{:?}", s.http_idle_timeout));
    line(
        "http_request_timeout",
        format!("{:?}", s.guard.request_timeout),
    );
    line("ws_frame_timeout", format!("{:?}", s.guard.frame_timeout));
    let or = |v: Option<usize>, none: &str| v.map_or(none.to_string(), |n| n.to_string());
    line("max_node_connections", or(s.guard.max_connections, "auto"));
    line(
        "max_connections_per_ip",
        or(s.guard.max_connections_per_ip, "unlimited"),
    );
    let channels = or(s.guard.max_channels_per_connection, "unlimited");
    line("max_channels_per_connection", channels);
    line("threads", s.threads.to_string());
    line(
        "shutdown_grace_period",
        format!("{:?}", s.shutdown_grace_period),
    );
    line("cache_ttl", format!("{:?}", s.cache_ttl));
    line("max_request_bytes", s.max_request_bytes.to_string());
    line("max_message_bytes", s.max_message_bytes.to_string());
    let adapter = match (&s.cluster, &s.nats) {
        (None, Some(n)) => format!(
            "nats {} prefix {:?} user {} token {} timeout {:?}",
            n.servers.join(","),
            n.prefix,
            n.user.as_deref().unwrap_or("-"),
            if n.token.is_some() { "****" } else { "-" },
            n.connect_timeout
        ),
        (None, None) => "local".to_string(),
        (Some(c), _) if c.cluster_nodes.is_empty() => {
            format!("redis {} prefix {:?}", mask_url(&c.redis_url), c.prefix)
        }
        (Some(c), _) => {
            let nodes: Vec<String> = c.cluster_nodes.iter().map(|n| mask_url(n)).collect();
            format!("redis cluster {} prefix {:?}", nodes.join(","), c.prefix)
        }
    };
    line("adapter", adapter);
    line("app_manager", app_manager(s.app_table.as_ref()));
    let m = &s.metrics;
    line(
        "metrics",
        format!(
            "{}:{} enabled {} prefix {:?}",
            m.host, m.port, m.enabled, m.prefix
        ),
    );
    let c = &s.console;
    line(
        "console",
        format!(
            "enabled {} token {} queue {}",
            c.enabled,
            c.token
                .as_deref()
                .map_or("(made up at start, logged)".to_string(), mask),
            c.queue
        ),
    );
    let tls = match &s.tls {
        None => "off".to_string(),
        Some(t) => format!(
            "cert {:?} key {:?}{}",
            t.cert,
            t.key,
            if t.passphrase.is_some() {
                " passphrase ****"
            } else {
                ""
            }
        ),
    };
    line("tls", tls);
    line("mode", s.mode.name().to_string());
    let queue = match &s.webhooks.redis_queue {
        None => "sync (this node's memory)".to_string(),
        Some(q) if q.cluster_nodes.is_empty() => {
            format!("redis {} prefix {:?}", mask_url(&q.redis_url), q.prefix)
        }
        Some(q) => {
            let nodes: Vec<String> = q.cluster_nodes.iter().map(|n| mask_url(n)).collect();
            format!("redis cluster {} prefix {:?}", nodes.join(","), q.prefix)
        }
    };
    line("queue_driver", queue);
    line("webhook_batching", format!("{:?}", s.webhooks.batching));
    if let Some(ca) = &s.webhooks.ca_file {
        line("webhook_ca_file", format!("{ca:?}"));
    }
    out
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
    let mut line = |k: &str, v: String| writeln!(out, "{k} = {v}").expect("write to String");
    line("id", format!("{:?}", a.id));
    line("key", format!("{:?}", a.key));
    line("secret", format!("{:?}", mask(&a.secret)));
    line("enabled", a.enabled.to_string());
    line(
        "enable_client_messages",
        a.enable_client_messages.to_string(),
    );
    line(
        "enable_user_authentication",
        a.enable_user_authentication.to_string(),
    );
    line(
        "enable_subscription_count",
        a.enable_subscription_count.to_string(),
    );
    line(
        "enable_watchlist_events",
        a.enable_watchlist_events.to_string(),
    );
    let max = a
        .max_connections
        .map_or("unlimited".into(), |n| n.to_string());
    line("max_connections", max);
    line("allowed_origins", format!("{:?}", a.allowed_origins));
    let limits = toml::Table::try_from(&a.limits).expect("limits serialize to a table");
    for (k, v) in limits {
        line(&k, v.to_string());
    }
    for w in &a.webhooks {
        let headers: Vec<String> = w
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", mask(v)))
            .collect();
        line(
            "webhook",
            format!("{} {:?} headers {headers:?}", w.url, w.event_types),
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
        assert_eq!(mask("app-secret"), "app-s****");
        assert_eq!(mask("ab"), "a****");
        assert_eq!(mask(""), "****");
        assert_eq!(
            mask_url("redis://u:hunter22@h:6379/0"),
            "redis://u:hunt****@h:6379/0"
        );
        assert_eq!(mask_url("redis://h:6379/0"), "redis://h:6379/0");
    }

    #[test]
    fn render_lists_server_and_apps_without_secrets() {
        let cfg = RawConfig::default().build().unwrap();
        let text = render(&cfg);
        assert!(text.contains("listen = 0.0.0.0:6001"), "{text}");
        assert!(text.contains("key = \"app-key\""), "{text}");
        assert!(text.contains("secret = \"app-s****\""), "{text}");
        assert!(!text.contains("app-secret"), "{text}");
        assert!(text.contains("app_manager = array"), "{text}");
        assert!(text.contains("mode = full"), "{text}");
        assert!(text.contains("queue_driver = sync"), "{text}");
        let raw =
            "[server]\nmode='worker'\nqueue_driver='redis'\nredis_url='redis://:pw1234@h:1/0'\n";
        let text = render(&RawConfig::parse_toml("x", raw).unwrap().build().unwrap());
        assert!(text.contains("mode = worker"), "{text}");
        assert!(
            text.contains("queue_driver = redis redis://:pw1****@h:1/0 prefix \"herald\""),
            "{text}"
        );
    }

    #[test]
    fn render_names_the_apps_table_with_its_password_masked() {
        let text = "[server]\napp_manager = 'mysql'\nmysql_host = 'db'\nmysql_password = 'hunter22'\nmysql_table = 'soketi_apps'\n";
        let cfg = RawConfig::parse_toml("x", text).unwrap().build().unwrap();
        let text = render(&cfg);
        let want =
            "app_manager = mysql root:hunt****@db:3306/main table \"soketi_apps\" refresh 5s";
        assert!(text.contains(want), "{text}");
        assert!(!text.contains("hunter22"), "{text}");
    }

    #[test]
    fn the_nats_adapter_is_shown_without_its_secrets() {
        let text = "[server]\nadapter='nats'\nnats_servers=['n1:4222','n2:4222']\n\
                    nats_user='u'\nnats_password='pw-secret'\nnats_token='tok-secret'\n";
        let cfg = RawConfig::parse_toml("t", text).unwrap().build().unwrap();
        let text = render(&cfg);
        assert!(
            text.contains("adapter = nats n1:4222,n2:4222 prefix \"herald\" user u token ****"),
            "{text}"
        );
        assert!(
            !text.contains("pw-secret") && !text.contains("tok-secret"),
            "{text}"
        );
    }
}
