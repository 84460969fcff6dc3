//! Why a connection was refused or ended, as values: each refusal carries its
//! Pusher code and message, each ending its cause.

use crate::protocol::code;
use crate::ws::DecodeError;
use std::io;
use std::time::Duration;

/// Why an upgraded socket is not admitted: `pusher:error` with [`Refusal::code`], then close.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refusal {
    #[error("App key {0} does not exist.")]
    UnknownApp(String),
    #[error("The app is not enabled.")]
    Disabled,
    #[error("Origin not allowed")]
    Origin,
    #[error("The current concurrent connections quota has been reached.")]
    OverQuota,
    #[error("Over capacity: this server has no room for more connections.")]
    OverCapacity,
}

impl Refusal {
    /// The Pusher close code; pusher-js decides from it whether to retry.
    pub(crate) fn code(&self) -> u16 {
        match self {
            Refusal::UnknownApp(_) => code::APP_NOT_FOUND,
            Refusal::Disabled => code::APP_DISABLED,
            Refusal::Origin => code::UNAUTHORIZED,
            Refusal::OverQuota => code::OVER_QUOTA,
            Refusal::OverCapacity => code::OVER_CAPACITY,
        }
    }

    /// Its `refusals_total` reason; `None` when the server already counted it.
    pub(crate) fn metric(&self) -> Option<&'static str> {
        match self {
            Refusal::UnknownApp(_) => Some("unknown_app"),
            Refusal::Disabled => Some("app_disabled"),
            Refusal::Origin => Some("origin"),
            Refusal::OverQuota => Some("app_quota"),
            Refusal::OverCapacity => None,
        }
    }
}

/// A close the server sends: a Pusher (4000-4999) or WebSocket code and its message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code} {message}")]
pub struct Close {
    pub code: u16,
    pub message: String,
}

/// A write that did not complete.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    #[error(transparent)]
    Io(#[from] io::Error),
    #[error("no progress within {0:?}")]
    TimedOut(Duration),
}

/// Why a connection's loop ended.
#[derive(Debug, thiserror::Error)]
pub enum Ended {
    #[error("the client closed the connection")]
    ClientClosed,
    #[error("reading failed")]
    Read(#[source] io::Error),
    #[error("writing failed")]
    Write(#[source] WriteError),
    #[error("unreadable frame")]
    Protocol(#[source] DecodeError),
    #[error("closed by the server: {0}")]
    Closed(Close),
    #[error("the client stopped reading: its queue overflowed (4100)")]
    SlowConsumer,
}

impl From<WriteError> for Ended {
    fn from(e: WriteError) -> Ended {
        Ended::Write(e)
    }
}
