//! Sign-in and sign-out through the adapter, for watchlist events (apps with
//! `enable_watchlist_events`): a user is online while at least one socket
//! anywhere is signed in as it. The first socket's sign-in and the last one's
//! leaving are announced as `online` / `offline` to the sockets that watch the
//! user, on every node (see [`super::redis`]'s and [`super::nats`]'s `watch.rs`
//! for the cluster).

use super::Adapter;
use crate::channel::registry::AppState;
use crate::protocol;
use crate::socket::{Frame, Sink};
use std::sync::Arc;

impl Adapter {
    /// Record that a socket signed in as `user`.
    pub async fn sign_in(&self, app: &AppState, user: &str, sink: &Arc<Sink>) {
        let first_here = app.sign_in(user, sink);
        if !first_here || !app.app().enable_watchlist_events {
            return;
        }
        match self {
            Adapter::Local(_) => tell_local(app, user, true),
            Adapter::Redis(c) => match c.user_signed_in(app, user).await {
                Ok(true) => c.announce_watch(app, user, true),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "online status not recorded"),
            },
            Adapter::Nats(c) => nats_changed(c, app, user).await,
        }
    }

    /// Forget a socket's sign-in as `user`.
    pub async fn sign_out(&self, app: &AppState, user: &str, key: u64) {
        let last_here = app.sign_out(user, key);
        if !last_here || !app.app().enable_watchlist_events {
            return;
        }
        match self {
            Adapter::Local(_) => tell_local(app, user, false),
            Adapter::Redis(c) => match c.user_signed_out(app, user).await {
                Ok(true) => c.announce_watch(app, user, false),
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "offline status not recorded"),
            },
            Adapter::Nats(c) => nats_changed(c, app, user).await,
        }
    }

    /// Which of `ids` are signed in somewhere (on this node only while the cluster store is away).
    pub async fn online(&self, app: &AppState, ids: &[String]) -> Vec<bool> {
        let online = match self {
            Adapter::Local(_) => return app.signed_in_here(ids),
            Adapter::Redis(c) => c.online_users(app, ids).await,
            Adapter::Nats(c) => c.online_users(app, ids).await,
        };
        online.unwrap_or_else(|_| app.signed_in_here(ids))
    }
}

/// The user's first socket here signed in, or its last one left: write it
/// and announce the cluster-wide transition, if it was one.
async fn nats_changed(c: &super::nats::Cluster, app: &AppState, user: &str) {
    match c.user_changed(app, user).await {
        Ok(Some(online)) => c.announce_watch(app, user, online),
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "watchlist status not recorded"),
    }
}

fn tell_local(app: &AppState, user: &str, online: bool) {
    app.tell_watchers(user, online, &status_frame(user, online));
}

/// `online` or `offline` for one user.
pub(crate) fn status_frame(user: &str, online: bool) -> Frame {
    let name = if online { "online" } else { "offline" };
    Frame::from(protocol::watchlist_events(&[(name, &[user.to_string()])]))
}
