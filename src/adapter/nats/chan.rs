//! One key-value entry per channel (`P_chan` bucket, key `app.channel`): the
//! nodes that have subscribers (cluster-wide occupancy), the presence members
//! with their sockets per node, and the last join's sequence number.
//!
//! Every change reads the entry with its revision, changes it and writes it
//! back on the condition that the revision is still the same (JetStream's
//! expected-last-subject-sequence). A concurrent change makes the write fail,
//! and it is done again on the new value, so changes apply one at a time in an
//! order every node agrees on: whoever's write turns a user from absent into
//! present announces `member_added`, whoever's write removes the user's last
//! socket announces `member_removed`, and the member limit is checked on the
//! value being replaced.

use crate::channel::Member;
use async_nats::jetstream::kv::{Operation, Store, UpdateErrorKind};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

#[derive(Default, Serialize, Deserialize)]
pub(crate) struct Chan {
    /// Nodes with at least one subscriber.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub nodes: BTreeSet<String>,
    /// The last join's sequence number (µs of the joining node's clock, and
    /// above the one before: it only grows while the entry exists).
    #[serde(default)]
    pub seq: u64,
    /// user id -> member.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub members: BTreeMap<String, Present>,
}

#[derive(Clone, Serialize, Deserialize)]
pub(crate) struct Present {
    /// The user id as it was sent (JSON).
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub info: Option<String>,
    /// Sockets per node.
    pub n: BTreeMap<String, usize>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum KvError {
    #[error("JetStream: {0}")]
    JetStream(String),
    #[error("the entry changed {TRIES} times under us")]
    Contended,
}

pub(crate) fn kv_err(e: impl std::fmt::Display) -> KvError {
    KvError::JetStream(e.to_string())
}

/// Attempts before a change gives up.
const TRIES: usize = 64;

/// Apply `f` to the entry `key` atomically; answer what `f` answered and the
/// entry as written.
pub(crate) async fn change<T>(
    kv: &Store,
    key: &str,
    mut f: impl FnMut(&mut Chan) -> T,
) -> Result<(T, Chan), KvError> {
    for _ in 0..TRIES {
        let (mut chan, revision, live) = read(kv, key).await?;
        let out = f(&mut chan);
        if write(kv, key, &chan, revision, live).await? {
            return Ok((out, chan));
        }
    }
    Err(KvError::Contended)
}

/// The entry, its revision (0: never written) and whether it holds a value.
pub(crate) async fn read(kv: &Store, key: &str) -> Result<(Chan, u64, bool), KvError> {
    Ok(match kv.entry(key).await.map_err(kv_err)? {
        Some(e) if e.operation == Operation::Put => (decode(&e.value), e.revision, true),
        Some(e) => (Chan::default(), e.revision, false),
        None => (Chan::default(), 0, false),
    })
}

pub(crate) fn decode(value: &[u8]) -> Chan {
    serde_json::from_slice(value).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unreadable channel entry in JetStream treated as empty");
        Chan::default()
    })
}

/// Write `chan` if the entry is still at `revision`; false when it was not.
async fn write(
    kv: &Store,
    key: &str,
    chan: &Chan,
    revision: u64,
    live: bool,
) -> Result<bool, KvError> {
    let result = if chan.is_empty() {
        if !live {
            return Ok(true);
        }
        kv.delete_expect_revision(key, Some(revision)).await
    } else {
        let value = serde_json::to_vec(chan).map_err(kv_err)?;
        kv.update(key, value.into(), revision).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
        Err(e) => Err(kv_err(e)),
    }
}

fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

impl Chan {
    pub(crate) fn is_empty(&self) -> bool {
        self.nodes.is_empty() && self.members.is_empty()
    }

    pub(crate) fn member_list(&self) -> Vec<Member> {
        self.members.iter().map(|(id, p)| p.member(id)).collect()
    }

    /// Count `sockets` more sockets of `m` on `node`: `Some(true)` if the user is
    /// new to the channel, `None` if the channel is full.
    pub(crate) fn join(
        &mut self,
        node: &str,
        m: &Member,
        sockets: usize,
        max: usize,
    ) -> Option<bool> {
        let added = !self.members.contains_key(&m.id);
        if added {
            if self.members.len() >= max {
                return None;
            }
            self.seq = now_us().max(self.seq + 1);
            let present = Present {
                id: m.id_json.clone(),
                info: m.info_json.clone(),
                n: BTreeMap::new(),
            };
            self.members.insert(m.id.clone(), present);
        }
        if let Some(p) = self.members.get_mut(&m.id) {
            *p.n.entry(node.to_string()).or_default() += sockets;
        }
        Some(added)
    }

    /// One socket of `user` on `node` left: the member if that was its last anywhere.
    pub(crate) fn leave(&mut self, node: &str, user: &str) -> Option<Member> {
        let p = self.members.get_mut(user)?;
        let n = p.n.get_mut(node)?;
        *n = n.saturating_sub(1);
        if *n == 0 {
            p.n.remove(node);
        }
        if !p.n.is_empty() {
            return None;
        }
        self.members.remove(user).map(|p| p.member(user))
    }

    /// Make `node`'s part of the entry what it has now: `occupied` or not, and
    /// these members with these socket counts. Answers the members that became
    /// new to the channel and those that left it for good.
    pub(crate) fn set_node(
        &mut self,
        node: &str,
        occupied: bool,
        members: &[(Member, usize)],
    ) -> (Vec<Member>, Vec<Member>) {
        match occupied {
            true => self.nodes.insert(node.to_string()),
            false => self.nodes.remove(node),
        };
        let mut gone = Vec::new();
        self.members.retain(|id, p| {
            if members.iter().any(|(m, _)| &m.id == id) {
                return true;
            }
            p.n.remove(node);
            let keep = !p.n.is_empty();
            if !keep {
                gone.push(p.member(id));
            }
            keep
        });
        let mut added = Vec::new();
        for (m, sockets) in members {
            if self.join(node, m, 0, usize::MAX) == Some(true) {
                added.push(m.clone());
            }
            if let Some(p) = self.members.get_mut(&m.id) {
                p.n.insert(node.to_string(), *sockets);
            }
        }
        (added, gone)
    }

    /// Whether `node` has any part in the entry.
    pub(crate) fn mentions(&self, node: &str) -> bool {
        self.nodes.contains(node) || self.members.values().any(|p| p.n.contains_key(node))
    }
}

impl Present {
    fn member(&self, id: &str) -> Member {
        Member {
            id: id.to_string(),
            id_json: self.id.clone(),
            info_json: self.info.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str) -> Member {
        Member {
            id: id.into(),
            id_json: format!("\"{id}\""),
            info_json: None,
        }
    }

    #[test]
    fn a_user_is_added_once_and_removed_after_the_last_socket_anywhere() {
        let mut c = Chan::default();
        assert_eq!(c.join("a", &m("u"), 1, 10), Some(true));
        let first = c.seq;
        assert_eq!(c.join("b", &m("u"), 1, 10), Some(false));
        assert_eq!(c.seq, first, "no new member, no new number");
        assert!(c.leave("a", "u").is_none());
        assert_eq!(c.leave("b", "u").map(|m| m.id), Some("u".into()));
        assert!(c.is_empty());
    }

    #[test]
    fn the_member_limit_counts_users() {
        let mut c = Chan::default();
        assert_eq!(c.join("a", &m("u1"), 1, 1), Some(true));
        assert_eq!(c.join("b", &m("u1"), 1, 1), Some(false), "same user");
        assert_eq!(c.join("b", &m("u2"), 1, 1), None);
    }

    #[test]
    fn set_node_replaces_one_nodes_part_only() {
        let mut c = Chan::default();
        c.join("a", &m("u"), 2, 10);
        c.join("b", &m("u"), 1, 10);
        c.join("a", &m("gone"), 1, 10);
        c.nodes.insert("a".into());
        let (added, removed) = c.set_node("a", false, &[(m("u"), 1), (m("new"), 1)]);
        assert_eq!(
            added.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["new"]
        );
        assert_eq!(
            removed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["gone"]
        );
        assert_eq!(c.members["u"].n["a"], 1);
        assert_eq!(c.members["u"].n["b"], 1);
        let (_, removed) = c.set_node("a", false, &[]);
        assert_eq!(
            removed.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(),
            ["new"]
        );
        assert!(!c.mentions("a"));
        assert!(c.mentions("b"));
    }
}
