//! Signed-in users: which sockets are signed in as whom, for server-to-user
//! events and `terminate_connections`.

use super::{lock, AppState};
use crate::protocol;
use crate::socket::{Frame, Sink, SocketId};
use std::sync::Arc;

impl AppState {
    /// Record that a socket signed in as `user`; answers whether it is the
    /// user's first socket on this node.
    pub(crate) fn sign_in(&self, user: &str, sink: &Arc<Sink>) -> bool {
        let mut state = lock(&self.state);
        let sockets = state.users.entry(user.to_string()).or_default();
        sockets.insert(sink.key, sink.clone());
        sockets.len() == 1
    }

    /// Forget a socket's sign-in; answers whether it was the user's last
    /// socket on this node.
    pub(crate) fn sign_out(&self, user: &str, key: u64) -> bool {
        let mut state = lock(&self.state);
        let Some(sockets) = state.users.get_mut(user) else {
            return false;
        };
        let was_in = sockets.remove(&key).is_some();
        if sockets.is_empty() {
            state.users.remove(user);
        }
        was_in && !state.users.contains_key(user)
    }

    /// Queue `frame` for every socket signed in as `user`.
    pub(crate) fn send_to_user(&self, user: &str, frame: &Frame, except: Option<&str>) -> usize {
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
    pub(crate) fn terminate_user(&self, user: &str) -> usize {
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
}
