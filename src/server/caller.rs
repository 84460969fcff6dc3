//! Who sent a request: the client's address (behind a trusted proxy, the one
//! `X-Forwarded-For` names) and its place under the per-address cap.

use crate::capacity::{Admission, Share};
use crate::node::Node;
use hyper::body::Incoming;
use hyper::Request;
use std::net::IpAddr;
use std::sync::Arc;

/// Who sent one request.
pub struct Caller {
    /// The client's address: the TCP peer, or behind a trusted proxy the
    /// client `X-Forwarded-For` names.
    pub client: Option<IpAddr>,
    /// Behind a trusted proxy, the client's place under the per-address cap
    /// while the request runs (a WebSocket keeps it for its life).
    pub share: Option<Share>,
    /// The connection's caps and the client's together.
    pub admission: Admission,
    /// The connection's first request (not a reused keep-alive connection).
    pub first: bool,
}

impl Caller {
    pub fn new(
        node: &Arc<Node>,
        peer: Option<IpAddr>,
        req: &Request<Incoming>,
        first: bool,
        mut admission: Admission,
    ) -> Caller {
        let proxies = &node.config.server.guard.trusted_proxies;
        let Some(peer) = peer.filter(|p| proxies.trusts(*p)) else {
            return Caller {
                client: peer,
                share: None,
                admission,
                first,
            };
        };
        let forwarded = req
            .headers()
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok());
        let client = proxies.client(peer, forwarded);
        let share = node.gate.share(client).map(|(share, over)| {
            if over && admission == Admission::Admitted {
                admission = Admission::OverAddress;
            }
            share
        });
        Caller {
            client: Some(client),
            share,
            admission,
            first,
        }
    }
}
