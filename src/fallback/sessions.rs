//! The node's open fallback sessions, by app key and pusher-js's session path.
//! Their number is bounded by the node's caps: each holds a connection's pass.

use super::io::Shared;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

#[derive(Debug, Default)]
pub struct Sessions {
    open: Mutex<HashMap<(String, String), Arc<Shared>>>,
}

impl Sessions {
    fn lock(&self) -> MutexGuard<'_, HashMap<(String, String), Arc<Shared>>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn get(&self, key: &str, session: &str) -> Option<Arc<Shared>> {
        let k = (key.to_string(), session.to_string());
        self.lock().get(&k).cloned()
    }

    /// The session, and whether it was created now.
    pub(super) fn open(&self, key: &str, session: &str) -> (Arc<Shared>, bool) {
        let k = (key.to_string(), session.to_string());
        let mut open = self.lock();
        if let Some(s) = open.get(&k) {
            return (s.clone(), false);
        }
        let s = Shared::new();
        open.insert(k, s.clone());
        (s, true)
    }

    pub(super) fn remove(&self, key: &str, session: &str) {
        self.lock().remove(&(key.to_string(), session.to_string()));
    }
}
