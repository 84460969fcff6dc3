//! Where each setting was written: a key of a config file, an environment
//! variable or a flag. Validation reports a bad value by its key
//! ([`ConfigError::Key`]); [`Sources::locate`] turns that into an error naming
//! the place the operator has to change ([`ConfigError::Setting`]).

use super::ConfigError;
use std::collections::HashMap;
use std::fmt;

/// Where one setting came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A config file and the key as written there (`[server] port`,
    /// Soketi's `appManager.driver`).
    File { path: String, key: String },
    /// An environment variable (`SOKETI_*`, `HERALD_*`, also from `./.env`).
    Env(String),
    /// A command-line flag (`--port`).
    Flag(String),
}

impl Source {
    /// A key of the config file at `path`.
    pub fn file(path: &str, key: impl Into<String>) -> Source {
        let (path, key) = (path.to_string(), key.into());
        Source::File { path, key }
    }

    /// One source for a setting built from two written side by side (the Redis
    /// URL from `SOKETI_DB_REDIS_HOST` and `_PORT`): both names, or the first
    /// when they are of different kinds.
    pub fn and(self, other: Source) -> Source {
        match (self, other) {
            (Source::Env(a), Source::Env(b)) => Source::Env(format!("{a}, {b}")),
            (Source::File { path, key: a }, Source::File { key: b, .. }) => Source::File {
                path,
                key: format!("{a}, {b}"),
            },
            (first, _) => first,
        }
    }
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::File { path, key } => write!(f, "config file {path}, {key}"),
            Source::Env(name) => write!(f, "environment variable {name}"),
            Source::Flag(name) => write!(f, "flag {name}"),
        }
    }
}

/// The table a key belongs to: `[server]` or the n-th app (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Server,
    App(usize),
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Server => f.write_str("[server]"),
            Scope::App(i) => write!(f, "[[apps]] #{}", i + 1),
        }
    }
}

/// The source of every key set so far; the last writer of a key wins, as its value does.
/// The empty key stands for the table itself (an app listed in a file).
#[derive(Debug, Clone, Default)]
pub struct Sources(HashMap<(Scope, String), Source>);

impl Sources {
    pub fn record(&mut self, scope: Scope, key: &str, source: Source) {
        self.0.insert((scope, key.to_string()), source);
    }

    pub fn of(&self, scope: Scope, key: &str) -> Option<&Source> {
        self.0.get(&(scope, key.to_string()))
    }

    /// Where `key` was written, for a message about its value found later
    /// (when serving starts); `[server] key` when it is the default.
    pub fn describe(&self, scope: Scope, key: &str) -> String {
        self.of(scope, key)
            .map_or_else(|| format!("{scope} {key}"), Source::to_string)
    }

    /// Every key of a file's table, recorded as written there (`[server] port`).
    pub(super) fn record_file(&mut self, path: &str, scope: Scope, table: &toml::Table) {
        self.record(scope, "", Source::file(path, scope.to_string()));
        for key in table.keys() {
            self.record(scope, key, Source::file(path, format!("{scope} {key}")));
        }
    }

    /// An error about a key, naming where that key was set; other errors unchanged.
    /// A key set nowhere, or a problem of the table as a whole (a missing `id`), is
    /// blamed on the table's own source if it has one (an app listed in a file).
    pub fn locate(&self, error: ConfigError) -> ConfigError {
        let ConfigError::Key {
            scope,
            key,
            message,
        } = error
        else {
            return error;
        };
        let (origin, message) = match (self.of(scope, &key), self.of(scope, "")) {
            (Some(origin), _) => (origin, message),
            (None, Some(origin)) if key.is_empty() => (origin, message),
            (None, Some(origin)) => (origin, format!("{key}: {message}")),
            (None, None) => return ConfigError::key(scope, key, message),
        };
        let origin = origin.clone();
        ConfigError::Setting { origin, message }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::testing::{file as read, with_vars};
    use crate::config::{env, RawConfig};

    const NO_FILE: (&str, &str) = ("", "");

    /// A file (TOML, or JSON by its name), variables on top, and the start of
    /// the error building them gives; `$` at its end: the whole error.
    type Case<'a> = ((&'a str, &'a str), &'a [(&'a str, &'a str)], &'a str);

    #[rustfmt::skip]
    fn check(cases: &[Case]) {
        for ((path, file), vars, want) in cases {
            let text = with_vars(read(path, file), vars).expect_err("invalid").to_string();
            match want.strip_suffix('$') {
                Some(whole) => assert_eq!(text, whole),
                None => assert!(text.starts_with(want), "{text}"),
            }
        }
    }

    #[test]
    #[rustfmt::skip]
    fn a_bad_variable_is_named_and_no_file_is_blamed() {
        check(&[
            (NO_FILE, &[("SOKETI_ADAPTER_DRIVER", "memcached")], "environment variable SOKETI_ADAPTER_DRIVER: adapter must be \"local\", \"redis\" or \"nats\", not \"memcached\"$"),
            (NO_FILE, &[("SOKETI_PORT", "99999")], "environment variable SOKETI_PORT: invalid value: integer `99999`, expected u16$"),
            (NO_FILE, &[("SOKETI_PRESENCE_MAX_MEMBERS", "-5")], "environment variable SOKETI_PRESENCE_MAX_MEMBERS: "),
            (NO_FILE, &[("SOKETI_METRICS_SERVER_PORT", "70000")], "environment variable SOKETI_METRICS_SERVER_PORT: "),
            (NO_FILE, &[("SOKETI_DEFAULT_APP_WEBHOOKS", r#"[{"url": "ftp://hooks"}]"#)], "environment variable SOKETI_DEFAULT_APP_WEBHOOKS: "),
            (NO_FILE, &[("SOKETI_APP_MANAGER_DRIVER", "mongodb")], "environment variable SOKETI_APP_MANAGER_DRIVER: "),
            (NO_FILE, &[("HERALD_TRUSTED_PROXIES", "nginx")], "environment variable HERALD_TRUSTED_PROXIES: "),
            (NO_FILE, &[("SOKETI_SSL_KEY", "/k.pem")], "environment variable SOKETI_SSL_KEY: "),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn a_bad_file_key_names_the_file_and_the_key() {
        let apps = "[[apps]]\nid='a'\nkey='k'\nsecret='s'\n[[apps]]\nid='b'\nkey='k2'\nsecret='s'\nmax_connections='x'\n";
        check(&[
            (("herald.toml", "[server]\nadapter = \"memcached\"\nport = 7000\n"), &[], "config file herald.toml, [server] adapter: adapter must be"),
            (("h.toml", "[server]\nport = 7000\nmax_presence_members = -1\n"), &[], "config file h.toml, [server] max_presence_members: invalid value: integer `-1`, expected usize$"),
            (("a.toml", apps), &[], "config file a.toml, [[apps]] #2 max_connections: invalid type"),
            (("m.toml", "[[apps]]\nkey='k'\nsecret='s'\n"), &[], "config file m.toml, [[apps]] #1: missing field `id`$"),
        ]);
    }

    #[test]
    fn the_last_writer_is_blamed() {
        let file = ("herald.toml", "[server]\nport = 99999\n");
        check(&[(file, &[], "config file herald.toml, [server] port:")]);
        // The variable replaces the bad value: nothing to blame.
        let mut raw = RawConfig::parse_toml(file.0, file.1).unwrap();
        let port = |n: &str| (n == "SOKETI_PORT").then(|| "6010".to_string());
        env::apply(&mut raw, &port).unwrap();
        assert_eq!(raw.build().unwrap().server.raw.port, 6010);
        // A good file value and a bad variable: the variable.
        let ok = ("ok.toml", "[server]\nadapter = \"local\"\n");
        let var: &[_] = &[("SOKETI_ADAPTER_DRIVER", "x")];
        check(&[(ok, var, "environment variable SOKETI_ADAPTER_DRIVER:")]);
    }

    #[test]
    #[rustfmt::skip]
    fn soketi_json_errors_name_the_option_as_written() {
        let app = r#"{"appManager.array.apps": [{"AppId": "a", "AppKey": "k", "AppSecret": "s",
            "MaxConnections": "many"}]}"#;
        check(&[
            (("config.json", r#"{"appManager": {"driver": "mongodb"}}"#), &[], "config file config.json, appManager.driver: app manager \"mongodb\""),
            (("config.json", r#"{"adapter": {"driver": "memcached"}}"#), &[], "config file config.json, adapter.driver: adapter must be"),
            (("c.json", app), &[], "config file c.json, appManager.array.apps[0].MaxConnections: invalid type"),
        ]);
    }

    #[test]
    #[rustfmt::skip]
    fn a_key_with_no_recorded_source_names_its_table() {
        let mut raw = RawConfig::default();
        raw.server.insert("adapter".into(), "memcached".into());
        let text = raw.build().unwrap_err().to_string();
        assert!(text.starts_with("[server] adapter: adapter must be"), "{text}");
    }
}
