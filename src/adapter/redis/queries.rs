//! What the cluster answers as a whole: channel counts and lists, presence
//! members, cache channels and the HTTP API's rate-limit budgets.

use super::{keys, lock, scripts, unavailable, Cluster};
use crate::adapter::AdapterError;
use crate::channel::registry::{AppState, Counts};
use crate::channel::Member;
use crate::rate;
use crate::socket::Frame;
use ::redis::AsyncCommands;
use std::collections::HashMap;
use std::time::Duration;

impl Cluster {
    pub(super) async fn counts(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Result<Option<Counts>, AdapterError> {
        let mut conn = self.conn()?;
        let peers = lock(&self.peers).clone();
        let field = keys::sub_field(&app.app().raw.id, channel);
        let local = app.counts(channel).map_or(0, |c| c.subscriptions);
        let mut pipe = ::redis::pipe();
        for peer in &peers {
            pipe.hget(self.keys.subs_of(peer), &field);
        }
        pipe.hget(self.keys.presence(&app.app().raw.id, channel), "count");
        let mut answers: Vec<Option<usize>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("counts", e))?;
        let users = answers.pop().flatten().unwrap_or(0);
        let subscriptions = local + answers.into_iter().flatten().sum::<usize>();
        Ok((subscriptions > 0).then_some(Counts {
            subscriptions,
            users,
        }))
    }

    pub(super) async fn channels(
        &self,
        app: &AppState,
        prefix: &str,
    ) -> Result<Vec<(String, Counts)>, AdapterError> {
        let mut conn = self.conn()?;
        let peers = lock(&self.peers).clone();
        let mut totals: HashMap<String, usize> = app
            .channels(prefix)
            .into_iter()
            .map(|(n, c)| (n, c.subscriptions))
            .collect();
        for peer in &peers {
            let all: HashMap<String, usize> = conn
                .hgetall(self.keys.subs_of(peer))
                .await
                .map_err(|e| unavailable("channels", e))?;
            for (field, n) in all {
                if let Some(channel) =
                    keys::channel_of(&field, &app.app().raw.id).filter(|c| c.starts_with(prefix))
                {
                    *totals.entry(channel.to_string()).or_default() += n;
                }
            }
        }
        let mut pipe = ::redis::pipe();
        let names: Vec<String> = totals.keys().cloned().collect();
        for name in &names {
            pipe.hget(self.keys.presence(&app.app().raw.id, name), "count");
        }
        let users: Vec<Option<usize>> = pipe
            .query_async(&mut conn)
            .await
            .map_err(|e| unavailable("channels", e))?;
        let counts = names.into_iter().zip(users).map(|(name, users)| {
            let subscriptions = totals[&name];
            (
                name,
                Counts {
                    subscriptions,
                    users: users.unwrap_or(0),
                },
            )
        });
        Ok(counts.filter(|(_, c)| c.subscriptions > 0).collect())
    }

    pub(super) async fn members(
        &self,
        app: &str,
        channel: &str,
    ) -> Result<Vec<Member>, AdapterError> {
        let mut conn = self.conn()?;
        scripts::members(&mut conn, &self.keys, app, channel)
            .await
            .map_err(|e| unavailable("members", e))
    }

    pub(super) async fn cache_put(
        &self,
        app: &str,
        channel: &str,
        frame: &Frame,
        data: &str,
        ttl: Duration,
    ) {
        let Ok(mut conn) = self.conn() else { return };
        let key = self.keys.cache(app, channel);
        let mut pipe = ::redis::pipe();
        pipe.hset_multiple(&key, &[("frame", frame.as_str()), ("data", data)])
            .pexpire(&key, ttl.as_millis() as i64);
        if let Err(e) = pipe.query_async::<()>(&mut conn).await {
            tracing::warn!(error = %e, channel, "cache write to Redis failed");
        }
    }

    /// Take points from one of the app's per-second API budgets, shared by every
    /// node: one script per request, windows aligned on seconds of Unix time.
    pub(super) async fn take_budget(
        &self,
        app: &str,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Result<Result<rate::Usage, rate::Usage>, AdapterError> {
        let mut conn = self.conn()?;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let key = self.keys.rate(app, api.name(), now.as_secs());
        let (taken, used) = scripts::take(&mut conn, key, points, limit)
            .await
            .map_err(|e| unavailable("rate limit", e))?;
        Ok(rate::Usage::in_second(limit, used, taken, now))
    }

    pub(super) async fn cache_get(
        &self,
        app: &str,
        channel: &str,
    ) -> Option<(Frame, String, Duration)> {
        let mut conn = self.conn().ok()?;
        let key = self.keys.cache(app, channel);
        let mut pipe = ::redis::pipe();
        pipe.hget(&key, "frame").hget(&key, "data").pttl(&key);
        let (frame, data, ttl): (Option<String>, Option<String>, i64) =
            pipe.query_async(&mut conn).await.ok()?;
        Some((
            Frame::from(frame?),
            data?,
            Duration::from_millis(ttl.max(0) as u64),
        ))
    }
}
