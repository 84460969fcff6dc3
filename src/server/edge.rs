//! What the main port shares beside the node (the TLS acceptor, the open
//! fallback sessions), and which requests go to the fallback transports.

use crate::fallback;
use crate::node::Node;
use crate::tls::TlsAcceptor;
use hyper::body::Incoming;
use hyper::Request;
use std::sync::Arc;

/// What every connection of the main port shares beside the node: the TLS
/// acceptor and the open fallback sessions.
#[derive(Clone)]
pub(crate) struct Edge {
    pub(super) tls: Option<TlsAcceptor>,
    pub(super) sessions: Arc<fallback::Sessions>,
}

/// A request for pusher-js's HTTP fallback transports, when they are served.
pub(super) fn fallback_route(node: &Node, req: &Request<Incoming>) -> Option<fallback::Route> {
    let server = &node.config.server;
    if !(server.raw.http_fallback && server.mode.serves_clients()) {
        return None;
    }
    fallback::Route::parse(server.local_path(req.uri().path())?)
}
