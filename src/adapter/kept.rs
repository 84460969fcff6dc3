//! Recovery over the adapter: ids for kept events, and the places closed
//! sockets left, told to every node ([`crate::recovery`]).

use super::bus::Bus;
use super::Adapter;
use crate::channel::registry::AppState;
use crate::recovery::returns::Left;
use crate::recovery::{encode_places, Recovery};
use crate::socket::Frame;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Where this node's kept-event ids start: random, so that two nodes' ids
/// never meet in practice (each node counts up from its own start).
pub(super) fn first_id() -> Arc<AtomicU64> {
    let token = crate::recovery::new_token();
    let start = u64::from_str_radix(&token[..16], 16).unwrap_or_default();
    Arc::new(AtomicU64::new(start >> 1))
}

impl Adapter {
    pub(super) fn kept_id(&self) -> u64 {
        self.kept_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A socket of `browser` closed: where it stood in each recovery channel,
    /// kept here and told to the other nodes; answers once the bus has it (or
    /// after [`super::ACK_WAIT`]), so a page told to reconnect finds it anywhere.
    pub(crate) async fn left(&self, app: &AppState, browser: &str, places: &[(String, Left)]) {
        let text = encode_places(places, 'L');
        app.places(browser, &text);
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

    /// What a socket of `browser` joining `channel` asks of its history; the
    /// places it takes are taken on every node, and the unsure places left for
    /// the browser's other tabs are left on every node.
    pub(crate) fn recovery(&self, app: &AppState, browser: &str, channel: &str) -> Recovery {
        let (recovery, taken, unsure) = app.take_place(browser, channel);
        let Some(c) = &self.cluster else {
            return recovery;
        };
        let id = app.app().raw.id.clone();
        let tell = |places: Vec<Left>, kind| {
            if !places.is_empty() {
                let each = places.into_iter().map(|l| (channel.to_string(), l));
                let text = encode_places(&each.collect::<Vec<_>>(), kind);
                c.publish(Bus::Places, &id, browser, None, &Frame::from(text));
            }
        };
        tell(taken, 'T');
        tell(unsure, 'L');
        recovery
    }
}
