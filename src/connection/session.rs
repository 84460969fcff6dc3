//! What one socket has said and may do: its subscriptions, signed-in user and
//! client-event budget. Handlers are synchronous: they update the registry through
//! the adapter and return the frames to write back to this socket.

use crate::channel::registry::AppState;
use crate::channel::{ChannelType, Kind};
use crate::node::Node;
use crate::protocol::{self, code, ClientMessage};
use crate::socket::Sink;
use crate::tap::{Event as TapEvent, Refusal, Stage};
use crate::webhook::Event;
use std::collections::HashMap;

mod signin;
mod subscribe;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The frames to write back to the socket after a frame was handled.
#[derive(Debug, Default)]
pub(crate) struct Reply {
    pub frames: Vec<String>,
}

impl Reply {
    fn frame(f: String) -> Reply {
        Reply { frames: vec![f] }
    }
}

pub(crate) struct Session {
    pub node: Arc<Node>,
    pub app: Arc<AppState>,
    pub sink: Arc<Sink>,
    /// Channel -> presence user id (for presence channels).
    subscriptions: Subscriptions,
    pub user: Option<String>,
    /// The signed-in user's watchlist (apps with watchlist events).
    watching: Vec<String>,
    /// The browser's `herald_session` token (WebSocket sockets of apps with
    /// recovery channels), for its places in them ([`crate::recovery`]).
    pub browser: Option<Arc<str>>,
    window_start: Instant,
    window_count: i64,
}

impl Session {
    pub(crate) fn new(node: Arc<Node>, app: Arc<AppState>, sink: Arc<Sink>) -> Session {
        Session {
            node,
            app,
            sink,
            subscriptions: Subscriptions::default(),
            user: None,
            watching: Vec::new(),
            browser: None,
            window_start: Instant::now(),
            window_count: 0,
        }
    }

    pub(crate) async fn handle(&mut self, msg: ClientMessage) -> Reply {
        match msg {
            ClientMessage::Ping => Reply::frame(protocol::pong().into()),
            ClientMessage::Pong => {
                self.sink.ponged();
                Reply::default()
            }
            ClientMessage::Ignored(_) => Reply::default(),
            ClientMessage::Subscribe {
                channel,
                auth,
                channel_data,
            } => {
                self.subscribe(&channel, auth.as_deref(), channel_data.as_deref())
                    .await
            }
            ClientMessage::Unsubscribe { channel } => {
                self.unsubscribe(&channel).await;
                Reply::default()
            }
            ClientMessage::Signin { auth, user_data } => self.sign_in(&auth, &user_data).await,
            ClientMessage::ClientEvent {
                event,
                channel,
                data,
            } => self.client_event(&event, &channel, data.as_deref()),
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channel: &str) {
        if self.subscriptions.remove(channel).is_none() {
            return;
        }
        if let Some(b) = self
            .browser
            .as_ref()
            .filter(|_| self.sink.tracks_kept(channel))
        {
            self.node.adapter.marked(&self.app, b, channel, None);
        }
        let left = self
            .node
            .adapter
            .unsubscribe(&self.app, channel, self.sink.key)
            .await;
        let Some(left) = left else { return };
        self.tap_left(channel, left.member_removed.as_ref().map(|m| m.id.as_str()));
        if left.vacated {
            self.webhook(Event::ChannelVacated {
                channel: channel.to_string(),
            });
        }
        if let Some(m) = left.member_removed {
            self.webhook(Event::MemberRemoved {
                channel: channel.to_string(),
                user_id: m.id,
                user_json: m.id_json,
            });
        }
    }

    /// The console's records of a leave: the unsubscription and a gone member.
    fn tap_left(&self, channel: &str, user: Option<&str>) {
        let socket = || self.sink.socket_id().to_string();
        self.app.tap.emit(|| TapEvent::Unsubscribe {
            socket: socket(),
            channel: channel.to_string(),
        });
        if let Some(user) = user {
            self.app.tap.emit(|| TapEvent::MemberRemoved {
                socket: socket(),
                channel: channel.to_string(),
                user: user.to_string(),
            });
        }
    }

    /// A refusal the console shows; the socket stays open.
    fn tap_refused(&self, stage: Stage, channel: Option<&str>, event: Option<&str>, reason: &str) {
        self.app.tap.emit(|| {
            TapEvent::Refusal(Refusal {
                stage,
                socket: Some(self.sink.socket_id().to_string()),
                channel: channel.map(str::to_string),
                event: event.map(str::to_string),
                reason: reason.to_string(),
                code: Some(match stage {
                    Stage::ClientEvent => code::CLIENT_EVENT_REJECTED,
                    _ => code::UNAUTHORIZED,
                }),
                signed: None,
            })
        });
    }

    /// Hand an event to the app's webhooks (no-op when none wants it).
    fn webhook(&self, event: Event) {
        let server = &self.node.config.server;
        let (apps, id) = (&self.node.config.apps, &self.app.app().raw.id);
        let port = server.raw.port;
        self.app
            .webhooks
            .send(apps, id, &server.webhooks, port, event);
    }

    fn client_event(&mut self, event: &str, channel: &str, data: Option<&str>) -> Reply {
        match self.check_client_event(event, channel, data) {
            Ok(user) => {
                let user_json = user.map(|u| protocol::quote(&u));
                let frame = protocol::event(event, channel, data, user_json.as_deref());
                let frame = frame.into();
                let socket_id = self.sink.socket_id().to_string();
                self.node
                    .adapter
                    .broadcast(&self.app, channel, &frame, Some(&socket_id));
                self.app.tap.emit(|| TapEvent::ClientEvent {
                    socket: socket_id.clone(),
                    channel: channel.to_string(),
                    event: event.to_string(),
                    size: data.map_or(0, str::len),
                });
                self.webhook(Event::ClientEvent {
                    channel: channel.to_string(),
                    event: event.to_string(),
                    data: data.map(str::to_string),
                    socket_id,
                    user_json,
                });
                Reply::default()
            }
            Err(reason) => {
                self.tap_refused(Stage::ClientEvent, Some(channel), Some(event), &reason);
                Reply::frame(protocol::error(
                    code::CLIENT_EVENT_REJECTED,
                    &reason,
                    Some(channel),
                ))
            }
        }
    }

    /// The sender's presence user id if the event may be relayed, else the reason.
    fn check_client_event(
        &mut self,
        event: &str,
        channel: &str,
        data: Option<&str>,
    ) -> Result<Option<String>, String> {
        let limits = &self.app.app().limits;
        if !self.app.app().raw.enable_client_messages {
            return Err("The app does not have client messaging enabled.".into());
        }
        if event.len() > limits.max_event_name_length {
            return Err(format!(
                "Event name is too long. Maximum allowed size is {}.",
                limits.max_event_name_length
            ));
        }
        if data.map_or(0, str::len) as f64 > limits.max_event_payload_kb * 1024.0 {
            return Err(format!(
                "The event data should be less than {} KB.",
                limits.max_event_payload_kb
            ));
        }
        match ChannelType::of(channel).kind {
            Kind::Private | Kind::Presence => {}
            Kind::Encrypted => {
                return Err("Client events are not supported on encrypted channels.".into())
            }
            _ => {
                return Err(
                    "Client events can only be triggered on private and presence channels.".into(),
                )
            }
        }
        let Some(user) = self.subscriptions.get(channel) else {
            return Err("The client is not subscribed to the channel.".into());
        };
        if !self.take_client_event_budget(limits.max_client_events_per_sec) {
            return Err("The rate limit for sending client events exceeded the quota.".into());
        }
        Ok(user)
    }

    /// One-second windows per socket; a negative limit means unlimited.
    fn take_client_event_budget(&mut self, per_sec: i64) -> bool {
        if per_sec < 0 {
            return true;
        }
        if self.window_start.elapsed() >= Duration::from_secs(1) {
            self.window_start = Instant::now();
            self.window_count = 0;
        }
        self.window_count += 1;
        self.window_count <= per_sec
    }

    /// Leave every channel and forget the signed-in user.
    pub(crate) async fn close(&mut self) {
        self.leave_places().await;
        let channels = self.subscriptions.channels();
        for (i, c) in channels.iter().enumerate() {
            self.unsubscribe(c).await;
            if i % 32 == 31 {
                // Leaving thousands of channels must not hold the thread.
                tokio::task::yield_now().await;
            }
        }
        self.unwatch();
        if let Some(user) = self.user.take() {
            let adapter = &self.node.adapter;
            adapter.sign_out(&self.app, &user, self.sink.key).await;
        }
    }
}

impl Session {
    /// Closing: tell every node where this socket stood in its recovery
    /// channels (once: before a close frame the node sends, else at the end).
    pub(crate) async fn leave_places(&mut self) {
        let Some(browser) = self.browser.take() else {
            return;
        };
        let closed = crate::socket::acks::wall_ms();
        let places: Vec<_> = (self.sink.confirmed().into_iter())
            .map(|(channel, pos)| (channel, crate::recovery::returns::Left { pos, closed }))
            .collect();
        if !places.is_empty() {
            self.node.adapter.left(&self.app, &browser, &places).await;
        }
    }
}

/// Channel -> presence user id. A list for the few channels one socket is
/// usually in (far less memory than a map per socket); a map once a socket
/// holds [`MAP_FROM`] of them, so that no join or leave scans a long list.
enum Subscriptions {
    Few(Vec<(String, Option<String>)>),
    /// Boxed: every socket carries the enum, as small as the list.
    #[allow(clippy::box_collection)]
    Many(Box<HashMap<String, Option<String>>>),
}

/// Subscriptions from which a socket's are kept in a map.
const MAP_FROM: usize = 16;

impl Default for Subscriptions {
    fn default() -> Self {
        Subscriptions::Few(Vec::new())
    }
}

impl Subscriptions {
    fn insert(&mut self, channel: String, user: Option<String>) {
        let few = match self {
            Subscriptions::Many(map) => {
                map.insert(channel, user);
                return;
            }
            Subscriptions::Few(few) => few,
        };
        if let Some(entry) = few.iter_mut().find(|(c, _)| *c == channel) {
            entry.1 = user;
            return;
        }
        match few.len() + 1 >= MAP_FROM {
            true => {
                let mut map: HashMap<_, _> = std::mem::take(few).into_iter().collect();
                map.insert(channel, user);
                *self = Subscriptions::Many(Box::new(map));
            }
            false => {
                if few.capacity() == 0 {
                    few.reserve_exact(1);
                }
                few.push((channel, user));
            }
        }
    }

    fn remove(&mut self, channel: &str) -> Option<Option<String>> {
        let few = match self {
            Subscriptions::Many(map) => return map.remove(channel),
            Subscriptions::Few(few) => few,
        };
        let at = few.iter().position(|(c, _)| c == channel)?;
        let (_, user) = few.swap_remove(at);
        // Keep one slot: a socket that leaves one channel usually joins another.
        if few.capacity() > 4 && few.len() * 4 < few.capacity() {
            few.shrink_to_fit();
        }
        Some(user)
    }

    fn get(&self, channel: &str) -> Option<Option<String>> {
        match self {
            Subscriptions::Many(map) => map.get(channel).cloned(),
            Subscriptions::Few(few) => few
                .iter()
                .find(|(c, _)| c == channel)
                .map(|(_, u)| u.clone()),
        }
    }

    fn len(&self) -> usize {
        match self {
            Subscriptions::Many(map) => map.len(),
            Subscriptions::Few(few) => few.len(),
        }
    }

    fn channels(&self) -> Vec<String> {
        match self {
            Subscriptions::Many(map) => map.keys().cloned().collect(),
            Subscriptions::Few(few) => few.iter().map(|(c, _)| c.clone()).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscriptions_move_to_a_map_and_keep_every_entry() {
        let mut subs = Subscriptions::default();
        for i in 0..40 {
            subs.insert(format!("c{i}"), (i % 2 == 0).then(|| format!("u{i}")));
        }
        assert!(matches!(subs, Subscriptions::Many(_)));
        assert_eq!(subs.len(), 40);
        assert_eq!(subs.get("c4"), Some(Some("u4".into())));
        assert_eq!(subs.get("c5"), Some(None));
        assert_eq!(subs.remove("c4"), Some(Some("u4".into())));
        assert_eq!(subs.remove("c4"), None);
        assert_eq!(subs.channels().len(), 39);
    }
}
