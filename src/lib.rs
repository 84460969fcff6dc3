//! herald: a Pusher-protocol (v7) broadcast server, a drop-in replacement for Soketi.
//!
//! # Layout
//!
//! - [`config`]: CLI/env/file input turned into one validated [`config::Config`].
//! - [`protocol`]: the Pusher wire format: client frames parsed into an enum, server frames, close codes.
//! - [`auth`]: HMAC signing and verification for channels, sign-in and the HTTP API.
//! - [`capacity`]: the descriptor limit, the node-wide and per-address connection caps (a leaf).
//! - [`channel`]: channel names and kinds, presence members, the local registry of sockets.
//! - [`adapter`]: the single delivery path for events, membership and queries.
//! - [`node`]: one node's shared state (config, adapter, socket ids, the roster of open sockets).
//! - [`connection`]: one task per WebSocket, and the node's liveness sweep and drain over all of them.
//! - [`socket_id`]: socket ids, kept as two numbers.
//! - [`api`]: the HTTP API handlers and their error-to-status mapping.
//! - [`server`]: accept loop, HTTP/1.1 with upgrades, routing, draining; one single-threaded
//!   runtime per core (`server::shards`), each serving the connections handed to it; where the
//!   listeners come from (`SO_REUSEPORT` bind or systemd's `LISTEN_FDS`) and how a leaving node
//!   lets go of them (`server::listen`); the client behind a trusted proxy (`server::caller`).
//! - [`home`]: which runtime each socket lives on, so a fan-out wakes each runtime once.
//! - [`tls`]: rustls certificates and keys for the main port, and the webhook client's roots (a leaf).
//! - [`health`]: the second listener (port 9601): health, `/usage`, `/metrics`.
//! - [`metrics`]: process-wide counters rendered for Prometheus (a leaf).
//! - [`postgres`]: apps read from a PostgreSQL table with Soketi's schema, refreshed in the background.
//! - [`rate`]: per-second budgets for the per-app HTTP API rate limits (a leaf).
//! - [`webhook`]: queued, debounced, batched, signed and retried webhooks (a leaf).
//! - [`ws`]: the server side of the WebSocket wire format (a leaf, no buffers of its own).
#![forbid(unsafe_code)]

pub mod adapter;
pub mod api;
pub mod auth;
pub mod capacity;
pub mod channel;
pub mod config;
pub mod connection;
pub mod health;
pub mod home;
pub mod metrics;
pub mod node;
pub mod postgres;
pub mod protocol;
pub mod rate;
pub mod server;
pub mod socket_id;
pub mod tls;
pub mod webhook;
pub mod ws;
