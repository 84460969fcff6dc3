//! The apps a node serves, indexed by id and by key.

use super::{App, ConfigError};
use std::collections::HashMap;
use std::sync::Arc;

/// Apps indexed by id and by key, read without a lock (`arc-swap`).
/// Replaceable as a whole while serving, for apps that come from a database.
/// `clone` takes a snapshot; [`Apps::live`] a handle that sees every replacement.
#[derive(Debug, Default)]
pub struct Apps {
    index: Arc<arc_swap::ArcSwap<AppIndex>>,
}

#[derive(Debug, Default)]
pub(super) struct AppIndex {
    by_id: HashMap<String, Arc<App>>,
    by_key: HashMap<String, Arc<App>>,
}

impl Clone for Apps {
    fn clone(&self) -> Apps {
        Apps {
            index: Arc::new(arc_swap::ArcSwap::new(self.index.load_full())),
        }
    }
}

impl Apps {
    pub fn new(apps: Vec<App>) -> Result<Apps, ConfigError> {
        let index = AppIndex::new(apps)?;
        if index.by_id.is_empty() {
            return Err(ConfigError::NoApps);
        }
        Ok(Apps {
            index: Arc::new(arc_swap::ArcSwap::from_pointee(index)),
        })
    }

    /// A handle on the same apps: it sees every later [`Apps::replace`]
    /// (webhook senders look their app up through one at each request).
    pub fn live(&self) -> Apps {
        Apps {
            index: self.index.clone(),
        }
    }

    /// Take a new list of apps (validated as at startup; it may be empty).
    /// Apps whose settings did not change keep their `Arc`.
    pub fn replace(&self, apps: Vec<App>) -> Result<(), ConfigError> {
        let mut fresh = AppIndex::new(apps)?;
        {
            let old = self.read();
            for (id, app) in fresh.by_id.iter_mut() {
                if let Some(same) = old.by_id.get(id).filter(|o| ***o == **app) {
                    *app = same.clone();
                }
            }
        }
        fresh.by_key = fresh
            .by_id
            .values()
            .map(|a| (a.raw.key.clone(), a.clone()))
            .collect();
        self.index.store(Arc::new(fresh));
        Ok(())
    }

    fn read(&self) -> arc_swap::Guard<Arc<AppIndex>> {
        self.index.load()
    }

    pub fn by_id(&self, id: &str) -> Option<Arc<App>> {
        self.read().by_id.get(id).cloned()
    }

    pub fn by_key(&self, key: &str) -> Option<Arc<App>> {
        self.read().by_key.get(key).cloned()
    }

    /// A snapshot of every app.
    pub fn iter(&self) -> std::vec::IntoIter<Arc<App>> {
        let all: Vec<Arc<App>> = self.read().by_id.values().cloned().collect();
        all.into_iter()
    }
}

impl AppIndex {
    fn new(apps: Vec<App>) -> Result<AppIndex, ConfigError> {
        let mut out = AppIndex::default();
        for app in apps {
            let (id, key, secret) = (&app.raw.id, &app.raw.key, &app.raw.secret);
            let fields = [("id", id), ("key", key), ("secret", secret)];
            if let Some((field, _)) = fields.into_iter().find(|(_, v)| v.is_empty()) {
                return Err(ConfigError::Empty {
                    id: id.clone(),
                    field,
                });
            }
            let app = Arc::new(app);
            let (id, key) = (app.raw.id.clone(), app.raw.key.clone());
            for (field, index, value) in [("id", &mut out.by_id, id), ("key", &mut out.by_key, key)]
            {
                if index.insert(value.clone(), app.clone()).is_some() {
                    return Err(ConfigError::Duplicate { field, value });
                }
            }
        }
        Ok(out)
    }
}
