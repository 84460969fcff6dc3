//! What the cluster answers as a whole, written once: channel counts and lists,
//! presence members, cache channels and the HTTP API's rate-limit budgets. On one
//! node the registry answers; in a cluster the bus's store (with this node's part).

use super::{Adapter, AdapterError};
use crate::channel::registry::{AppState, Counts};
use crate::channel::Member;
use crate::rate;
use crate::socket::Frame;
use std::time::Duration;

impl Adapter {
    /// Subscription and user counts across the cluster, if the channel is occupied.
    pub(crate) async fn counts(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Result<Option<Counts>, AdapterError> {
        match &self.cluster {
            None => Ok(app.counts(channel)),
            Some(c) => c.counts(app, channel).await,
        }
    }

    /// Occupied channels starting with `prefix`, across the cluster.
    pub(crate) async fn channels(
        &self,
        app: &AppState,
        prefix: &str,
    ) -> Result<Vec<(String, Counts)>, AdapterError> {
        match &self.cluster {
            None => Ok(app.channels(prefix)),
            Some(c) => c.channels(app, prefix).await,
        }
    }

    /// A presence channel's members, across the cluster.
    pub(crate) async fn members(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Result<Vec<Member>, AdapterError> {
        match &self.cluster {
            None => Ok(app.members(channel)),
            Some(c) => c.members(&app.app().raw.id, channel).await,
        }
    }

    /// Keep the last API event of a cache channel (in the cluster store when clustered).
    pub(crate) async fn cache_put(
        &self,
        app: &AppState,
        channel: &str,
        frame: &Frame,
        data: &str,
        ttl: Duration,
    ) {
        app.cache_put(channel, frame, data, ttl);
        if let Some(c) = &self.cluster {
            c.cache_put(&app.app().raw.id, channel, frame, data, ttl)
                .await;
        }
    }

    /// The cached frame, its raw data and the time it has left.
    pub(crate) async fn cache_get(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Option<(Frame, String, Duration)> {
        match &self.cluster {
            None => app.cache_get(channel),
            Some(c) => c
                .cache_get(&app.app().raw.id, channel)
                .await
                .or_else(|| app.cache_get(channel)),
        }
    }

    /// Take `points` of one of the app's per-second API budgets: on this node, or
    /// for the whole cluster. `None`: the limit is off (negative).
    pub(crate) async fn take_budget(
        &self,
        app: &AppState,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Result<Option<Result<rate::Usage, rate::Usage>>, AdapterError> {
        if limit < 0 {
            return Ok(None);
        }
        match &self.cluster {
            None => Ok(match api {
                rate::Api::Events => app.backend_events.take(limit, points),
                rate::Api::Reads => app.read_requests.take(limit, points),
            }),
            Some(c) => c
                .take_budget(&app.app().raw.id, api, limit, points)
                .await
                .map(Some),
        }
    }
}
