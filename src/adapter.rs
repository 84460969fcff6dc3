//! The adapter: the one path every delivery, membership change and query goes
//! through, whether the other end is on this node or (with clustering) another.
//!
//! Delivery path. A publish (HTTP API or client event) is encoded once into a
//! shared [`Frame`] by its producer, then handed to [`Adapter::broadcast`], which
//! gives it to the local [`Registry`]: each local subscriber's bounded queue gets a
//! reference-counted clone. Per-channel order from one publisher holds because a
//! publish is queued for every local subscriber before the call returns, under the
//! app's registry lock. A clustered adapter adds one step: the same bytes, with the
//! excluded `socket_id`, go to the other nodes, which run the same local delivery;
//! so local and remote subscribers share one code path.

use crate::channel::registry::{AppState, Counts, Frame, JoinError, Joined, Left};
use crate::channel::{Member, Registry, Sink};
use std::sync::Arc;

/// Where events and membership go. Only the in-process variant exists today.
pub enum Adapter {
    Local(Arc<Registry>),
}

impl Adapter {
    pub fn local(registry: Arc<Registry>) -> Adapter {
        Adapter::Local(registry)
    }

    fn registry(&self) -> &Registry {
        match self {
            Adapter::Local(r) => r,
        }
    }

    pub fn app(&self, id: &str) -> Option<&Arc<AppState>> {
        self.registry().app(id)
    }

    /// Deliver a frame to a channel's subscribers, except the socket `except`.
    pub fn broadcast(
        &self,
        app: &AppState,
        channel: &str,
        frame: &Frame,
        except: Option<&str>,
    ) -> usize {
        app.broadcast(channel, frame, except)
    }

    /// Deliver a frame to every socket signed in as `user`.
    pub fn send_to_user(
        &self,
        app: &AppState,
        user: &str,
        frame: &Frame,
        except: Option<&str>,
    ) -> usize {
        app.send_to_user(user, frame, except)
    }

    pub fn subscribe(
        &self,
        app: &AppState,
        channel: &str,
        sink: &Arc<Sink>,
        member: Option<Member>,
    ) -> Result<Joined, JoinError> {
        app.subscribe(channel, sink, member)
    }

    pub fn unsubscribe(&self, app: &AppState, channel: &str, key: u64) -> Option<Left> {
        app.unsubscribe(channel, key)
    }

    pub fn counts(&self, app: &AppState, channel: &str) -> Option<Counts> {
        app.counts(channel)
    }

    pub fn channels(&self, app: &AppState, prefix: &str) -> Vec<(String, Counts)> {
        app.channels(prefix)
    }

    pub fn members(&self, app: &AppState, channel: &str) -> Vec<Member> {
        app.members(channel)
    }

    pub fn terminate_user(&self, app: &AppState, user: &str) -> usize {
        app.terminate_user(user)
    }

    pub fn total_connections(&self) -> usize {
        self.registry().total_connections()
    }
}
