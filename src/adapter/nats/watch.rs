//! Who is signed in anywhere in the cluster, for watchlist events.
//!
//! One entry per app and user in `P_online` (key `{app}.{user}`): the set of
//! nodes where at least one socket is signed in as the user, changed by
//! compare-and-set on its revision (deleted when it becomes empty). Only apps
//! with `enable_watchlist_events` are written. When a user's first socket on a
//! node signs in, or its last one leaves, the node writes whether the user is
//! signed in here *now* (read again on every attempt, so a sign-in and a
//! sign-out racing on one node end on the local truth). The write that turns
//! the set non-empty announces `online`, the one that empties it `offline`:
//! the node tells its own watchers and puts a `W` message (the frame) on the
//! app's subject for the others'. A dead node is removed from every entry when
//! it is purged (users signed in nowhere else go offline); after a NATS outage
//! a node writes its part of every entry anew from its local truth: users that
//! left meanwhile go offline, and users a peer purged meanwhile (and announced
//! offline) come online again.

use super::chan::{kv_err, KvError};
use super::names::{self, Names};
use super::scan::scan;
use super::{unavailable, Buckets, Cluster};
use crate::adapter::cluster::Cluster as _;
use crate::adapter::AdapterError;
use crate::channel::registry::AppState;
use async_nats::jetstream::kv::{Operation, Store, UpdateErrorKind};
use std::collections::{BTreeSet, HashSet};

/// Nodes where the user is signed in.
type Nodes = BTreeSet<String>;

/// Attempts before a change gives up.
const TRIES: usize = 64;
/// Reads in flight at once.
pub(super) const IN_FLIGHT: usize = 32;

impl Cluster {
    /// Write whether `user` is signed in here now; `Some(online)` when that
    /// made the user online (offline) anywhere.
    pub(super) async fn user_changed(
        &self,
        app: &AppState,
        user: &str,
    ) -> Result<Option<bool>, AdapterError> {
        let kv = self.buckets()?;
        let key = Names::chan_key(&app.app().raw.id, user);
        let me = &self.names.node;
        let here = || app.signed_in_here(&[user.to_string()]) == [true];
        set_node(&kv.online, &key, me, here)
            .await
            .map_err(|e| unavailable("watchlist status", e))
    }
}

/// Put `node` in the entry (or take it out) as `present` says on each attempt;
/// `Some(online)` when the write emptied the set or made it non-empty.
async fn set_node(
    kv: &Store,
    key: &str,
    node: &str,
    present: impl Fn() -> bool,
) -> Result<Option<bool>, KvError> {
    for _ in 0..TRIES {
        let (mut nodes, revision, live) = read(kv, key).await?;
        let was_online = !nodes.is_empty();
        let changed = match present() {
            true => nodes.insert(node.to_string()),
            false => nodes.remove(node),
        };
        if !changed {
            return Ok(None);
        }
        if write(kv, key, &nodes, revision, live).await? {
            let online = !nodes.is_empty();
            return Ok((online != was_online).then_some(online));
        }
    }
    Err(KvError::Contended)
}

/// The entry, its revision (0: never written) and whether it holds a value.
pub(super) async fn read(kv: &Store, key: &str) -> Result<(Nodes, u64, bool), KvError> {
    Ok(match kv.entry(key).await.map_err(kv_err)? {
        Some(e) if e.operation == Operation::Put => (decode(&e.value), e.revision, true),
        Some(e) => (Nodes::new(), e.revision, false),
        None => (Nodes::new(), 0, false),
    })
}

fn decode(value: &[u8]) -> Nodes {
    serde_json::from_slice(value).unwrap_or_else(|e| {
        tracing::warn!(error = %e, "unreadable online entry in JetStream treated as empty");
        Nodes::new()
    })
}

/// Write `nodes` if the entry is still at `revision`; false when it was not.
async fn write(
    kv: &Store,
    key: &str,
    nodes: &Nodes,
    revision: u64,
    live: bool,
) -> Result<bool, KvError> {
    let result = if nodes.is_empty() {
        if !live {
            return Ok(true);
        }
        kv.delete_expect_revision(key, Some(revision)).await
    } else {
        let value = serde_json::to_vec(nodes).map_err(kv_err)?;
        kv.update(key, value.into(), revision).await.map(|_| ())
    };
    match result {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Ok(false),
        Err(e) => Err(kv_err(e)),
    }
}

/// Make `node`'s part of every entry that mentions it, or that names a user in
/// `local`, true to `present`; announce the transitions (online ones only when
/// `announce_online`).
async fn rewrite(
    cluster: &Cluster,
    kv: &Buckets,
    node: &str,
    mut local: HashSet<(String, String)>,
    announce_online: bool,
) -> Result<(), KvError> {
    let mut todo = Vec::new();
    for item in scan(&kv.online, ">").await? {
        let Some(pair) = names::parse_chan_key(&item.key) else {
            continue;
        };
        if local.remove(&pair) || decode(&item.value).contains(node) {
            todo.push(pair);
        }
    }
    todo.extend(local);
    for (app, user) in todo {
        let Some(state) = cluster.registry.app(&app) else {
            continue;
        };
        let key = Names::chan_key(&app, &user);
        let me = node == cluster.names.node;
        let here = || me && state.signed_in_here(std::slice::from_ref(&user)) == [true];
        match set_node(&kv.online, &key, node, here).await? {
            Some(false) => cluster.announce_watch(&state, &user, false),
            Some(true) if announce_online => cluster.announce_watch(&state, &user, true),
            _ => {}
        }
    }
    Ok(())
}

/// After (re)connecting: write this node's users from its local truth; `purged`:
/// a peer removed this node meanwhile (and announced its users offline).
pub(crate) async fn resync(cluster: &Cluster, kv: &Buckets, purged: bool) -> Result<(), KvError> {
    let mut local = HashSet::new();
    let apps = cluster.registry.apps();
    for state in apps.iter().filter(|a| a.app().raw.enable_watchlist_events) {
        let app = &state.app().raw.id;
        local.extend(
            state
                .signed_in_users()
                .into_iter()
                .map(|u| (app.clone(), u)),
        );
    }
    let me = cluster.names.node.clone();
    rewrite(cluster, kv, &me, local, purged).await
}

/// Remove a node (dead, or this one leaving) from every entry: users signed in
/// nowhere else go offline.
pub(crate) async fn purge(cluster: &Cluster, kv: &Buckets, node: &str) -> Result<(), KvError> {
    rewrite(cluster, kv, node, HashSet::new(), false).await
}
