//! The console's records of a socket's life: connected, refused, disconnected.

use super::{Ended, Refusal};
use crate::socket::SocketId;
use crate::tap::{self, Event, Stage};

pub(super) fn connected(id: SocketId, origin: Option<String>, transport: &str) -> Event {
    Event::Connect {
        socket: id.to_string(),
        origin,
        transport: Some(transport.to_string()),
    }
}

pub(super) fn refused(id: SocketId, refusal: &Refusal) -> Event {
    Event::Refusal(tap::Refusal {
        stage: Stage::Connection,
        socket: Some(id.to_string()),
        channel: None,
        event: None,
        reason: refusal.to_string(),
        code: Some(refusal.code()),
        signed: None,
    })
}

pub(super) fn disconnected(id: SocketId, ended: &Ended) -> Event {
    let code = match ended {
        Ended::Closed(close) => Some(close.code),
        Ended::SlowConsumer => Some(crate::protocol::code::OVER_CAPACITY),
        _ => None,
    };
    Event::Disconnect {
        socket: id.to_string(),
        code,
        reason: ended.to_string(),
    }
}
