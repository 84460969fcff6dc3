//! Sign-in and sign-out through the adapter, for watchlist events (apps with
//! `enable_watchlist_events`): a user is online while at least one socket
//! anywhere is signed in as it. The first socket's sign-in and the last one's
//! leaving are announced as `online` / `offline` to the sockets that watch the
//! user, on every node (see [`super::redis`]'s and [`super::nats`]'s `watch.rs`
//! for the cluster).

use super::cluster::status_frame;
use super::Adapter;
use crate::channel::registry::AppState;
use crate::socket::Sink;
use std::sync::Arc;

impl Adapter {
    /// Record that a socket signed in as `user`.
    pub(crate) async fn sign_in(&self, app: &AppState, user: &str, sink: &Arc<Sink>) {
        let first_here = app.sign_in(user, sink);
        if first_here && app.app().raw.enable_watchlist_events {
            self.online_changed(app, user, true).await;
        }
    }

    /// Forget a socket's sign-in as `user`.
    pub(crate) async fn sign_out(&self, app: &AppState, user: &str, key: u64) {
        let last_here = app.sign_out(user, key);
        if last_here && app.app().raw.enable_watchlist_events {
            self.online_changed(app, user, false).await;
        }
    }

    /// Which of `ids` are signed in somewhere (on this node only while the cluster store is away).
    pub(crate) async fn online(&self, app: &AppState, ids: &[String]) -> Vec<bool> {
        let Some(c) = &self.cluster else {
            return app.signed_in_here(ids);
        };
        let online = c.online_users(&app.app().raw.id, ids).await;
        online.unwrap_or_else(|_| app.signed_in_here(ids))
    }

    /// The user's first socket here signed in (`online`), or its last one left:
    /// write it and announce the cluster-wide transition, if it was one.
    async fn online_changed(&self, app: &AppState, user: &str, online: bool) {
        let Some(c) = &self.cluster else {
            app.tell_watchers(user, online, &status_frame(user, online));
            return;
        };
        match c.online_changed(app, user, online).await {
            Ok(Some(now)) => c.announce_watch(app, user, now),
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "watchlist status not recorded"),
        }
    }
}
