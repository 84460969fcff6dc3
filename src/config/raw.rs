//! The configuration as written: the `[server]` and `[[apps]]` tables of a
//! TOML file, with environment variables and flags layered on top before
//! anything is validated ([`RawConfig::build`]).

use super::{ConfigError, Scope, Source, Sources};
use serde::Deserialize;

/// A TOML file's sections (`[console]` is folded into `[server]`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    server: toml::Table,
    #[serde(default)]
    apps: Vec<toml::Table>,
    #[serde(default)]
    console: super::console::Section,
}

/// The whole file, kept as TOML tables so that environment variables can be
/// layered on top before anything is validated (no `Debug`: it holds secrets).
#[derive(Clone, Default)]
pub struct RawConfig {
    pub server: toml::Table,
    pub apps: Vec<toml::Table>,
    /// Where each key was written, for errors.
    pub sources: Sources,
}

impl RawConfig {
    pub fn parse_toml(path: &str, text: &str) -> Result<RawConfig, ConfigError> {
        let file: File = toml::from_str(text).map_err(|e| ConfigError::File {
            path: path.into(),
            message: e.message().to_string(),
        })?;
        let mut server = file.server;
        super::console::fold(file.console, &mut server);
        let mut sources = Sources::default();
        sources.record_file(path, Scope::Server, &server);
        for (i, app) in file.apps.iter().enumerate() {
            sources.record_file(path, Scope::App(i), app);
        }
        let apps = file.apps;
        Ok(RawConfig {
            server,
            apps,
            sources,
        })
    }

    /// Set one key of `[server]`, noting where it came from.
    pub fn set_server(&mut self, key: &str, value: toml::Value, source: Source) {
        self.server.insert(key.to_string(), value);
        self.sources.record(Scope::Server, key, source);
    }

    /// Set one key of the first app (the default app when none is listed), as
    /// `SOKETI_DEFAULT_APP_*` do, noting where it came from.
    pub fn set_first_app(&mut self, key: &str, value: toml::Value, source: Source) {
        self.apps_or_default()[0].insert(key.to_string(), value);
        self.sources.record(Scope::App(0), key, source);
    }

    /// The default app, as Soketi ships it.
    pub fn default_app() -> toml::Table {
        toml::toml! { id = "app-id" key = "app-key" secret = "app-secret" }
    }

    /// The apps, or the default app when none are listed.
    pub fn apps_or_default(&mut self) -> &mut Vec<toml::Table> {
        if self.apps.is_empty() {
            self.apps.push(RawConfig::default_app());
        }
        &mut self.apps
    }
}
