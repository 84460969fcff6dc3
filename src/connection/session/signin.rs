//! `pusher:signin`: the signature, the user id, and (apps with watchlist
//! events) the `watchlist` of `user_data`: the socket is told which of those
//! ids are online now, then of every change (see [`crate::adapter`]'s watch).

use super::{Reply, Session};
use crate::auth;
use crate::protocol::{self, code};
use crate::tap::Stage;

/// Ids a watchlist may hold (Pusher's limit); the rest are ignored, with an error.
pub(crate) const WATCHLIST_MAX: usize = 100;

/// What a sign-in's `user_data` says.
#[derive(Debug, PartialEq)]
struct UserData {
    id: String,
    /// Distinct ids in their order, at most [`WATCHLIST_MAX`].
    watchlist: Vec<String>,
    /// The watchlist had more ids than that.
    truncated: bool,
}

impl UserData {
    /// `id` must be a non-empty string (or a number, kept as a string);
    /// `watchlist` entries that are strings or numbers count.
    fn parse(user_data: &str) -> Option<UserData> {
        let v: serde_json::Value = serde_json::from_str(user_data).ok()?;
        let id = id_text(v.get("id")?).filter(|s| !s.is_empty())?;
        let listed = v.get("watchlist").and_then(|w| w.as_array());
        let mut watchlist: Vec<String> = Vec::new();
        let mut truncated = false;
        for entry in listed.into_iter().flatten().filter_map(id_text) {
            if watchlist.contains(&entry) {
                continue;
            }
            if watchlist.len() == WATCHLIST_MAX {
                truncated = true;
                break;
            }
            watchlist.push(entry);
        }
        Some(UserData {
            id,
            watchlist,
            truncated,
        })
    }
}

fn id_text(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

impl Session {
    pub(super) async fn sign_in(&mut self, token: &str, user_data: &str) -> Reply {
        let app = &self.app.app();
        let message = auth::user_string(&self.sink.socket_id().to_string(), user_data);
        if !auth::verify_token(&app.raw.key, &app.raw.secret, token, &message) {
            self.tap_refused(Stage::Signin, None, None, "Connection not authorized.");
            return Reply::frame(protocol::error(
                code::UNAUTHORIZED,
                "Connection not authorized.",
                None,
            ));
        }
        let Some(data) = UserData::parse(user_data) else {
            let msg = "The returned user data must contain the \"id\" field.";
            self.tap_refused(Stage::Signin, None, None, msg);
            return Reply::frame(protocol::error(code::UNAUTHORIZED, msg, None));
        };
        self.become_user(&data.id).await;
        self.sink.live.authorized();
        let mut reply = Reply::frame(protocol::signin_success(user_data));
        if app.raw.enable_watchlist_events {
            self.watch(data, &mut reply).await;
        }
        reply
    }

    /// Sign the socket in as `id` (out of the user it was, if another).
    async fn become_user(&mut self, id: &str) {
        let adapter = &self.node.adapter;
        match self.user.replace(id.to_string()) {
            Some(previous) if previous == id => return,
            Some(previous) => adapter.sign_out(&self.app, &previous, self.sink.key).await,
            None => {}
        }
        adapter.sign_in(&self.app, id, &self.sink).await;
    }

    /// Watch the new watchlist; the reply gets the current status of its ids.
    async fn watch(&mut self, data: UserData, reply: &mut Reply) {
        self.unwatch();
        if data.truncated {
            if crate::metrics::refused("watchlist_limit") {
                tracing::info!(user = %data.id, max = WATCHLIST_MAX, "watchlist cut to its first ids");
            }
            let msg = format!(
                "Watchlist limit exceeded. Only the first {WATCHLIST_MAX} user IDs are accepted."
            );
            reply
                .frames
                .push(protocol::error(code::WATCHLIST_LIMIT, &msg, None));
        }
        if data.watchlist.is_empty() {
            return;
        }
        // Watch first, then ask: a change meanwhile is queued behind this reply.
        self.app.watch(&self.sink, &data.watchlist);
        let online = self.node.adapter.online(&self.app, &data.watchlist).await;
        self.app
            .watched_status(self.sink.key, &data.watchlist, &online);
        let (on, off): (Vec<_>, Vec<_>) = data.watchlist.iter().zip(online).partition(|(_, o)| *o);
        let on: Vec<String> = on.into_iter().map(|(id, _)| id.clone()).collect();
        let off: Vec<String> = off.into_iter().map(|(id, _)| id.clone()).collect();
        let events: Vec<(&str, &[String])> = [("online", &on[..]), ("offline", &off[..])]
            .into_iter()
            .filter(|(_, ids)| !ids.is_empty())
            .collect();
        reply.frames.push(protocol::watchlist_events(&events));
        self.watching = data.watchlist;
    }

    /// Stop watching this socket's watchlist.
    pub(super) fn unwatch(&mut self) {
        if !self.watching.is_empty() {
            let ids = std::mem::take(&mut self.watching);
            self.app.unwatch(self.sink.key, &ids);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_data_gives_the_id_and_a_bounded_distinct_watchlist() {
        let d = UserData::parse(r#"{"id":"1","watchlist":["2",3,"2",null]}"#).unwrap();
        assert_eq!(
            (d.id.as_str(), d.watchlist, d.truncated),
            ("1", vec!["2".into(), "3".into()], false)
        );
        let ids: Vec<String> = (0..150).map(|i| format!("\"u{i}\"")).collect();
        let text = format!(r#"{{"id":7,"watchlist":[{}]}}"#, ids.join(","));
        let d = UserData::parse(&text).unwrap();
        assert_eq!(
            (d.id.as_str(), d.watchlist.len(), d.truncated),
            ("7", WATCHLIST_MAX, true)
        );
        assert_eq!(d.watchlist[99], "u99");
        assert!(UserData::parse(r#"{"id":""}"#).is_none());
        assert!(UserData::parse(r#"{"name":"x"}"#).is_none());
        assert!(UserData::parse(r#"{"id":"1","watchlist":"2"}"#)
            .unwrap()
            .watchlist
            .is_empty());
    }
}
