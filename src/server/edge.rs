//! What the main port shares beside the node (the TLS acceptor, the open
//! fallback sessions), and which requests go to the fallback transports.

use super::caller::Caller;
use crate::capacity::Admission;
use crate::fallback;
use crate::node::Node;
use crate::tls::TlsAcceptor;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONNECTION};
use hyper::{Request, Response};
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

/// A request of pusher-js's HTTP fallback transports, answered by [`fallback`].
pub(super) async fn serve_fallback(
    req: Request<Incoming>,
    node: Arc<Node>,
    route: fallback::Route,
    caller: Caller,
    sessions: Arc<fallback::Sessions>,
) -> Response<fallback::Answer> {
    let over = caller.admission != Admission::Admitted;
    let caller = fallback::Caller {
        client: caller.client,
        admission: caller.admission,
        sessions,
    };
    let mut response = fallback::handle(req, node, route, caller).await;
    if over {
        // As for any request over a cap: answered, then closed.
        response
            .headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
    response
}
