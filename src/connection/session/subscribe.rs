//! `pusher:subscribe`: the checks a subscription passes (name, room on the
//! socket, who may join, signature, presence data), the join, and the reply.

use super::{Reply, Session};
use crate::adapter::AdapterError;
use crate::auth;
use crate::channel::registry::{JoinError, Joined};
use crate::channel::{
    validate_name, ChannelType, Kind, Member, MemberError, NameError, SERVER_TO_USER_PREFIX,
};
use crate::protocol;
use crate::recovery::{self, Recovery, Replay};
use crate::tap::{self, Event as TapEvent, Signed};
use crate::webhook::Event;

/// A subscription refused: `pusher:subscription_error` `{type, error, status}`
/// on that channel; the socket stays open.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error("{kind} ({status}): {message}")]
pub(crate) struct Refused {
    pub kind: &'static str,
    pub message: String,
    pub status: u16,
    /// A bad signature, while the console watches: what had to be signed.
    pub signed: Option<Box<Signed>>,
}

fn refused(kind: &'static str, message: impl ToString, status: u16) -> Refused {
    Refused {
        kind,
        message: message.to_string(),
        status,
        signed: None,
    }
}

impl Session {
    pub(super) async fn subscribe(
        &mut self,
        channel: &str,
        auth: Option<&str>,
        channel_data: Option<&str>,
    ) -> Reply {
        match self.try_subscribe(channel, auth, channel_data).await {
            Ok(reply) => reply,
            Err(e) => {
                let frame = protocol::subscription_error(channel, e.kind, &e.message, e.status);
                self.app.tap.emit(|| self.refusal(channel, e));
                Reply::frame(frame)
            }
        }
    }

    /// The console's record of a refused subscription.
    fn refusal(&self, channel: &str, e: Refused) -> TapEvent {
        TapEvent::Refusal(tap::Refusal {
            stage: tap::Stage::Subscription,
            socket: Some(self.sink.socket_id().to_string()),
            channel: Some(channel.to_string()),
            event: None,
            reason: format!("{}: {}", e.kind, e.message),
            code: Some(e.status),
            signed: e.signed.map(|s| *s),
        })
    }

    async fn try_subscribe(
        &mut self,
        channel: &str,
        auth: Option<&str>,
        channel_data: Option<&str>,
    ) -> Result<Reply, Refused> {
        let ctype = ChannelType::of(channel);
        self.check_name(channel)?;
        self.check_room(channel)?;
        self.check_user(channel, ctype)?;
        if ctype.needs_auth() {
            self.check_signature(channel, auth, channel_data)?;
        }
        let member = match ctype.kind {
            Kind::Presence => Some(self.member(channel_data)?),
            _ => None,
        };
        let user = member.as_ref().map(|m| (m.id.clone(), m.id_json.clone()));
        let recovery = self.recovery(channel).await;
        let joined = self.join(channel, member, recovery).await?;
        if recovery != Recovery::Off {
            self.mark(channel);
        }
        self.announce(channel, &joined, user.clone());
        self.tap_joined(channel, &joined, user.as_ref().map(|(id, _)| id.as_str()));
        self.subscriptions
            .insert(channel.to_string(), user.map(|(id, _)| id));
        if ctype.needs_auth() {
            // Joined a private or presence channel: the sign-in clock no longer applies.
            self.sink.live.authorized();
        }
        Ok(self.succeeded(channel, ctype, &joined).await)
    }

    fn check_name(&self, channel: &str) -> Result<(), Refused> {
        let max = self.app.app().limits.max_channel_name_length;
        match validate_name(channel, max) {
            Err(e @ NameError::TooLong(_)) => Err(refused("LimitReached", e, 4009)),
            Err(e @ NameError::Invalid) => Err(refused("InvalidChannel", e, 4009)),
            Ok(()) => Ok(()),
        }
    }

    /// `max_channels_per_connection`, for a channel the socket is not in yet.
    fn check_room(&self, channel: &str) -> Result<(), Refused> {
        let Some(max) = self.node.config.server.guard.max_channels_per_connection else {
            return Ok(());
        };
        if self.subscriptions.get(channel).is_none() && self.subscriptions.len() >= max {
            let message = format!("A connection may be subscribed to at most {max} channels.");
            return Err(refused("LimitReached", message, 4100));
        }
        Ok(())
    }

    /// `#server-to-user-{id}` only for the socket signed in as `id`.
    fn check_user(&self, channel: &str, ctype: ChannelType) -> Result<(), Refused> {
        let own = self.user.as_deref() == channel.strip_prefix(SERVER_TO_USER_PREFIX);
        match ctype.kind == Kind::ServerToUser && !own {
            true => Err(refused(
                "AuthError",
                "Only a connection signed in as this user may subscribe.",
                401,
            )),
            false => Ok(()),
        }
    }

    fn check_signature(
        &self,
        channel: &str,
        auth: Option<&str>,
        channel_data: Option<&str>,
    ) -> Result<(), Refused> {
        let app = self.app.app();
        let socket_id = self.sink.socket_id().to_string();
        let message = auth::channel_string(&socket_id, channel, channel_data);
        if auth::verify_token(&app.raw.key, &app.raw.secret, auth.unwrap_or(""), &message) {
            return Ok(());
        }
        crate::metrics::refused("subscription_unauthorized");
        tracing::debug!(channel, "subscription refused: bad signature");
        let mut e = refused("AuthError", "The connection is unauthorized.", 401);
        e.signed = self.app.tap.watched().then(|| {
            Box::new(Signed {
                expected: message,
                received: auth.unwrap_or("").to_string(),
            })
        });
        Err(e)
    }

    /// The console's records of a join: the subscription and a new member.
    fn tap_joined(&self, channel: &str, joined: &Joined, user: Option<&str>) {
        let socket = || self.sink.socket_id().to_string();
        self.app.tap.emit(|| TapEvent::Subscribe {
            socket: socket(),
            channel: channel.to_string(),
        });
        if let (true, Some(user)) = (joined.member_added, user) {
            self.app.tap.emit(|| TapEvent::MemberAdded {
                socket: socket(),
                channel: channel.to_string(),
                user: user.to_string(),
            });
        }
    }

    /// The missed events after `subscription_succeeded`, or why there are none.
    fn replayed(&self, channel: &str, replay: &Replay, reply: &mut Reply) {
        let (replayed, failed) = match replay {
            Replay::Events(missed) => {
                let frames = missed.iter().map(|(_, f)| f.to_string());
                reply.frames.extend(frames);
                (missed.len(), None)
            }
            Replay::Failed(why) => {
                reply.frames.push(protocol::recovery_failed(channel, why));
                (0, Some(why.to_string()))
            }
        };
        let socket = self.sink.socket_id().to_string();
        tracing::info!(%socket, channel, replayed, failed = failed.as_deref(), "recovery");
        self.app.tap.emit(|| TapEvent::Recovery {
            socket,
            channel: channel.to_string(),
            replayed,
            failed,
        });
    }

    fn member(&self, channel_data: Option<&str>) -> Result<Member, Refused> {
        let max_kb = self.app.app().limits.max_presence_member_size_kb;
        Member::parse(channel_data.unwrap_or(""), max_kb).map_err(|e| match e {
            MemberError::TooBig(_) => refused("LimitReached", e, 4301),
            MemberError::Invalid => refused("InvalidChannelData", e, 4302),
        })
    }

    /// What a join of `channel` asks of its history: where this browser stood.
    /// With no place yet, a socket of the same browser still open in that
    /// channel may be this page's old one, gone without its node noticing (a
    /// phone that changed network): here and on the nodes whose marks name
    /// one, it is pinged and closed if it does not answer, which leaves its
    /// place (another tab answers in a round trip); a named node that does not
    /// answer died with it ([`crate::adapter::kept`]).
    async fn recovery(&self, channel: &str) -> Recovery {
        let Some(b) = self.browser.clone() else {
            return Recovery::Off;
        };
        if !recovery::wanted(&self.app.app(), channel) {
            return Recovery::Off;
        }
        let adapter = &self.node.adapter;
        let first = adapter.recovery(&self.app, &b, channel);
        if first != Recovery::Fresh {
            return first;
        }
        let elsewhere = adapter.lost_elsewhere(&self.app, &b, channel);
        let (_, lost) = tokio::join!(self.gone_unnoticed(&b, channel), elsewhere);
        match adapter.recovery(&self.app, &b, channel) {
            Recovery::Fresh => lost.map_or(Recovery::Fresh, Recovery::Lost),
            found => found,
        }
    }

    /// Ping this browser's other sockets here in `channel`; close those that do
    /// not answer within [`recovery::PROBE_WAIT`] and wait for their places.
    async fn gone_unnoticed(&self, browser: &str, channel: &str) {
        let others = self.app.browser_others(browser, channel, self.sink.key);
        let (_, closed) = recovery::ping_or_close(&others, channel).await;
        if closed > 0 {
            let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(1);
            let changed = self.app.returns_changed();
            recovery::until(&changed, deadline, || self.app.has_place(browser, channel)).await;
        }
    }

    /// Mark this browser's socket in recovery channel `channel` on the other
    /// nodes, from where it follows it.
    fn mark(&self, channel: &str) {
        let Some(b) = &self.browser else { return };
        if let Some(since) = self.sink.confirmed_in(channel) {
            self.node.adapter.marked(&self.app, b, channel, Some(since));
        }
    }

    async fn join(
        &self,
        channel: &str,
        member: Option<Member>,
        recovery: Recovery,
    ) -> Result<Joined, Refused> {
        let adapter = &self.node.adapter;
        match adapter
            .subscribe(&self.app, channel, &self.sink, member, recovery)
            .await
        {
            Ok(joined) => Ok(joined),
            Err(AdapterError::Join(e @ JoinError::PresenceFull)) => {
                Err(refused("LimitReached", e, 4100))
            }
            Err(e @ AdapterError::Unavailable) => Err(refused("ServerError", e, 503)),
        }
    }

    /// The webhooks a join causes: `channel_occupied`, `member_added`.
    fn announce(&self, channel: &str, joined: &Joined, user: Option<(String, String)>) {
        if joined.occupied {
            self.webhook(Event::ChannelOccupied {
                channel: channel.to_string(),
            });
        }
        if let (true, Some((user_id, user_json))) = (joined.member_added, user) {
            self.webhook(Event::MemberAdded {
                channel: channel.to_string(),
                user_id,
                user_json,
            });
        }
    }

    /// `subscription_succeeded`, the events a returning socket missed (or
    /// `recovery_failed`), and for a cache channel its last event or `cache_miss`.
    async fn succeeded(&self, channel: &str, ctype: ChannelType, joined: &Joined) -> Reply {
        let data = joined.presence.as_deref().unwrap_or("{}");
        let mut reply = Reply::frame(protocol::subscription_succeeded(channel, data));
        if let Some(replay) = &joined.replay {
            self.replayed(channel, replay, &mut reply);
        }
        if !ctype.cache {
            return reply;
        }
        match self.node.adapter.cache_get(&self.app, channel).await {
            Some((frame, _, _)) => reply.frames.push(frame.to_string()),
            None => {
                reply.frames.push(protocol::cache_miss(channel));
                self.webhook(Event::CacheMiss {
                    channel: channel.to_string(),
                });
            }
        }
        reply
    }
}
