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
use crate::socket::{Frame, Sink, SocketId};
use cache::Cached;
use subscribers::{PresenceSub, Seen, Subscriber, Subscribers, DIRECT_FANOUT_MAX};

mod cache;
mod kept;
pub use queries::presence_data;
pub(crate) mod counter;
mod queries;
mod subscribers;
mod users;
mod watchers;
use crate::tap::Tap;
use crate::webhook::Webhooks;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

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
    /// A recovery channel joined again: the events missed, or why not.
    pub(crate) replay: Option<crate::recovery::Replay>,
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

struct State {
    channels: HashMap<String, Channel>,
    users: HashMap<String, HashMap<u64, Arc<Sink>>>,
    /// Recovery channels' kept events.
    history: crate::recovery::history::History,
}

/// Counts for one channel.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Counts {
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
    /// Where closed sockets stood in recovery channels, by browser.
    returns: Mutex<crate::recovery::returns::Returns>,
    /// Watchlists of this node's signed-in sockets.
    watchers: Mutex<watchers::Watchers>,
    connections: AtomicUsize,
    /// HTTP API budgets: events (points = channels) and channel queries.
    pub backend_events: Budget,
    pub read_requests: Budget,
    /// This app's webhook sender on this node.
    pub webhooks: Webhooks,
    /// What the debug console sees of this app on this node.
    pub tap: Arc<Tap>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl AppState {
    pub(crate) fn new(app: Arc<App>) -> AppState {
        let tap = Arc::new(Tap::default());
        AppState {
            config: arc_swap::ArcSwap::new(app),
            state: Mutex::new(State {
                channels: HashMap::new(),
                users: HashMap::new(),
                history: crate::recovery::history::History::new(crate::socket::acks::wall_ms()),
            }),
            cache: Mutex::default(),
            returns: Mutex::default(),
            watchers: Mutex::default(),
            connections: AtomicUsize::new(0),
            backend_events: Budget::default(),
            read_requests: Budget::default(),
            webhooks: Webhooks::new(tap.clone()),
            tap,
        }
    }

    /// The app's current settings.
    pub fn app(&self) -> Arc<App> {
        self.config.load_full()
    }

    /// Take new settings for the app (same id).
    pub(crate) fn set_app(&self, app: Arc<App>) {
        self.config.store(app);
    }

    /// Count a new connection unless the app's quota (counting `elsewhere`
    /// connections on other nodes) is reached.
    pub(crate) fn try_connect(&self, elsewhere: usize) -> bool {
        let max = self.app().max_connections.unwrap_or(usize::MAX);
        self.connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n.saturating_add(elsewhere) < max).then_some(n + 1)
            })
            .is_ok()
    }

    /// Every local presence channel with its members and their local socket counts.
    pub(crate) fn local_presence(&self) -> Vec<(String, Vec<(Member, usize)>)> {
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

    pub(crate) fn disconnect(&self) {
        let _ = self
            .connections
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1));
    }

    pub(crate) fn connection_count(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// Add a socket to a channel. For presence, `max_members` (if any) is the
    /// local member limit, and with `announce` a new member's `member_added` goes
    /// to the others under the same lock, so that nobody who joins meanwhile hears
    /// of a member twice (cluster-wide announcements are the adapter's business).
    pub(crate) fn subscribe(
        &self,
        name: &str,
        sink: &Arc<Sink>,
        member: Option<Member>,
        max_members: Option<usize>,
        announce: bool,
        recovery: crate::recovery::Recovery,
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
        if !already {
            let bounds = crate::recovery::Bounds::of(&self.app());
            joined.replay = kept::join(&mut state.history, name, sink, recovery, bounds);
        }
        Ok(joined)
    }

    /// Remove a socket from a channel; `None` if it was not subscribed.
    pub(crate) fn unsubscribe(&self, name: &str, key: u64) -> Option<Left> {
        let mut state = lock(&self.state);
        let channel = state.channels.get_mut(name)?;
        let sub = channel.subscribers.remove(key)?;
        sub.sink.untrack_kept(name);
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
    pub(crate) fn presence_joined(&self, name: &str, key: u64, seq: u64) {
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
    pub(crate) fn announce_member(
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
    pub(crate) fn broadcast(&self, name: &str, frame: &Frame, except: Option<&str>) -> usize {
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
}

/// All apps' local state, by app id.
pub struct Registry {
    apps: std::sync::RwLock<HashMap<String, Arc<AppState>>>,
    /// Channels owing their subscribers a `subscription_count`.
    pub counter: counter::Counter,
}

impl Registry {
    pub(crate) fn new(apps: impl Iterator<Item = Arc<App>>) -> Registry {
        let states = apps
            .map(|a| (a.raw.id.clone(), Arc::new(AppState::new(a))))
            .collect();
        Registry {
            apps: std::sync::RwLock::new(states),
            counter: counter::Counter::default(),
        }
    }

    /// The state of an app this node has seen.
    pub(crate) fn app(&self, id: &str) -> Option<Arc<AppState>> {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.get(id).cloned()
    }

    /// The state of `app`, created on first use; takes its settings if they changed.
    pub(crate) fn app_for(&self, app: &Arc<App>) -> Arc<AppState> {
        if let Some(state) = self.app(&app.raw.id) {
            if !Arc::ptr_eq(&state.app(), app) {
                state.set_app(app.clone());
            }
            return state;
        }
        let mut apps = self.apps.write().unwrap_or_else(|p| p.into_inner());
        let state = apps
            .entry(app.raw.id.clone())
            .or_insert_with(|| Arc::new(AppState::new(app.clone())));
        state.clone()
    }

    /// A snapshot of every app's state.
    pub(crate) fn apps(&self) -> Vec<Arc<AppState>> {
        let apps = self.apps.read().unwrap_or_else(|p| p.into_inner());
        apps.values().cloned().collect()
    }

    pub(crate) fn total_connections(&self) -> usize {
        self.apps().iter().map(|a| a.connection_count()).sum()
    }
}

#[cfg(test)]
mod proptests;
