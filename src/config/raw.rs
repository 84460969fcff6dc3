//! The configuration as written: the `[server]` and `[[apps]]` tables of a
//! TOML file, with environment variables and flags layered on top before
//! anything is validated ([`RawConfig::build`]).

use super::{ConfigError, Scope, Source, Sources};

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
        let file_error = |message: String| ConfigError::File {
            path: path.into(),
            message,
        };
        let mut root: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| file_error(e.message().to_string()))?;
        let mut server = match root.remove("server") {
            None => toml::Table::new(),
            Some(toml::Value::Table(t)) => t,
            Some(_) => return Err(file_error("`server` must be a table".into())),
        };
        super::console::fold(&mut root, &mut server).map_err(file_error)?;
        let apps = match root.remove("apps") {
            None => Vec::new(),
            Some(toml::Value::Array(items)) => items
                .into_iter()
                .map(|v| match v {
                    toml::Value::Table(t) => Ok(t),
                    _ => Err(file_error("each `[[apps]]` entry must be a table".into())),
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(file_error("`apps` must be an array of tables".into())),
        };
        if let Some(key) = root.keys().next() {
            return Err(file_error(format!("unknown section `{key}`")));
        }
        let mut sources = Sources::default();
        sources.record_file(path, Scope::Server, &server);
        for (i, app) in apps.iter().enumerate() {
            sources.record_file(path, Scope::App(i), app);
        }
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
