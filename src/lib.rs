//! herald: a Pusher-protocol (v7) broadcast server, a drop-in replacement for Soketi.
//!
//! # Layout
//!
//! Modules in layers; a module uses those below it, never above, and no two
//! files import each other.
//!
//! 1. Leaves, pure or self-contained: [`ws`] (the WebSocket wire format),
//!    [`protocol`] (Pusher frames, close codes), [`auth`] (HMAC signatures),
//!    [`config`] (CLI/env/file input into one validated [`config::Config`]),
//!    [`metrics`] (process-wide counters for Prometheus), [`tap`] (what the debug
//!    console sees, one atomic load while nobody watches), [`rate`] (per-second
//!    budgets), [`capacity`] (the descriptor limit, connection caps, request deadlines), [`tls`]
//!    (rustls certificates and keys), `redis_link` (one link to a Redis server, the
//!    master Redis Sentinel names, or a Cluster, shared by the adapter and the webhook queue), [`webhook`] (queued
//!    in memory or in Redis, batched, signed, retried).
//! 2. [`socket`]: one socket's own types: id, shared frames, the outbound queue
//!    (`Sink`), liveness clocks, its home runtime and a fan-out's grouped wake-ups.
//!    `recovery` (missed events after a reconnect: kept events, where closed
//!    sockets stood, the browser cookie) sits on it.
//! 3. [`channel`]: channel names and kinds, presence members, the local registry
//!    of which sockets are in which channels.
//! 4. [`adapter`]: the single delivery path for events, membership and queries
//!    (in process, or across nodes), every flow written once, including
//!    subscription counts (`adapter::counts`) and watchlists (`adapter::watch`),
//!    over an optional cluster: `adapter::cluster` is the seam, a trait of storage
//!    and transport primitives that `adapter::redis` (one server or a Redis
//!    Cluster) and `adapter::nats` implement. Only [`node`] names a backend.
//! 5. [`roster`] (every open socket: the liveness sweep, the drain) and [`node`]
//!    (the composition root: config, adapter, roster, caps, socket ids).
//! 6. [`connection`] (one task per WebSocket), [`fallback`] (pusher-js's
//!    `xhr_streaming`/`xhr_polling` sessions, each a connection task over an
//!    in-memory transport; [`node`] holds only their table), [`api`] (the HTTP API handlers),
//!    [`cutoff`] (what a node cut off from its bus does with its sockets: the opt-in 4200s),
//!    [`app_table`] (apps from a PostgreSQL or MySQL table), [`console`] (the debug console:
//!    pages, event stream, test publishes, the cluster relay), [`health`] (the second
//!    listener: health, `/usage`, `/metrics`, and the console's routes).
//! 7. [`server`]: accept loop, HTTP/1.1 with upgrades, routing, request deadlines,
//!    draining; one single-threaded runtime per core (`server::shards`); where the
//!    listeners come from (`SO_REUSEPORT` bind or systemd's `LISTEN_FDS`) and how a
//!    leaving node lets go of them (`server::listen`); the client behind a trusted
//!    proxy (`server::caller`).
#![forbid(unsafe_code)]

pub mod adapter;
pub mod api;
pub mod app_table;
pub mod auth;

pub(crate) mod aws;
pub(crate) mod capacity;
pub mod channel;
pub mod config;
pub mod connection;
pub(crate) mod console;
pub(crate) mod cutoff;
pub(crate) mod fallback;
pub mod health;
pub mod metrics;
pub mod node;
pub mod protocol;
pub(crate) mod rate;
pub mod recovery;
pub(crate) mod redis_link;
pub(crate) mod roster;
pub mod server;
pub mod socket;
pub(crate) mod tap;
pub mod tls;
pub(crate) mod webhook;
pub mod ws;
