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
use crate::socket::{Frame, Sink};

/// How long a browser's earlier socket has to answer a ping before it is
/// taken for gone (see `connection::session::subscribe`).
pub(crate) const PROBE_WAIT: std::time::Duration = std::time::Duration::from_millis(1500);

/// Wait until `done` holds or `deadline` passes, checking it again whenever
/// `changed` is told (and at least every 100 ms, for what it is not told of).
pub(crate) async fn until(
    changed: &tokio::sync::Notify,
    deadline: tokio::time::Instant,
    mut done: impl FnMut() -> bool,
) {
    loop {
        let told = changed.notified();
        tokio::pin!(told);
        told.as_mut().enable();
        if done() || tokio::time::Instant::now() >= deadline {
            return;
        }
        let wait =
            deadline.min(tokio::time::Instant::now() + std::time::Duration::from_millis(100));
        let _ = tokio::time::timeout_at(wait, told).await;
    }
}

/// The name of the browser cookie.
pub(crate) const COOKIE: &str = "herald_session";

/// How much a channel keeps.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Bounds {
    pub max_events: usize,
    pub max_age_ms: u64,
    /// Events kept over all the app's channels on this node.
    pub max_kept: usize,
}

impl Bounds {
    pub(crate) fn of(app: &App) -> Bounds {
        Bounds {
            max_events: app.raw.recovery_max_events,
            max_age_ms: app.raw.recovery_max_age.saturating_mul(1000),
            max_kept: app.raw.recovery_max_kept.max(1),
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
    /// The browser's socket followed the channel from this place on a node
    /// that died (or stopped answering): what it received died with it.
    Lost(Pos),
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

/// A new browser token: 128 random bits.
pub(crate) fn new_token() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// 64 random bits from the process's random hasher keys (fresh per call),
/// a counter and the clock.
pub(crate) fn random_u64() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let since = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(n);
    h.write_u128(since.map(|d| d.as_nanos()).unwrap_or_default());
    h.finish()
}

/// The `Set-Cookie` value giving a browser its token.
pub(crate) fn set_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=31536000")
}

/// What a line of a places message says ([`encode_places`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Mark {
    /// `L`: a socket closed there (and its open mark, if any, is gone).
    Left,
    /// `T`: a returning socket took the place.
    Taken,
    /// `O`: a socket of the browser follows the channel on the sending node
    /// since that place (so a node that dies with it can be told from a
    /// browser that was never there).
    Open,
    /// `U`: it stopped following the channel without a place (unsubscribed).
    Unmarked,
    /// `X`: the sockets the named node had open there are gone (it died, or
    /// answered a probe with none): forget its marks.
    Forget,
}

impl Mark {
    fn letter(self) -> char {
        match self {
            Mark::Left => 'L',
            Mark::Taken => 'T',
            Mark::Open => 'O',
            Mark::Unmarked => 'U',
            Mark::Forget => 'X',
        }
    }

    fn of(letter: &str) -> Option<Mark> {
        Some(match letter {
            "L" => Mark::Left,
            "T" => Mark::Taken,
            "O" => Mark::Open,
            "U" => Mark::Unmarked,
            "X" => Mark::Forget,
            _ => return None,
        })
    }
}

/// One line of a places message: a place (or mark) in a channel, and for
/// [`Mark::Forget`] the node whose marks go.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Line<'a> {
    pub channel: &'a str,
    pub left: returns::Left,
    pub mark: Mark,
    pub node: Option<&'a str>,
}

/// Places left by a closed socket (or taken by a returning one, or marks of
/// open ones), as a bus frame: one line per channel,
/// `channel\tid\tat\tclosed\tkind[\tnode]` (`-` for no id; kinds as in
/// [`Mark`]). Channel names and node ids hold no tab or newline.
pub(crate) fn encode_places(places: &[(String, returns::Left)], mark: Mark) -> String {
    let line = |(c, l): &(String, returns::Left)| encode_line(c, *l, mark, None);
    places.iter().map(line).collect::<Vec<_>>().join("\n")
}

/// One line of [`encode_places`].
pub(crate) fn encode_line(c: &str, l: returns::Left, mark: Mark, node: Option<&str>) -> String {
    let id = l.pos.id.map_or("-".to_string(), |id| id.to_string());
    let (at, closed, kind) = (l.pos.at, l.closed, mark.letter());
    match node {
        Some(node) => format!("{c}\t{id}\t{at}\t{closed}\t{kind}\t{node}"),
        None => format!("{c}\t{id}\t{at}\t{closed}\t{kind}"),
    }
}

/// The lines of [`encode_places`]; bad lines skipped.
pub(crate) fn decode_places(text: &str) -> Vec<Line<'_>> {
    text.lines().filter_map(decode_place).collect()
}

fn decode_place(line: &str) -> Option<Line<'_>> {
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
    Some(Line {
        channel: c,
        left: returns::Left { pos, closed },
        mark: Mark::of(kind)?,
        node: f.next(),
    })
}

/// Ping `sockets` (a browser's earlier ones in `channel`); close those that do
/// not answer within [`PROBE_WAIT`] (their places are told before the close).
/// Returns how many answered and how many were closed.
pub(crate) async fn ping_or_close(
    sockets: &[std::sync::Arc<Sink>],
    channel: &str,
) -> (usize, usize) {
    let probes = sockets.iter().map(|s| {
        let answer = s.probe();
        async move { tokio::time::timeout(PROBE_WAIT, answer).await.is_ok() }
    });
    let answered = futures_util::future::join_all(probes).await;
    let mut closed = 0;
    for (sink, _) in sockets.iter().zip(answered).filter(|(_, a)| !a) {
        tracing::info!(socket = %sink.socket_id(), channel, "an earlier socket of this browser did not answer: closed");
        sink.close(
            crate::protocol::code::PONG_TIMEOUT,
            "Pong reply not received in time",
        );
        closed += 1;
    }
    (sockets.len() - closed, closed)
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
        let text = encode_places(&[("c".into(), left), ("d".into(), none)], Mark::Taken);
        let line = |channel, left, mark, node| Line {
            channel,
            left,
            mark,
            node,
        };
        assert_eq!(
            decode_places(&text),
            vec![
                line("c", left, Mark::Taken, None),
                line("d", none, Mark::Taken, None)
            ]
        );
        let forget = encode_line("c", left, Mark::Forget, Some("n1"));
        assert_eq!(
            decode_places(&forget),
            vec![line("c", left, Mark::Forget, Some("n1"))]
        );
        assert_eq!(decode_places("c\t1\t2\t3\tZ"), vec![]);
    }
}
