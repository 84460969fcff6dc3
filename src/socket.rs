//! One socket's own types, below everything that serves sockets: its id, the
//! frames it is sent (encoded once, shared), its outbound queue ([`Sink`]),
//! its liveness clocks, and the runtime it lives on with the grouped wake-ups
//! of a fan-out. Nothing here knows about channels, nodes or connections.
//!
//! Imports inside run one way: `wake` -> `outbox` -> `frame`, `liveness`,
//! `id`, `home`.

pub mod acks;
pub(crate) mod frame;
pub(crate) mod home;
pub(crate) mod id;
mod kept;
pub(crate) mod liveness;
pub(crate) mod outbox;
pub(crate) mod wake;

pub use frame::Frame;
pub use id::SocketId;
pub use liveness::Liveness;
pub use outbox::Sink;
pub use wake::Wakes;
