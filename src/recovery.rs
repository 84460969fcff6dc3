//! Missed events after a reconnect, for stock Pusher clients (opt-in per app
//! and channel pattern: `recovery_channels`).
//!
//! - **History**: an HTTP API event to a recovery channel gets an id from the
//!   node that took it and goes over the bus to every node (not only those
//!   with subscribers), which keeps it in the channel's ring ([`history`]),
//!   bounded by `recovery_max_events` and `recovery_max_age`. The bus gives
//!   every node one order, so an id is a position on every node.
//! - **What a socket had**: stock clients never say which events they got, but
//!   they answer `pusher:ping` in order; a ping after each burst of kept events
//!   tells what was received ([`crate::socket::acks`]).
//! - **Which browser came back**: the WebSocket handshake's answer sets a
//!   `herald_session` cookie, which the browser sends again with its next
//!   handshake. A closing socket leaves, per recovery channel, where it stood
//!   ([`returns`]), on every node.
//! - **The return**: when a socket of that browser joins the channel again, the
//!   events after its place follow `subscription_succeeded`, in order, before
//!   anything newer (the join and the ring are read under the registry lock the
//!   ring is written under); a gap older than the max age, or trimmed, gets
//!   `pusher:recovery_failed` with the reason instead, so the page can reload.

pub(crate) mod history;
pub(crate) mod returns;

use crate::config::App;
use crate::socket::acks::Pos;
use crate::socket::Frame;

/// How long a browser's earlier socket has to answer a ping before it is
/// taken for gone (see `connection::session::subscribe`).
pub(crate) const PROBE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// The name of the browser cookie.
pub(crate) const COOKIE: &str = "herald_session";

/// How much a channel keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub max_events: usize,
    pub max_age_ms: u64,
}

impl Bounds {
    pub(crate) fn of(app: &App) -> Bounds {
        Bounds {
            max_events: app.raw.recovery_max_events,
            max_age_ms: app.raw.recovery_max_age.saturating_mul(1000),
        }
    }
}

/// Whether `channel` keeps its events for recovery in `app`.
pub(crate) fn wanted(app: &App, channel: &str) -> bool {
    app.raw
        .recovery_channels
        .iter()
        .any(|p| match p.strip_suffix('*') {
            Some(prefix) => channel.starts_with(prefix),
            None => p == channel,
        })
}

/// What a join asks of the channel's history.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Recovery {
    /// Not a recovery channel.
    Off,
    /// A recovery channel this browser left no place in.
    Fresh,
    /// Resume after this place.
    From(Pos),
    /// The browser's place is older than the max age.
    Expired,
    /// The browser's tabs left different places: which is this one's is unknown.
    Unsure,
}

/// The events a returning socket missed, with their ids, or why not.
#[derive(Debug, PartialEq)]
pub(crate) enum Replay {
    Events(Vec<(u64, Frame)>),
    Failed(&'static str),
}

#[cfg(test)]
impl Replay {
    pub(crate) fn failed(&self) -> Option<&'static str> {
        match self {
            Replay::Failed(why) => Some(why),
            Replay::Events(_) => None,
        }
    }
}

/// The browser's token in a `Cookie` header, if it holds a well-formed one.
pub(crate) fn token_in(cookies: &str) -> Option<&str> {
    let mut pairs = cookies.split(';').map(str::trim);
    let value = pairs.find_map(|p| p.strip_prefix(COOKIE)?.strip_prefix('='))?;
    let ok = value.len() == 32 && value.bytes().all(|b| b.is_ascii_hexdigit());
    ok.then_some(value)
}

/// A new browser token: 128 bits from the process's random hasher keys.
pub(crate) fn new_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let nanos = since.map(|d| d.as_nanos()).unwrap_or_default();
    let half = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(n ^ salt);
        h.write_u128(nanos);
        h.finish()
    };
    format!("{:016x}{:016x}", half(0), half(u64::MAX))
}

/// The `Set-Cookie` value giving a browser its token.
pub(crate) fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000")
}

/// Places left by a closed socket (or taken by a returning one), as a bus
/// frame: one line per channel, `channel\tid\tat\tclosed\tkind` (`-` for no
/// id; kind `L` left, `T` taken). Channel names hold no tab or newline.
pub(crate) fn encode_places(places: &[(String, returns::Left)], kind: char) -> String {
    let line = |(c, l): &(String, returns::Left)| {
        let id = l.pos.id.map_or("-".to_string(), |id| id.to_string());
        format!("{c}\t{id}\t{}\t{}\t{kind}", l.pos.at, l.closed)
    };
    places.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// The lines of [`encode_places`]: (channel, place, taken); bad lines skipped.
pub(crate) fn decode_places(text: &str) -> Vec<(&str, returns::Left, bool)> {
    text.lines().filter_map(decode_place).collect()
}

fn decode_place(line: &str) -> Option<(&str, returns::Left, bool)> {
    let mut f = line.split('\t');
    let (c, id, at, closed, kind) = (f.next()?, f.next()?, f.next()?, f.next()?, f.next()?);
    let id = match id {
        "-" => None,
        id => Some(id.parse().ok()?),
    };
    let pos = Pos {
        id,
        at: at.parse().ok()?,
    };
    let closed = closed.parse().ok()?;
    Some((c, returns::Left { pos, closed }, kind == "T"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_patterns_and_places_read_back() {
        let t = new_token();
        assert_eq!(t.len(), 32);
        assert_ne!(t, new_token());
        let header = format!("a=1; {COOKIE}={t}; b=2");
        assert_eq!(token_in(&header), Some(t.as_str()));
        assert_eq!(token_in(&format!("{COOKIE}=short")), None);
        let config = crate::config::RawConfig::default().build().unwrap();
        let mut app = (*config.apps.iter().next().unwrap()).clone();
        app.raw.recovery_channels = vec!["private-chat.*".into(), "news".into()];
        assert!(wanted(&app, "private-chat.7") && wanted(&app, "news"));
        assert!(!wanted(&app, "news2") && !wanted(&app, "ticker"));
        let left = returns::Left {
            pos: Pos {
                id: Some(42),
                at: 5,
            },
            closed: 9,
        };
        let none = returns::Left {
            pos: Pos { id: None, at: 6 },
            closed: 9,
        };
        let text = encode_places(&[("c".into(), left), ("d".into(), none)], 'T');
        assert_eq!(
            decode_places(&text),
            vec![("c", left, true), ("d", none, true)]
        );
    }
}
