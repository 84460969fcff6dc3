//! Cross-node messages, the same on every bus (Redis, NATS):
//! `origin\nkind\napp\ntarget\nexcept\nframe`, and what a node does with one
//! from another node. Each adapter decides which subject a kind goes to. The app
//! id travels as its [`app_token`] (unchanged for ordinary ids), so an id with a
//! newline cannot shift the fields into another app's channel.

use crate::channel::registry::AppState;
use crate::channel::Registry;
use crate::socket::Frame;
use std::borrow::Cow;
use std::sync::Arc;

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
    /// An API event to a recovery channel, with its id: every node keeps it.
    Kept(u64),
    /// Places closed sockets of a browser left in recovery channels, or a
    /// returning socket took ([`crate::recovery::encode_places`]).
    Places,
    /// Marks of a browser's open sockets in recovery channels, in the same
    /// lines (a kind of its own, which nodes without marks ignore).
    Marks,
    /// A returning browser asks the nodes its frame names (`channel\tnode,node`)
    /// about its sockets there in that channel ([`crate::adapter::kept`]).
    Probe,
    /// A node's answer to a probe: `channel\tlive\tclosed`.
    Probed,
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
            Bus::Kept(id) => format!("K{id}").into(),
            Bus::Places => "P".into(),
            Bus::Marks => "O".into(),
            Bus::Probe => "Q".into(),
            Bus::Probed => "R".into(),
        }
    }
}

/// Ends the origin of a message that its own node delivers too, when it comes
/// back from the bus: an API publish on a clustered node reaches the node's own
/// sockets in the bus's order, after every event the bus had before it (see
/// [`crate::adapter`], "Order"). Older nodes read it as another node's origin.
pub(crate) const ECHO: &str = "+";

/// The origin field of a message from `node` ([`ECHO`] when `echo`).
pub(crate) fn origin(node: &str, echo: bool) -> Cow<'_, str> {
    match echo {
        true => Cow::Owned(format!("{node}{ECHO}")),
        false => Cow::Borrowed(node),
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
        "{origin}\n{}\n{}\n{target}\n{except}\n{}",
        kind.tag(),
        app_token(app),
        frame.as_str()
    )
}

/// An app id as it appears in bus messages and Redis keys: as it is when made of
/// letters, digits, `-`, `_` and `.` (so ordinary ids are unchanged across
/// upgrades), else with every other byte (`%` included) as `%XX`. No token holds
/// a separator (`:`, `#`, a newline), a hash tag (`{`) or a glob character, and
/// two ids never share a token.
pub(crate) fn app_token(app: &str) -> Cow<'_, str> {
    if app.bytes().all(plain) {
        return Cow::Borrowed(app);
    }
    let mut token = String::with_capacity(app.len() * 3);
    for b in app.bytes() {
        match plain(b) {
            true => token.push(char::from(b)),
            false => token.push_str(&format!("%{b:02X}")),
        }
    }
    Cow::Owned(token)
}

fn plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.')
}

/// The app id of a token ([`app_token`]); `None` if it is not one.
fn app_of(token: &str) -> Option<Cow<'_, str>> {
    if !token.contains('%') {
        return Some(Cow::Borrowed(token));
    }
    let mut bytes = Vec::with_capacity(token.len());
    let mut rest = token.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        rest = tail;
        if b != b'%' {
            bytes.push(b);
            continue;
        }
        let hex = std::str::from_utf8(rest.get(..2)?).ok()?;
        bytes.push(u8::from_str_radix(hex, 16).ok()?);
        rest = &rest[2..];
    }
    String::from_utf8(bytes).ok().map(Cow::Owned)
}

/// A message each adapter answers its own way.
pub(crate) enum Local<'a> {
    /// [`Bus::Count`]: another node's count of the channel changed.
    Count(&'a AppState, &'a str),
    /// [`Bus::Probe`]: the app, the browser and the frame.
    Probe(Arc<AppState>, &'a str, &'a str),
}

/// Deliver a message to this node's sockets, unless `node` sent it itself or
/// its app is unknown here. `local` handles the kinds of [`Local`].
pub(crate) fn deliver(registry: &Registry, node: &str, payload: &str, local: impl FnOnce(Local)) {
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
    // Its own message's echo (an acknowledged one on NATS): no marks of its own.
    let other = Some(origin).filter(|o| o.strip_suffix(ECHO) != Some(node));
    let Some(app) = app_of(app).and_then(|id| registry.app(&id)) else {
        return;
    };
    let except = (!except.is_empty()).then_some(except);
    let frame = Frame::from(frame);
    match kind {
        "B" => drop(app.broadcast(target, &frame, except)),
        "U" => drop(app.send_to_user(target, &frame, except)),
        "T" => drop(app.terminate_user(target)),
        "C" => local(Local::Count(&app, target)),
        "W1" | "W0" => drop(app.tell_watchers(target, kind == "W1", &frame)),
        "P" | "O" => app.places(target, frame.as_str(), other),
        "Q" => local(Local::Probe(app.clone(), target, frame.as_str())),
        "R" => app.answered(target, origin, frame.as_str()),
        kept if kept.starts_with('K') => match kept[1..].parse() {
            Ok(id) => drop(app.broadcast_kept(target, &frame, except, id)),
            Err(_) => tracing::warn!(kind, "malformed cluster bus kept event"),
        },
        member if member.starts_with('M') => match member[1..].parse() {
            Ok(seq) => drop(app.announce_member(target, &frame, seq, except)),
            Err(_) => tracing::warn!(kind, "malformed cluster bus member message"),
        },
        _ => tracing::warn!(kind, "unknown cluster bus message kind"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn app_tokens_read_back_and_keep_ordinary_ids() {
        for id in ["app-id", "a:b", "a\nb", "a%3Ab", "{x}*", "é"] {
            assert_eq!(app_of(&app_token(id)).as_deref(), Some(id));
            assert!(!app_token(id).contains([':', '#', '\n', '{']));
        }
        assert_eq!(app_token("app-1_x.y"), "app-1_x.y");
        assert_ne!(app_token("a:b"), app_token("a%3Ab"));
        assert_eq!(app_of("%zz"), None);
    }
}
