//! Who sent a request: the client's address (behind a trusted proxy, the one
//! `X-Forwarded-For` names) and its place under the per-address cap.

use crate::capacity::{Admission, Share};
use crate::config::proxies::{canonical, TrustedProxies};
use crate::node::Node;
use hyper::body::Incoming;
use hyper::Request;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// Who sent one request.
pub(crate) struct Caller {
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
    pub(crate) fn new(
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
        let client = client(proxies, peer, forwarded);
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

/// The client behind `peer`, given the `X-Forwarded-For` header values in
/// the order they came: the rightmost hop that is not a trusted proxy. When
/// every hop is trusted, the leftmost; a hop that is not an address ends the
/// walk at the trusted hop right of it.
fn client<'a>(
    proxies: &TrustedProxies,
    peer: IpAddr,
    forwarded: impl Iterator<Item = &'a str>,
) -> IpAddr {
    let peer = canonical(peer);
    if !proxies.trusts(peer) {
        return peer;
    }
    let hops: Vec<&str> = forwarded.flat_map(|v| v.split(',')).collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else { break };
        client = ip;
        if !proxies.trusts(ip) {
            break;
        }
    }
    client
}

/// `1.2.3.4`, `1.2.3.4:5678`, `::1` or `[::1]:80`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    let hop = hop.trim();
    let ip = hop
        .parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())?;
    Some(canonical(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> TrustedProxies {
        TrustedProxies::parse(list).unwrap()
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_hop() {
        let p = proxies(&["127.0.0.1", "10.0.0.0/8"]);
        let lb = ip("127.0.0.1");
        // One proxy: the address it saw.
        assert_eq!(
            client(&p, lb, ["203.0.113.7"].into_iter()),
            ip("203.0.113.7")
        );
        // A client that forges a header is only prepended to: the forgery is ignored.
        assert_eq!(
            client(&p, lb, ["6.6.6.6, 203.0.113.7"].into_iter()),
            ip("203.0.113.7")
        );
        // Two trusted proxies in a row, and several header lines.
        assert_eq!(
            client(&p, lb, ["1.1.1.1, 198.51.100.2", "10.0.0.5"].into_iter()),
            ip("198.51.100.2")
        );
        // Ports and brackets.
        assert_eq!(
            client(&p, lb, ["[2001:db8::1]:443"].into_iter()),
            ip("2001:db8::1")
        );
        assert_eq!(
            client(&p, lb, ["198.51.100.9:5555"].into_iter()),
            ip("198.51.100.9")
        );
    }

    #[test]
    fn untrusted_peers_and_odd_headers_never_choose_the_address() {
        let p = proxies(&["10.0.0.1"]);
        let stranger = ip("192.0.2.50");
        assert_eq!(client(&p, stranger, ["1.2.3.4"].into_iter()), stranger);
        assert_eq!(
            client(
                &TrustedProxies::default(),
                stranger,
                ["1.2.3.4"].into_iter()
            ),
            stranger
        );
        let lb = ip("10.0.0.1");
        assert_eq!(
            client(&p, lb, std::iter::empty()),
            lb,
            "no header: the proxy itself"
        );
        assert_eq!(client(&p, lb, ["unknown"].into_iter()), lb);
        assert_eq!(client(&p, lb, ["1.2.3.4, garbage"].into_iter()), lb);
        // All hops trusted: the leftmost one.
        assert_eq!(client(&p, lb, ["10.0.0.1"].into_iter()), lb);
    }
}
