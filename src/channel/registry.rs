//! The local registry: which sockets of this node are in which channels, presence
//! members, signed-in users, and each socket's bounded outbound queue ([`Sink`]).
//!
//! One std mutex per app guards channels and users; it is never held across an
//! `.await`. Fan-out happens under it: each subscriber's [`Sink`] gets the frame
//! appended to its outbox, so a publish never waits for a slow socket; a full
//! outbox closes that socket with 4100 instead.

use super::Member;
use crate::config::App;
use crate::protocol;
use crate::rate::Budget;
use crate::socket::{Frame, Sink, SocketId, Wakes};
use crate::webhook::Webhooks;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Channels with up to this many local subscribers are written to by the
/// publisher itself (lowest latency); larger fan-outs go through the sockets'
/// tasks, which run on every thread and batch under load.
const DIRECT_FANOUT_MAX: usize = 32;

/// Result of joining a channel.
#[derive(Debug, Default)]
pub struct Joined {
    /// This socket is the channel's first subscriber (on this node for the registry;
    /// cluster-wide when returned by the adapter).
    pub occupied: bool,
    /// The socket was already subscribed: nothing changed.
    pub already: bool,
    /// The member is new to the channel (its user's first socket).
    pub member_added: bool,
    /// Presence: the encoded `subscription_succeeded` data.
    pub presence: Option<String>,
}

/// Result of leaving a channel.
#[derive(Debug, Default)]
pub struct Left {
    pub vacated: bool,
    /// The presence user id this socket had in the channel.
    pub user: Option<String>,
    pub member_removed: Option<Member>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JoinError {
    #[error("The maximum members per presence channel limit was reached")]
    PresenceFull,
}

struct Subscriber {
    key: u64,
    sink: Arc<Sink>,
    /// Presence channels only (boxed: most subscriptions are not presence).
    presence: Option<Box<PresenceSub>>,
}

struct PresenceSub {
    user: String,
    seen: Seen,
}

/// Which `member_added` a presence subscriber still needs. With the Redis
/// adapter, its `subscription_succeeded` lists every member up to its own
/// join's sequence number; later joins are announced with higher numbers.
enum Seen {
    /// Every announcement (single node: members are announced under this lock).
    All,
    /// Those numbered above its own join.
    After(u64),
    /// Its join is still running in Redis: held until its number is known.
    Pending(Vec<(u64, Frame)>),
}

/// A channel's local subscribers; keys are unique. A list, because one or a
/// few per channel is the common case and fan-out walks it; past
/// [`INDEX_FROM`] subscribers an index by key keeps joins and leaves O(1).
#[derive(Default)]
struct Subscribers {
    list: Vec<Subscriber>,
    /// Key -> position in `list`, kept while the channel is large. Boxed: a
    /// pointer in every channel instead of a map's 48 bytes.
    #[allow(clippy::box_collection)]
    index: Option<Box<HashMap<u64, usize>>>,
}

/// Subscribers from which a channel keeps an index (dropped below half of it).
const INDEX_FROM: usize = 16;

impl Subscribers {
    fn position(&self, key: u64) -> Option<usize> {
        match &self.index {
            Some(index) => index.get(&key).copied(),
            None => self.list.iter().position(|s| s.key == key),
        }
    }

    fn contains(&self, key: u64) -> bool {
        self.position(key).is_some()
    }

    fn get_mut(&mut self, key: u64) -> Option<&mut Subscriber> {
        let at = self.position(key)?;
        self.list.get_mut(at)
    }

    fn push(&mut self, s: Subscriber) {
        if self.list.capacity() == 0 {
            self.list.reserve_exact(1);
        }
        if let Some(index) = self.index.as_mut() {
            index.insert(s.key, self.list.len());
        }
        self.list.push(s);
        if self.index.is_none() && self.list.len() >= INDEX_FROM {
            let index = self.list.iter().enumerate().map(|(at, s)| (s.key, at));
            self.index = Some(Box::new(index.collect()));
        }
    }

    fn remove(&mut self, key: u64) -> Option<Subscriber> {
        let at = self.position(key)?;
        let s = self.list.swap_remove(at);
        if let Some(index) = self.index.as_mut() {
            index.remove(&key);
            if let Some(moved) = self.list.get(at) {
                index.insert(moved.key, at);
            }
            if self.list.len() < INDEX_FROM / 2 {
                self.index = None;
            }
        }
        if self.list.len() * 4 < self.list.capacity() {
            self.list.shrink_to_fit();
        }
        Some(s)
    }

    fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// Hand `frame` to every subscriber `wants` picks (it may also update them);
    /// returns how many took it. Large channels go through the sockets' tasks.
    fn deliver(&mut self, frame: &Frame, mut wants: impl FnMut(&mut Subscriber) -> bool) -> usize {
        let direct = self.list.len() <= DIRECT_FANOUT_MAX;
        let targets = self
            .list
            .iter_mut()
            .filter_map(|s| wants(s).then_some(&s.sink));
        if direct {
            targets.filter(|sink| sink.send(frame)).count()
        } else {
            let mut wakes = Wakes::default();
            targets.filter(|sink| wakes.queue(sink, frame)).count()
        }
    }

    fn len(&self) -> usize {
        self.list.len()
    }
}

struct Presence {
    member: Member,
    sockets: usize,
}

#[derive(Default)]
struct Channel {
    /// In a list, not a map: one per socket is the common case, and fan-out walks it.
    subscribers: Subscribers,
    members: HashMap<String, Presence>,
}

#[derive(Default)]
struct State {
    channels: HashMap<String, Channel>,
    users: HashMap<String, HashMap<u64, Arc<Sink>>>,
}

struct Cached {
    frame: Frame,
    data: String,
    expires: Instant,
}

/// Counts for one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Counts {
    pub subscriptions: usize,
    pub users: usize,
}

/// Everything this node knows about one app's sockets.
pub struct AppState {
    /// The app's settings, read on every message without a lock; replaced when
    /// its source (a database) changes them.
    config: arc_swap::ArcSwap<App>,
    state: Mutex<State>,
    cache: Mutex<HashMap<String, Cached>>,
    connections: AtomicUsize,
    /// HTTP API budgets: events (points = channels) and channel queries.
    pub backend_events: Budget,
    pub read_requests: Budget,
    /// This app's webhook sender on this node.
    pub webhooks: Webhooks,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppState {
    pub fn new(app: Arc<App>) -> AppState {
        AppState {
            config: arc_swap::ArcSwap::new(app),
            state: Mutex::default(),
            cache: Mutex::default(),
            connections: AtomicUsize::new(0),
            backend_events: Budget::default(),
            read_requests: Budget::default(),
            webhooks: Webhooks::default(),
        }
    }

    /// The app's current settings.
    pub fn app(&self) -> Arc<App> {
        self.config.load_full()
    }

    /// Take new settings for the app (same id).
    pub fn set_app(&self, app: Arc<App>) {
        self.config.store(app);
    }

    /// Count a new connection unless the app's quota (counting `elsewhere`
    /// connections on other nodes) is reached.
    pub fn try_connect(&self, elsewhere: usize) -> bool {
        let max = self.app().max_connections.unwrap_or(usize::MAX);
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n.saturating_add(elsewhere) < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Every local presence channel with its members and their local socket counts.
    pub fn local_presence(&self) -> Vec<(String, Vec<(Member, usize)>)> {
        let state = lock(&self.state);
        let presence = state.channels.iter().filter(|(_, c)| !c.members.is_empty());
        presence
            .map(|(name, c)| {
                let members = c
                    .members
                    .values()
                    .map(|p| (p.member.clone(), p.sockets))
                    .collect();
                (name.clone(), members)
            })
            .collect()
    }

    pub fn disconnect(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Add a socket to a channel. For presence, `max_members` (if any) is the
    /// local member limit, and with `announce` a new member's `member_added` goes
    /// to the others under the same lock, so that nobody who joins meanwhile hears
    /// of a member twice (cluster-wide announcements are the adapter's business).
    pub fn subscribe(
        &self,
        name: &str,
        sink: &Arc<Sink>,
        member: Option<Member>,
        max_members: Option<usize>,
        announce: bool,
    ) -> Result<Joined, JoinError> {
        let mut state = lock(&self.state);
        let channel = state.channels.entry(name.to_string()).or_default();
        let already = channel.subscribers.contains(sink.key);
        let mut joined = Joined {
            occupied: channel.subscribers.is_empty(),
            already,
            ..Joined::default()
        };
        if let (Some(member), false) = (member.as_ref(), already) {
            let full = max_members.is_some_and(|max| channel.members.len() >= max);
            if full && !channel.members.contains_key(&member.id) {
                if channel.subscribers.is_empty() {
                    state.channels.remove(name);
                }
                return Err(JoinError::PresenceFull);
            }
            let fresh = Presence {
                member: member.clone(),
                sockets: 0,
            };
            let entry = channel.members.entry(member.id.clone()).or_insert(fresh);
            entry.sockets += 1;
            joined.member_added = entry.sockets == 1;
        }
        if !already {
            let presence = member.as_ref().map(|m| {
                let seen = match announce {
                    true => Seen::All,
                    false => Seen::Pending(Vec::new()),
                };
                Box::new(PresenceSub {
                    user: m.id.clone(),
                    seen,
                })
            });
            let subscriber = Subscriber {
                key: sink.key,
                sink: sink.clone(),
                presence,
            };
            channel.subscribers.push(subscriber);
        }
        if member.is_some() {
            joined.presence = Some(presence_data(channel.members.values().map(|p| &p.member)));
        }
        if let (true, true, Some(m)) = (announce, joined.member_added, member.as_ref()) {
            let info = m.info_json.as_deref();
            let frame = Frame::from(protocol::member_added(name, &m.id_json, info));
            channel.subscribers.deliver(&frame, |s| s.key != sink.key);
        }
        Ok(joined)
    }

    /// Remove a socket from a channel; `None` if it was not subscribed.
    pub fn unsubscribe(&self, name: &str, key: u64) -> Option<Left> {
        let mut state = lock(&self.state);
        let channel = state.channels.get_mut(name)?;
        let sub = channel.subscribers.remove(key)?;
        let user = sub.presence.map(|p| p.user);
        let mut left = Left {
            user: user.clone(),
            ..Left::default()
        };
        if let Some(user) = user {
            if let Some(p) = channel.members.get_mut(&user) {
                p.sockets -= 1;
                if p.sockets == 0 {
                    left.member_removed = channel.members.remove(&user).map(|p| p.member);
                }
            }
        }
        if channel.subscribers.is_empty() {
            state.channels.remove(name);
            left.vacated = true;
        }
        Some(left)
    }

    /// With the Redis adapter: the socket's presence join ran as number `seq`;
    /// send what was held for it that its member list did not cover.
    pub fn presence_joined(&self, name: &str, key: u64, seq: u64) {
        let mut state = lock(&self.state);
        let Some(channel) = state.channels.get_mut(name) else {
            return;
        };
        let Some(sub) = channel.subscribers.get_mut(key) else {
            return;
        };
        let Some(p) = sub.presence.as_mut() else {
            return;
        };
        if let Seen::Pending(held) = std::mem::replace(&mut p.seen, Seen::After(seq)) {
            for (n, frame) in held {
                if n > seq {
                    sub.sink.send(&frame);
                }
            }
        }
    }

    /// With the Redis adapter: a `member_added` numbered `seq`, for the
    /// subscribers whose member list did not have it. Returns how many got it.
    pub fn announce_member(
        &self,
        name: &str,
        frame: &Frame,
        seq: u64,
        except: Option<&str>,
    ) -> usize {
        let except = except.and_then(SocketId::parse);
        let mut state = lock(&self.state);
        let Some(channel) = state.channels.get_mut(name) else {
            return 0;
        };
        channel.subscribers.deliver(frame, |s| {
            if except.is_some_and(|e| s.sink.socket_id() == e) {
                return false;
            }
            match s.presence.as_mut().map(|p| &mut p.seen) {
                Some(Seen::Pending(held)) => {
                    held.push((seq, frame.clone()));
                    false
                }
                Some(Seen::After(joined)) => seq > *joined,
                Some(Seen::All) | None => true,
            }
        })
    }

    /// Queue `frame` for every subscriber of `name` except `except`. Returns how many got it.
    ///
    /// Small fan-outs are written after the lock is released, so publishes to
    /// different channels of one app write in parallel on every worker.
    pub fn broadcast(&self, name: &str, frame: &Frame, except: Option<&str>) -> usize {
        let except = except.and_then(SocketId::parse);
        let skip = |s: &Subscriber| except.is_some_and(|e| s.sink.socket_id() == e);
        let direct: Vec<Arc<Sink>> = {
            let mut state = lock(&self.state);
            let Some(channel) = state.channels.get_mut(name) else {
                return 0;
            };
            if channel.subscribers.len() > DIRECT_FANOUT_MAX {
                return channel.subscribers.deliver(frame, |s| !skip(s));
            }
            let targets = channel.subscribers.list.iter().filter(|s| !skip(s));
            targets.map(|s| s.sink.clone()).collect()
        };
        direct.iter().filter(|s| s.send(frame)).count()
    }

    /// Subscription and user counts of one channel, if occupied.
    pub fn counts(&self, name: &str) -> Option<Counts> {
        let state = lock(&self.state);
        state.channels.get(name).map(channel_counts)
    }

    /// Occupied channels whose names start with `prefix`.
    pub fn channels(&self, prefix: &str) -> Vec<(String, Counts)> {
        let state = lock(&self.state);
        let matching = state.channels.iter().filter(|(n, _)| n.starts_with(prefix));
        matching
            .map(|(n, c)| (n.clone(), channel_counts(c)))
            .collect()
    }

    /// The raw JSON ids of a presence channel's members.
    pub fn members(&self, name: &str) -> Vec<Member> {
        let state = lock(&self.state);
        let Some(channel) = state.channels.get(name) else {
            return Vec::new();
        };
        channel.members.values().map(|p| p.member.clone()).collect()
    }

    /// Record that a socket signed in as `user`.
    pub fn sign_in(&self, user: &str, sink: &Arc<Sink>) {
        lock(&self.state)
            .users
            .entry(user.to_string())
            .or_default()
            .insert(sink.key, sink.clone());
    }

    pub fn sign_out(&self, user: &str, key: u64) {
        let mut state = lock(&self.state);
        if let Some(sockets) = state.users.get_mut(user) {
            sockets.remove(&key);
            if sockets.is_empty() {
                state.users.remove(user);
            }
        }
    }

    /// Queue `frame` for every socket signed in as `user`.
    pub fn send_to_user(&self, user: &str, frame: &Frame, except: Option<&str>) -> usize {
        let except = except.and_then(SocketId::parse);
        let targets: Vec<Arc<Sink>> = {
            let state = lock(&self.state);
            let Some(sockets) = state.users.get(user) else {
                return 0;
            };
            let others = sockets
                .values()
                .filter(|s| except.is_none_or(|e| s.socket_id() != e));
            others.cloned().collect()
        };
        targets.iter().filter(|s| s.send(frame)).count()
    }

    /// Close every socket signed in as `user` with 4009.
    pub fn terminate_user(&self, user: &str) -> usize {
        let state = lock(&self.state);
        let Some(sockets) = state.users.get(user) else {
            return 0;
        };
        sockets.values().for_each(|s| {
            s.close(
                protocol::code::UNAUTHORIZED,
                "You got disconnected by the app.",
            )
        });
        sockets.len()
    }

    /// Keep the last API event of a cache channel.
    pub fn cache_put(&self, name: &str, frame: &Frame, data: &str, ttl: Duration) {
        let mut cache = lock(&self.cache);
        let now = Instant::now();
        cache.retain(|_, c| c.expires > now);
        let cached = Cached {
            frame: frame.clone(),
            data: data.to_string(),
            expires: now + ttl,
        };
        cache.insert(name.to_string(), cached);
    }

    /// The cached frame, its raw `data` and the time it has left.
    pub fn cache_get(&self, name: &str) -> Option<(Frame, String, Duration)> {
        let cache = lock(&self.cache);
        let c = cache.get(name)?;
        let left = c.expires.checked_duration_since(Instant::now())?;
        Some((c.frame.clone(), c.data.clone(), left))
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

/// All apps' local state, by app id.
pub struct Registry {
    apps: std::sync::RwLock<HashMap<String, Arc<AppState>>>,
}

impl Registry {
    pub fn new(apps: impl Iterator<Item = Arc<App>>) -> Registry {
        let states = apps
            .map(|a| (a.id.clone(), Arc::new(AppState::new(a))))
            .collect();
        Registry {
            apps: std::sync::RwLock::new(states),
        }
    }

    /// The state of an app this node has seen.
    pub fn app(&self, id: &str) -> Option<Arc<AppState>> {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.get(id).cloned()
    }

    /// The state of `app`, created on first use; takes its settings if they changed.
    pub fn app_for(&self, app: &Arc<App>) -> Arc<AppState> {
        if let Some(state) = self.app(&app.id) {
            if !Arc::ptr_eq(&state.app(), app) {
                state.set_app(app.clone());
            }
            return state;
        }
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        let state = apps
            .entry(app.id.clone())
            .or_insert_with(|| Arc::new(AppState::new(app.clone())));
        state.clone()
    }

    /// A snapshot of every app's state.
    pub fn apps(&self) -> Vec<Arc<AppState>> {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.values().cloned().collect()
    }

    pub fn total_connections(&self) -> usize {
        self.apps().iter().map(|a| a.connection_count()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::socket::Liveness;

    fn subscriber(key: u64) -> Subscriber {
        let sink = Sink::new(SocketId::new(1, key), 4, Liveness::new(None));
        Subscriber {
            key,
            sink,
            presence: None,
        }
    }

    /// Joins and leaves in a scrambled order, across the size where the index
    /// is built and dropped: every lookup agrees with a plain set.
    #[test]
    fn subscribers_index_agrees_with_the_list() {
        let mut subs = Subscribers::default();
        let mut truth = std::collections::BTreeSet::new();
        let mut x: u64 = 7;
        for _ in 0..5_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let key = (x >> 33) % 40;
            if truth.contains(&key) {
                assert_eq!(subs.remove(key).map(|s| s.key), Some(key));
                truth.remove(&key);
            } else {
                assert!(subs.remove(key).is_none());
                subs.push(subscriber(key));
                truth.insert(key);
            }
            assert_eq!(subs.len(), truth.len());
            for k in 0..40 {
                assert_eq!(subs.contains(k), truth.contains(&k), "key {k}");
            }
            if let Some(index) = &subs.index {
                for (at, s) in subs.list.iter().enumerate() {
                    assert_eq!(index.get(&s.key), Some(&at));
                }
            }
        }
    }
}

#[cfg(test)]
mod proptests;
