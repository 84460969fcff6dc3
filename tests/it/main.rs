//! Integration tests: the real server on port 0, driven through real sockets.

mod api;
mod capacity;
mod channels;
mod cli;
mod client_events;
mod cluster;
mod config_check;
mod console;
mod counts;
mod db;
mod deploy;
mod metrics;
mod mysql;
mod origins;
mod postgres;
mod presence;
mod queue;
mod rate_limits;
mod soketi_env;
mod soketi_json;
mod support;
mod tls;
mod users;
mod watchlist;
mod webhooks;
mod websocket;
