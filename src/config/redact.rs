//! The one way secrets are shown: app secrets, passwords (in URLs too), tokens,
//! passphrases and webhook header values are `****`, entirely, in `Debug` (logs,
//! panics, `{:?}` in tests) and in `herald config check` alike.

use super::settings::{Kind, SERVER};
use super::webhooks::Webhook;
use super::{App, AppTable, Nats, Redis, Tls};
use std::fmt;

/// What a secret is shown as.
pub const MASK: &str = "****";

/// A secret as shown: `****`, whatever it is (its length and even whether it is
/// empty stay hidden).
pub fn mask(_secret: &str) -> &'static str {
    MASK
}

/// An optional secret as shown: `****` when set.
fn mask_set(secret: &Option<String>) -> Option<&'static str> {
    secret.as_ref().map(|_| MASK)
}

/// The `[server]` values with every secret masked, as `config check` shows them
/// (a set secret is `****`, a URL loses its password).
pub(super) fn masked_settings(mut table: toml::Table) -> toml::Table {
    use toml::Value as T;
    let url = |v: &T| T::from(url_without_password(v.as_str().unwrap_or_default()));
    for row in SERVER {
        let Some(value) = table.get_mut(row.key) else {
            continue;
        };
        *value = match (row.kind, &*value) {
            (Kind::Secret, T::String(v)) if !v.is_empty() => T::from(MASK),
            (Kind::Url, v) => url(v),
            (Kind::Urls, T::Array(items)) => T::Array(items.iter().map(url).collect()),
            _ => continue,
        };
    }
    table
}

/// A URL with the password of its `user:password@` part masked.
pub fn url_without_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let Some(at) = rest[..authority_end].rfind('@') else {
        return url.to_string();
    };
    let userinfo = &rest[..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
    let masked = if userinfo.contains(':') || !user.is_empty() {
        format!("{user}:{MASK}")
    } else {
        String::new()
    };
    format!("{scheme}://{masked}{}", &rest[at..])
}

impl fmt::Debug for App {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("App")
            .field("id", &self.id)
            .field("key", &self.key)
            .field("secret", &mask(&self.secret))
            .field("enabled", &self.enabled)
            .field("enable_client_messages", &self.enable_client_messages)
            .field(
                "enable_user_authentication",
                &self.enable_user_authentication,
            )
            .field("enable_subscription_count", &self.enable_subscription_count)
            .field("enable_watchlist_events", &self.enable_watchlist_events)
            .field("max_connections", &self.max_connections)
            .field("limits", &self.limits)
            .field("webhooks", &self.webhooks)
            .field("allowed_origins", &self.allowed_origins)
            .finish()
    }
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let nodes: Vec<String> = self
            .cluster_nodes
            .iter()
            .map(|n| url_without_password(n))
            .collect();
        f.debug_struct("Redis")
            .field("redis_url", &url_without_password(&self.redis_url))
            .field("cluster_nodes", &nodes)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl fmt::Debug for AppTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppTable")
            .field("driver", &self.driver)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("user", &self.user)
            .field("password", &mask(&self.password))
            .field("database", &self.database)
            .field("table", &self.table)
            .field("refresh", &self.refresh)
            .finish()
    }
}

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tls")
            .field("cert", &self.cert)
            .field("key", &self.key)
            .field("passphrase", &mask_set(&self.passphrase))
            .finish()
    }
}

impl fmt::Debug for Nats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Nats")
            .field("servers", &self.servers)
            .field("user", &self.user)
            .field("password", &mask_set(&self.password))
            .field("token", &mask_set(&self.token))
            .field("connect_timeout", &self.connect_timeout)
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl fmt::Debug for Webhook {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = (self.headers.iter())
            .map(|(name, value)| (name.as_str(), mask(value)))
            .collect();
        f.debug_struct("Webhook")
            .field("url", &url_without_password(&self.url))
            .field("event_types", &self.event_types)
            .field("filter", &self.filter)
            .field("headers", &headers)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{env, RawConfig};

    #[test]
    fn passwords_in_urls_are_masked() {
        let cases = [
            ("redis://:pw@h:6379/0", "redis://:****@h:6379/0"),
            ("redis://user:pw@h/0", "redis://user:****@h/0"),
            ("rediss://h:6379", "rediss://h:6379"),
            ("http://h/p@x", "http://h/p@x"),
            ("no url", "no url"),
        ];
        for (url, want) in cases {
            assert_eq!(url_without_password(url), want);
        }
    }

    #[test]
    fn debug_of_a_loaded_config_shows_no_secret() {
        let toml = r#"
            [server]
            adapter = "redis"
            redis_url = "redis://:redis-pw-1@127.0.0.1:6379/0"
            [[apps]]
            id = "a"
            key = "k"
            secret = "app-secret-2"
            webhooks = [{ url = "http://hooks/x", headers = { Authorization = "Bearer hook-token-3" } }]
        "#;
        let from_file = RawConfig::parse_toml("test.toml", toml).unwrap();
        let mut from_env = from_file.clone();
        let lookup = |name: &str| match name {
            "SOKETI_APP_MANAGER_DRIVER" => Some("postgres".to_string()),
            "SOKETI_DB_POSTGRES_PASSWORD" => Some("pg-pw-4".to_string()),
            _ => None,
        };
        env::apply(&mut from_env, &lookup).unwrap();
        let shown = format!(
            "{:?} {:?}",
            from_file.build().unwrap(),
            from_env.build().unwrap()
        );
        for secret in ["redis-pw-1", "app-secret-2", "hook-token-3", "pg-pw-4"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("****"));
    }
}
