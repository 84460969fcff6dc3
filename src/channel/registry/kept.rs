//! Recovery channels in the registry: a kept event is added to the channel's
//! history and queued to its sockets under the app's lock, and a join reads
//! the history under the same lock, so a returning socket gets what it missed
//! once, before anything newer ([`crate::recovery`]).

use super::subscribers::DIRECT_FANOUT_MAX;
use super::{lock, AppState};
use crate::recovery::history::{History, Kept};
use crate::recovery::returns::{Answer, Left, Marked};
use crate::recovery::{decode_places, Bounds, Mark, Recovery, Replay};
use crate::socket::acks::wall_ms as now_ms;
use crate::socket::{Frame, Sink, SocketId, Wakes};
use std::sync::Arc;

impl AppState {
    /// Keep API event `id` of recovery channel `name` and queue it to the
    /// channel's sockets (but `except`). Returns how many got it.
    pub(crate) fn broadcast_kept(
        &self,
        name: &str,
        frame: &Frame,
        except: Option<&str>,
        id: u64,
    ) -> usize {
        let except = except.and_then(SocketId::parse);
        let (now, bounds) = (now_ms(), Bounds::of(&self.app()));
        let mut state = lock(&self.state);
        let kept = Kept {
            id,
            at: now,
            frame: frame.clone(),
        };
        state.history.append(name, kept, bounds);
        let Some(channel) = state.channels.get(name) else {
            return 0;
        };
        // Large fan-outs queue for the sockets' tasks (as `broadcast` does), so
        // the lock is not held over thousands of writes.
        let mut wakes = (channel.subscribers.len() > DIRECT_FANOUT_MAX).then(Wakes::default);
        let mut sent = 0;
        for s in &channel.subscribers.list {
            let sink = &s.sink;
            if except.is_some_and(|e| sink.socket_id() == e) {
                sink.pass_kept(name, id);
                continue;
            }
            let took = match wakes.as_mut() {
                Some(w) => sink.send_kept(name, id, frame, |f| w.queue(sink, f)),
                None => sink.send_kept(name, id, frame, |f| sink.send(f)),
            };
            sent += usize::from(took);
        }
        sent
    }

    /// The kept events of `name`, oldest first (the HTTP API's history read).
    pub(crate) fn kept_events(&self, name: &str) -> Vec<Kept> {
        let bounds = Bounds::of(&self.app());
        lock(&self.state).history.events(name, now_ms(), bounds)
    }

    /// What a socket joining `name` asks of its history: where its browser's
    /// closed socket stood, if one did. Returns the places taken (so that no
    /// other socket replays them) and those left for the browser's other tabs.
    pub(crate) fn take_place(&self, browser: &str, name: &str) -> (Recovery, Vec<Left>, Vec<Left>) {
        let max_age = Bounds::of(&self.app()).max_age_ms;
        let mut returns = lock(&self.returns);
        let taken = returns.take(browser, name);
        let (recovery, unsure) = match taken.as_slice() {
            [] => (Recovery::Fresh, Vec::new()),
            [one] if one.is_unsure() => (Recovery::Unsure, Vec::new()),
            [one] if one.closed.saturating_add(max_age) < now_ms() => {
                (Recovery::Expired, Vec::new())
            }
            [one] => (Recovery::From(one.pos), Vec::new()),
            [first, rest @ ..] => {
                let unsure: Vec<_> = rest.iter().map(|_| Left::unsure(first.closed)).collect();
                unsure.iter().for_each(|l| returns.put(browser, name, *l));
                (Recovery::Unsure, unsure)
            }
        };
        (recovery, taken, unsure)
    }

    /// A socket of `browser` opened (`Some`) or closed here.
    pub(crate) fn browser_socket(&self, browser: &Arc<str>, sink: &Arc<Sink>, open: bool) {
        let mut returns = lock(&self.returns);
        match open {
            true => returns.opened(browser, sink),
            false => returns.closed(browser, sink.key),
        }
    }

    /// This node's other open sockets of `browser` in `name`.
    pub(crate) fn browser_others(&self, browser: &str, name: &str, key: u64) -> Vec<Arc<Sink>> {
        lock(&self.returns).others_in(browser, name, key)
    }

    /// Told when a place is left here or a probe of this node answered.
    pub(crate) fn returns_changed(&self) -> Arc<tokio::sync::Notify> {
        lock(&self.returns).changed.clone()
    }

    /// Whether `browser` has a place in `name` here.
    pub(crate) fn has_place(&self, browser: &str, name: &str) -> bool {
        lock(&self.returns).has(browser, name)
    }

    /// Places a closed socket left (or a returning one took), and marks of
    /// open ones, from this node or another (`text` as
    /// [`crate::recovery::encode_places`] writes it). `origin` is the other
    /// node that sent them (`None`: this node, which keeps no marks of its own).
    pub(crate) fn places(&self, browser: &str, text: &str, origin: Option<&str>) {
        let keep = Bounds::of(&self.app()).max_age_ms.saturating_mul(10);
        let mut returns = lock(&self.returns);
        for line in decode_places(text) {
            let (channel, left) = (line.channel, line.left);
            match (line.mark, origin) {
                (Mark::Taken, _) => returns.taken(browser, channel, left),
                (Mark::Left, o) => {
                    returns.put(browser, channel, left);
                    if let Some(node) = o.filter(|_| !left.is_unsure()) {
                        returns.unmark(browser, channel, node, false);
                    }
                }
                (Mark::Open, Some(node)) => returns.mark(browser, channel, node, left.pos),
                (Mark::Unmarked, Some(node)) => returns.unmark(browser, channel, node, false),
                (Mark::Forget, _) => {
                    if let Some(node) = line.node {
                        returns.unmark(browser, channel, node, true);
                    }
                }
                (Mark::Open | Mark::Unmarked, None) => {}
            }
        }
        returns.sweep(now_ms().saturating_sub(keep));
    }

    /// Other nodes' open sockets of `browser` in `name`: (node, since).
    pub(crate) fn marks(&self, browser: &str, name: &str) -> Vec<Marked> {
        lock(&self.returns).marks(browser, name)
    }

    /// Collect answers to a probe of `browser` in `name` (`false`: stop).
    pub(crate) fn asking(&self, browser: &str, name: &str, asking: bool) {
        lock(&self.returns).asking(browser, name, asking)
    }

    /// A node's answer to this node's probe (`text`: `channel\tlive\tclosed`).
    pub(crate) fn answered(&self, browser: &str, node: &str, text: &str) {
        let mut f = text.split('\t');
        let (Some(channel), Some(live), Some(closed)) = (f.next(), f.next(), f.next()) else {
            return;
        };
        let (Ok(live), Ok(closed)) = (live.parse(), closed.parse()) else {
            return;
        };
        let node = node.into();
        let answer = Answer { node, live, closed };
        lock(&self.returns).answered(browser, channel, answer)
    }

    /// The answers so far.
    pub(crate) fn answers(&self, browser: &str, name: &str) -> Vec<Answer> {
        lock(&self.returns).answers(browser, name)
    }
}

/// Under the join's lock: follow the socket's kept events from where it
/// stands, and say what it missed (`None`: it asked for nothing).
pub(super) fn join(
    history: &mut History,
    name: &str,
    sink: &Sink,
    recovery: Recovery,
    bounds: Bounds,
) -> Option<Replay> {
    let now = now_ms();
    let head = history.head(name, now);
    let replay = match recovery {
        Recovery::Off => return None,
        Recovery::Fresh => None,
        Recovery::Expired => Some(Replay::Failed("gap_too_long")),
        Recovery::Unsure => Some(Replay::Failed("ambiguous")),
        Recovery::From(from) => Some(history.replay(name, from, now, bounds)),
        // Nothing kept after its node's last word of it: nothing was missed.
        Recovery::Lost(from) => match history.replay(name, from, now, bounds) {
            Replay::Events(missed) if missed.is_empty() => Some(Replay::Events(missed)),
            Replay::Events(_) => Some(Replay::Failed("node_lost")),
            failed => Some(failed),
        },
    };
    match (&replay, recovery) {
        (Some(Replay::Events(missed)), Recovery::From(from) | Recovery::Lost(from)) => {
            let queued = missed.last().map(|(id, _)| *id).or(from.id);
            sink.track_kept(name, from, queued);
        }
        _ => sink.track_kept(name, head, head.id),
    }
    replay
}

#[cfg(test)]
mod tests {
    use crate::channel::registry::AppState;
    use crate::recovery::returns::Left;
    use crate::recovery::{encode_line, Mark};
    use crate::socket::acks::Pos;
    use std::sync::Arc;

    fn app() -> AppState {
        let config = crate::config::RawConfig::default().build().unwrap();
        AppState::new(config.apps.iter().next().unwrap().clone())
    }

    /// Marks come from other nodes only, one per open socket: a close (`L`)
    /// or an unsubscribe (`U`) from that node takes one, `X` all of a node's.
    #[test]
    fn marks_follow_the_lines_of_other_nodes() {
        let app = app();
        let now = crate::socket::acks::wall_ms();
        let here = Left {
            pos: Pos {
                id: Some(5),
                at: now,
            },
            closed: now,
        };
        let line = |m, node| encode_line("c", here, m, node);
        let nodes = |app: &AppState| -> Vec<Arc<str>> {
            let mut nodes: Vec<_> = app.marks("b", "c").into_iter().map(|(n, _)| n).collect();
            nodes.sort();
            nodes
        };
        app.places("b", &line(Mark::Open, None), None);
        assert!(
            nodes(&app).is_empty(),
            "this node keeps no marks of its own"
        );
        for _ in 0..3 {
            app.places("b", &line(Mark::Open, None), Some("n1"));
        }
        app.places("b", &line(Mark::Open, None), Some("n2"));
        app.places("b", &line(Mark::Left, None), Some("n1"));
        app.places("b", &line(Mark::Unmarked, None), Some("n1"));
        assert_eq!(nodes(&app), vec![Arc::from("n1"), Arc::from("n2")]);
        assert!(app.has_place("b", "c"), "the close left its place");
        app.places("b", &line(Mark::Forget, Some("n2")), Some("n3"));
        assert_eq!(nodes(&app), vec![Arc::from("n1")]);
        app.places("b", &line(Mark::Left, None), Some("n1"));
        assert!(nodes(&app).is_empty());
    }
}
