//! What the cluster answers as a whole: channel counts and lists, presence
//! members, cache channels and the HTTP API's rate-limit budgets.

use super::chan::{self, kv_err, KvError};
use super::names::{self, Names};
use super::scan::scan;
use super::{lock, unavailable, Cluster};
use crate::adapter::AdapterError;
use crate::channel::registry::{AppState, Counts};
use crate::channel::Member;
use crate::rate;
use crate::socket::Frame;
use async_nats::jetstream::kv::{Operation, UpdateErrorKind};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A cache channel's last event in JetStream.
#[derive(Serialize, Deserialize)]
struct Cached {
    frame: String,
    data: String,
    /// Expiry, ms since the Unix epoch.
    until: u64,
}

fn since_epoch() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

impl Cluster {
    /// Subscription counts of the other live nodes, by channel, for keys matching `pattern`.
    async fn remote_subs(&self, pattern: &str) -> Result<HashMap<String, usize>, KvError> {
        let kv = self.buckets().map_err(kv_err)?;
        let items = scan(&kv.subs, pattern).await?;
        let peers = lock(&self.peers);
        let mut totals = HashMap::new();
        for item in items {
            let Some((node, _, channel)) = names::parse_subs_key(&item.key) else {
                continue;
            };
            let n: usize = std::str::from_utf8(&item.value)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if peers.contains_key(&node) {
                *totals.entry(channel).or_default() += n;
            }
        }
        Ok(totals)
    }

    async fn users(&self, app: &str, channel: &str) -> Result<usize, AdapterError> {
        let kv = self.buckets()?;
        let key = Names::chan_key(app, channel);
        let (entry, _, _) = chan::read(&kv.chan, &key)
            .await
            .map_err(|e| unavailable("presence count", e))?;
        Ok(entry.members.len())
    }

    pub(super) async fn counts(
        &self,
        app: &AppState,
        channel: &str,
    ) -> Result<Option<Counts>, AdapterError> {
        let id = app.app().raw.id.clone();
        let pattern = format!("*.{}.{}", names::token(&id), names::token(channel));
        let remote = self
            .remote_subs(&pattern)
            .await
            .map_err(|e| unavailable("counts", e))?;
        let local = app.counts(channel).map_or(0, |c| c.subscriptions);
        let subscriptions = local + remote.values().sum::<usize>();
        if subscriptions == 0 {
            return Ok(None);
        }
        let users = self.users(&id, channel).await?;
        Ok(Some(Counts {
            subscriptions,
            users,
        }))
    }

    pub(super) async fn channels(
        &self,
        app: &AppState,
        prefix: &str,
    ) -> Result<Vec<(String, Counts)>, AdapterError> {
        let id = app.app().raw.id.clone();
        let pattern = format!("*.{}.>", names::token(&id));
        let mut totals = self
            .remote_subs(&pattern)
            .await
            .map_err(|e| unavailable("channels", e))?;
        totals.retain(|name, _| name.starts_with(prefix));
        for (name, c) in app.channels(prefix) {
            *totals.entry(name).or_default() += c.subscriptions;
        }
        let mut out = Vec::new();
        for (name, subscriptions) in totals.into_iter().filter(|(_, n)| *n > 0) {
            let users = match name.starts_with("presence-") {
                true => self.users(&id, &name).await?,
                false => 0,
            };
            out.push((
                name,
                Counts {
                    subscriptions,
                    users,
                },
            ));
        }
        Ok(out)
    }

    pub(super) async fn members(
        &self,
        app: &str,
        channel: &str,
    ) -> Result<Vec<Member>, AdapterError> {
        let kv = self.buckets()?;
        let key = Names::chan_key(app, channel);
        let (entry, _, _) = chan::read(&kv.chan, &key)
            .await
            .map_err(|e| unavailable("members", e))?;
        Ok(entry.member_list())
    }

    pub(super) async fn cache_put(
        &self,
        app: &str,
        channel: &str,
        frame: &Frame,
        data: &str,
        ttl: Duration,
    ) {
        let Ok(kv) = self.buckets() else { return };
        let cached = Cached {
            frame: frame.to_string(),
            data: data.to_string(),
            until: (since_epoch() + ttl).as_millis() as u64,
        };
        let Ok(value) = serde_json::to_vec(&cached) else {
            return;
        };
        let key = Names::chan_key(app, channel);
        if let Err(e) = kv.cache.put(key, value.into()).await {
            tracing::warn!(error = %e, channel, "cache write to JetStream failed");
        }
    }

    pub(super) async fn cache_get(
        &self,
        app: &str,
        channel: &str,
    ) -> Option<(Frame, String, Duration)> {
        let kv = self.buckets().ok()?;
        let key = Names::chan_key(app, channel);
        let value = kv.cache.get(key).await.ok()??;
        let cached: Cached = serde_json::from_slice(&value).ok()?;
        let left = Duration::from_millis(cached.until).checked_sub(since_epoch())?;
        Some((Frame::from(cached.frame), cached.data, left))
    }

    /// Take points from one of the app's per-second API budgets, shared by every
    /// node: a compare-and-set on the second's counter.
    pub(super) async fn take_budget(
        &self,
        app: &str,
        api: rate::Api,
        limit: i64,
        points: i64,
    ) -> Result<Result<rate::Usage, rate::Usage>, AdapterError> {
        let kv = self.buckets()?;
        let now = since_epoch();
        let key = format!("{}.{}.{}", names::token(app), api.name(), now.as_secs());
        for _ in 0..64 {
            let entry = kv
                .rate
                .entry(key.as_str())
                .await
                .map_err(|e| unavailable("rate limit", e))?;
            let (used, revision) = match entry {
                Some(e) if e.operation == Operation::Put => {
                    let used = std::str::from_utf8(&e.value)
                        .ok()
                        .and_then(|v| v.parse().ok());
                    (used.unwrap_or(0), e.revision)
                }
                Some(e) => (0, e.revision),
                None => (0, 0),
            };
            if used + points > limit {
                return Ok(rate::Usage::in_second(limit, used, false, now));
            }
            let value = (used + points).to_string();
            match kv.rate.update(key.as_str(), value.into(), revision).await {
                Ok(_) => return Ok(rate::Usage::in_second(limit, used + points, true, now)),
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => continue,
                Err(e) => return Err(unavailable("rate limit", e)),
            }
        }
        Err(unavailable("rate limit", "too many concurrent takes"))
    }
}
