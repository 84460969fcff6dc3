//! The debug console's settings: `[console]` in TOML (`enabled`, `token`,
//! `queue`), kept as `console_*` keys of `[server]` so that environment
//! variables (`HERALD_CONSOLE`, `HERALD_CONSOLE_TOKEN`, `HERALD_CONSOLE_QUEUE`)
//! and `--console` layer on top like every other setting.

/// Records a console stream may have waiting before new ones are dropped.
pub const DEFAULT_QUEUE: usize = 1024;

/// The console on the metrics port (`/console`), off by default.
#[derive(Clone, PartialEq)]
pub struct Console {
    pub enabled: bool,
    /// Required of every console request; `None`: the node makes one up at
    /// start and logs it.
    pub token: Option<String>,
    /// Per-watcher queue of records (at least 1).
    pub queue: usize,
}

/// A file's `[console]` table, its values checked as `console_*` keys of `[server]`.
#[derive(Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct Section {
    enabled: Option<toml::Value>,
    token: Option<toml::Value>,
    queue: Option<toml::Value>,
}

/// Move a file's `[console]` table into `[server]` as `console_*` keys.
pub(super) fn fold(section: Section, server: &mut toml::Table) {
    let keys = [
        ("enabled", section.enabled),
        ("token", section.token),
        ("queue", section.queue),
    ];
    for (key, value) in keys {
        if let Some(value) = value {
            server.insert(format!("console_{key}"), value);
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::config::RawConfig;

    #[test]
    fn the_console_table_and_server_keys_give_the_same_settings() {
        let text = "[console]\nenabled = true\ntoken = 's3cret'\nqueue = 8\n";
        let c = RawConfig::parse_toml("t", text).unwrap().build().unwrap();
        let console = &c.server.console;
        assert!(console.enabled);
        assert_eq!(console.token.as_deref(), Some("s3cret"));
        assert_eq!(console.queue, 8);
        assert!(!format!("{console:?}").contains("s3cret"));
        let off = RawConfig::parse_toml("t", "").unwrap().build().unwrap();
        assert!(!off.server.console.enabled);
        assert!(RawConfig::parse_toml("t", "[console]\ncolour = 1\n").is_err());
    }
}
