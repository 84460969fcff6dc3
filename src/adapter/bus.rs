//! Cross-node messages, the same on every bus (Redis, NATS):
//! `origin\nkind\napp\ntarget\nexcept\nframe`, and what a node does with one
//! from another node. Each adapter decides which subject a kind goes to.

use crate::channel::registry::AppState;
use crate::channel::Registry;
use crate::socket::Frame;
use std::borrow::Cow;

/// Kinds of bus messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bus {
    Broadcast,
    ToUser,
    Terminate,
    /// `member_added` with the join's sequence number.
    Member(u64),
    /// A node's subscription count of the channel changed.
    Count,
    /// A watched user went online (`true`) or offline; the frame is for its watchers.
    Watch(bool),
}

impl Bus {
    fn tag(self) -> Cow<'static, str> {
        match self {
            Bus::Broadcast => "B".into(),
            Bus::ToUser => "U".into(),
            Bus::Terminate => "T".into(),
            Bus::Member(seq) => format!("M{seq}").into(),
            Bus::Count => "C".into(),
            Bus::Watch(true) => "W1".into(),
            Bus::Watch(false) => "W0".into(),
        }
    }
}

/// `origin\nkind\napp\ntarget\nexcept\nframe`, sent by node `origin`.
pub(crate) fn encode(
    origin: &str,
    kind: Bus,
    app: &str,
    target: &str,
    except: Option<&str>,
    frame: &Frame,
) -> String {
    let except = except.unwrap_or("");
    format!(
        "{origin}\n{}\n{app}\n{target}\n{except}\n{}",
        kind.tag(),
        frame.as_str()
    )
}

/// Deliver a message to this node's sockets, unless `node` sent it itself or
/// its app is unknown here. `count` handles a [`Bus::Count`] message, which each
/// adapter answers its own way.
pub(crate) fn deliver(
    registry: &Registry,
    node: &str,
    payload: &str,
    count: impl FnOnce(&AppState, &str),
) {
    let mut parts = payload.splitn(6, '\n');
    let (Some(origin), Some(kind), Some(app), Some(target), Some(except), Some(frame)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        tracing::warn!("malformed cluster bus message ignored");
        return;
    };
    if origin == node {
        return;
    }
    let Some(app) = registry.app(app) else {
        return;
    };
    let except = (!except.is_empty()).then_some(except);
    let frame = Frame::from(frame);
    match kind {
        "B" => drop(app.broadcast(target, &frame, except)),
        "U" => drop(app.send_to_user(target, &frame, except)),
        "T" => drop(app.terminate_user(target)),
        "C" => count(&app, target),
        "W1" | "W0" => drop(app.tell_watchers(target, kind == "W1", &frame)),
        member if member.starts_with('M') => match member[1..].parse() {
            Ok(seq) => drop(app.announce_member(target, &frame, seq, except)),
            Err(_) => tracing::warn!(kind, "malformed cluster bus member message"),
        },
        _ => tracing::warn!(kind, "unknown cluster bus message kind"),
    }
}
