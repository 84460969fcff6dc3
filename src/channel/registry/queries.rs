//! What the HTTP API and the adapter read of an app's channels: counts, the
//! occupied channels under a prefix, presence members and their `presence` body.

use super::{lock, AppState, Channel, Counts};
use crate::channel::Member;
use crate::protocol;

impl AppState {
    /// Subscription and user counts of one channel, if occupied.
    pub(crate) fn counts(&self, name: &str) -> Option<Counts> {
        let state = lock(&self.state);
        state.channels.get(name).map(channel_counts)
    }

    /// Occupied channels whose names start with `prefix`.
    pub(crate) fn channels(&self, prefix: &str) -> Vec<(String, Counts)> {
        let state = lock(&self.state);
        let matching = state.channels.iter().filter(|(n, _)| n.starts_with(prefix));
        matching
            .map(|(n, c)| (n.clone(), channel_counts(c)))
            .collect()
    }

    /// The raw JSON ids of a presence channel's members.
    pub(crate) fn members(&self, name: &str) -> Vec<Member> {
        let state = lock(&self.state);
        let Some(channel) = state.channels.get(name) else {
            return Vec::new();
        };
        channel.members.values().map(|p| p.member.clone()).collect()
    }
}

fn channel_counts(c: &Channel) -> Counts {
    Counts {
        subscriptions: c.subscribers.len(),
        users: c.members.len(),
    }
}

/// `{"presence":{"ids":[...],"hash":{...},"count":n}}`
pub fn presence_data<'a>(members: impl Iterator<Item = &'a Member>) -> String {
    let mut ids = Vec::new();
    let mut hash = Vec::new();
    for m in members {
        ids.push(m.id_json.clone());
        let info = m.info_json.as_deref().unwrap_or("null");
        hash.push(format!("{}:{info}", protocol::quote(&m.id)));
    }
    format!(
        "{{\"presence\":{{\"ids\":[{}],\"hash\":{{{}}},\"count\":{}}}}}",
        ids.join(","),
        hash.join(","),
        ids.len()
    )
}
