//! One encoded Pusher message, encoded once and shared by reference by every
//! socket it goes to.

use std::fmt;
use std::sync::Arc;

/// One encoded Pusher message (JSON text), shared by every socket it goes to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame(Arc<str>);

impl Frame {
    pub(crate) fn from_static(s: &'static str) -> Frame {
        Frame(Arc::from(s))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
}

impl From<String> for Frame {
    fn from(s: String) -> Frame {
        Frame(Arc::from(s))
    }
}

impl From<&str> for Frame {
    fn from(s: &str) -> Frame {
        Frame(Arc::from(s))
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
