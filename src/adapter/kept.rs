//! Recovery over the adapter: ids for kept events, the places closed sockets
//! left and the marks of open ones, told to every node, and the probe of a
//! returning browser's sockets on other nodes ([`crate::recovery`]).
//!
//! A socket of a browser that follows a recovery channel is marked on the
//! other nodes (`O`); its close leaves its place there (`L`, which clears the
//! mark). A socket of that browser joining the channel with no place to take
//! while marks name other nodes asks those nodes (`Q`): each pings the
//! browser's sockets there, closes those that do not answer (which leaves
//! their places) and answers (`R`) how many answered and how many it closed.
//! A named node that does not answer died (SIGKILL) with its sockets'
//! places: the return is [`Recovery::Lost`] from where the mark says the
//! socket joined.

use super::bus::Bus;
use super::cluster::Cluster;
use super::Adapter;
use crate::channel::registry::AppState;
use crate::recovery::returns::{Answer, Left};
use crate::recovery::{encode_line, encode_places, Mark, Recovery, PROBE_WAIT};
use crate::socket::acks::{wall_ms, Pos};
use crate::socket::Frame;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How long past [`PROBE_WAIT`] a probing node waits for the answers.
const ANSWER_SLACK: Duration = Duration::from_millis(1000);

/// Where this node's kept-event ids start: random, so that two nodes' ids
/// never meet in practice (each node counts up from its own start).
pub(super) fn first_id() -> Arc<AtomicU64> {
    Arc::new(AtomicU64::new(crate::recovery::random_u64() >> 1))
}

impl Adapter {
    pub(super) fn kept_id(&self) -> u64 {
        self.kept_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A socket of `browser` closed: where it stood in each recovery channel,
    /// kept here and told to the other nodes; answers once the bus has it (or
    /// after [`super::ACK_WAIT`]), so a page told to reconnect finds it anywhere.
    pub(crate) async fn left(&self, app: &AppState, browser: &str, places: &[(String, Left)]) {
        let text = encode_places(places, Mark::Left);
        app.places(browser, &text, None);
        let Some(c) = &self.cluster else { return };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let id = app.app().raw.id.clone();
        c.send(
            Bus::Places,
            &id,
            browser,
            None,
            &Frame::from(text),
            Some(tx),
        );
        let _ = tokio::time::timeout(super::ACK_WAIT, rx).await;
    }

    /// A socket of `browser` follows recovery channel `channel` from `since`
    /// (`Some`), or stopped following it without closing: marked on the
    /// other nodes.
    pub(crate) fn marked(&self, app: &AppState, browser: &str, channel: &str, since: Option<Pos>) {
        let Some(c) = &self.cluster else { return };
        let mark = if since.is_some() {
            Mark::Open
        } else {
            Mark::Unmarked
        };
        let left = Left {
            pos: since.unwrap_or_default(),
            closed: 0,
        };
        tell(
            c.as_ref(),
            Bus::Places,
            app,
            browser,
            encode_line(channel, left, mark, None),
        );
    }

    /// What a socket of `browser` joining `channel` asks of its history; the
    /// places it takes are taken on every node, and the unsure places left for
    /// the browser's other tabs are left on every node.
    pub(crate) fn recovery(&self, app: &AppState, browser: &str, channel: &str) -> Recovery {
        let (recovery, taken, unsure) = app.take_place(browser, channel);
        let Some(c) = &self.cluster else {
            return recovery;
        };
        for (places, mark) in [(taken, Mark::Taken), (unsure, Mark::Left)] {
            if !places.is_empty() {
                let each = places.into_iter().map(|l| (channel.to_string(), l));
                let text = encode_places(&each.collect::<Vec<_>>(), mark);
                tell(c.as_ref(), Bus::Places, app, browser, text);
            }
        }
        recovery
    }

    /// `browser` joins `channel` with no place to take: ask the other nodes
    /// whose marks say it has sockets there in that channel. Returns when a
    /// place came (the caller takes it), the nodes said they have none, or
    /// after [`PROBE_WAIT`] and a slack; `Some(since)` when a named node did
    /// not answer (it died with the place), `since` where its socket joined.
    pub(crate) async fn lost_elsewhere(
        &self,
        app: &AppState,
        browser: &str,
        channel: &str,
    ) -> Option<Pos> {
        let c = self.cluster.as_ref()?;
        let marks = app.marks(browser, channel);
        if marks.is_empty() {
            return None;
        }
        let mut asked: Vec<Arc<str>> = marks.iter().map(|(n, _)| n.clone()).collect();
        asked.sort();
        asked.dedup();
        app.asking(browser, channel, true);
        let text = format!("{channel}\t{}", asked.join(","));
        tell(c.as_ref(), Bus::Probe, app, browser, text);
        let answers = self
            .await_answers(c.as_ref(), app, browser, channel, &asked)
            .await;
        app.asking(browser, channel, false);
        let answered = |n: &Arc<str>| answers.iter().any(|a| a.node == *n);
        let silent: Vec<_> = asked.iter().filter(|n| !answered(n)).cloned().collect();
        // Marks of nodes that have none of these sockets (a close the bus
        // lost) are stale; a silent node's go too, unless a place came.
        let empty = answers.iter().filter(|a| a.live == 0 && a.closed == 0);
        let mut done: Vec<_> = empty.map(|a| a.node.clone()).collect();
        let place = app.has_place(browser, channel);
        if !place {
            done.extend(silent.iter().cloned());
        }
        self.forget_marks(app, browser, channel, &done);
        if place {
            return None;
        }
        let lost = marks.iter().filter(|(n, _)| silent.contains(n));
        lost.map(|(_, since)| *since).min_by_key(|p| p.at)
    }

    /// Wait for the answers of `asked` (until a place came, every node
    /// answered or left the cluster, or the deadline); returns them.
    async fn await_answers(
        &self,
        c: &dyn Cluster,
        app: &AppState,
        browser: &str,
        channel: &str,
        asked: &[Arc<str>],
    ) -> Vec<Answer> {
        let deadline = tokio::time::Instant::now() + PROBE_WAIT + ANSWER_SLACK;
        let settled = || {
            let answers = app.answers(browser, channel);
            // A node that closed sockets sends their places: wait for them.
            let closing = answers.iter().any(|a| a.closed > 0);
            let peers = c.peer_nodes();
            let silent = asked
                .iter()
                .filter(|n| !answers.iter().any(|a| a.node == **n));
            let gone = silent
                .into_iter()
                .all(|n| !peers.iter().any(|p| **p == **n));
            app.has_place(browser, channel) || (!closing && gone)
        };
        crate::recovery::until(&app.returns_changed(), deadline, settled).await;
        app.answers(browser, channel)
    }

    /// The marks of `nodes` for `browser` in `channel` are done with, here and
    /// on every node.
    fn forget_marks(&self, app: &AppState, browser: &str, channel: &str, nodes: &[Arc<str>]) {
        let Some(c) = &self.cluster else { return };
        if nodes.is_empty() {
            return;
        }
        let left = Left::unsure(wall_ms());
        let line = |n: &Arc<str>| encode_line(channel, left, Mark::Forget, Some(n));
        let text = nodes.iter().map(line).collect::<Vec<_>>().join("\n");
        app.places(browser, &text, None);
        tell(c.as_ref(), Bus::Marks, app, browser, text);
    }
}

/// Another node probes `browser`'s sockets (`frame`: `channel\tnode,node`):
/// if `node` is named, ping them, close those that do not answer, and answer.
pub(crate) fn answer_probe<C: Cluster + 'static>(
    c: &Arc<C>,
    app: Arc<AppState>,
    node: &str,
    browser: &str,
    frame: &str,
) {
    let Some((channel, asked)) = frame.split_once('\t') else {
        return;
    };
    if !asked.split(',').any(|n| n == node) {
        return;
    }
    let (browser, channel) = (browser.to_string(), channel.to_string());
    let c = c.clone();
    tokio::spawn(async move {
        let sockets = app.browser_others(&browser, &channel, u64::MAX);
        let (live, closed) = crate::recovery::ping_or_close(&sockets, &channel).await;
        let text = format!("{channel}\t{live}\t{closed}");
        tell(&*c, Bus::Probed, &app, &browser, text);
    });
}

/// A message about `browser` of `app` to the other nodes.
fn tell(c: &dyn Cluster, kind: Bus, app: &AppState, browser: &str, text: String) {
    c.publish(kind, &app.app().raw.id, browser, None, &Frame::from(text));
}
