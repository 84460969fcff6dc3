//! The one way secrets are shown: app secrets, passwords (in URLs too), tokens,
//! passphrases and webhook header values are `****`, entirely, in `Debug` (logs,
//! panics, `{:?}` in tests) and in `herald config check` alike.

use super::settings::{Kind, SERVER};
use super::webhooks::Webhook;
use super::{AppTable, Console, Nats, RawApp, Redis, Tls};
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

impl fmt::Debug for super::RawServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        masked_settings(toml::Table::try_from(self).map_err(|_| fmt::Error)?).fmt(f)
    }
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

/// `Debug` showing `$field`s as they are and `$secret`s through `$how`.
macro_rules! debug_masked {
    ($ty:ident { $($field:ident),* } $($secret:ident: $how:expr),*) => {
        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($secret), &$how(&self.$secret)))*
                    .finish()
            }
        }
    };
}

debug_masked!(RawApp { id, key, enabled, enable_client_messages, enable_user_authentication,
    enable_subscription_count, enable_watchlist_events, allowed_origins } secret: mask);
debug_masked!(Redis { prefix, sentinels, master_name } redis_url: url_without_password,
    cluster_nodes: urls, sentinel_password: mask_set);
debug_masked!(AppTable { driver, host, port, user, database, table, refresh } password: mask);
debug_masked!(Tls { cert, key } passphrase: mask_set);
debug_masked!(Console { enabled, queue } token: mask_set);
debug_masked!(Nats { servers, user, connect_timeout, prefix } password: mask_set, token: mask_set);
debug_masked!(Webhook { event_types, filter } url: url_without_password, headers: headers);

fn urls(urls: &[String]) -> Vec<String> {
    urls.iter().map(|u| url_without_password(u)).collect()
}

fn headers(headers: &[(String, String)]) -> Vec<(&str, &str)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), mask(value)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::testing::{file, with_vars};

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
        let vars = [
            ("SOKETI_APP_MANAGER_DRIVER", "postgres"),
            ("SOKETI_DB_POSTGRES_PASSWORD", "pg-pw-4"),
        ];
        let from_file = with_vars(file("test.toml", toml), &[]).unwrap();
        let from_env = with_vars(file("test.toml", toml), &vars).unwrap();
        let shown = format!("{from_file:?} {from_env:?}");
        for secret in ["redis-pw-1", "app-secret-2", "hook-token-3", "pg-pw-4"] {
            assert!(!shown.contains(secret), "{secret} in {shown}");
        }
        assert!(shown.contains("****"));
    }
}
