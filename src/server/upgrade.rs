//! `GET /app/{key}` with `Upgrade: websocket`: answer 101 and hand the
//! upgraded stream to a connection task of its own.

use super::caller::Caller;
use super::{text, Body, Held};
use crate::capacity::deadline::{Clock, Deadline};
use crate::connection;
use crate::node::Node;
use crate::recovery;
use crate::ws;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, COOKIE, ORIGIN, SEC_WEBSOCKET_ACCEPT, SEC_WEBSOCKET_KEY, SET_COOKIE,
    UPGRADE,
};
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use tokio::net::TcpStream;

/// Answer 101 and hand the upgraded stream, with the connection's place
/// under the caps (`held`), to a connection task. A connection gives its
/// place up only here: a refused request leaves it where it was (and the
/// router closes the connection after the answer).
pub(super) fn upgrade(
    mut req: Request<Incoming>,
    node: Arc<Node>,
    clock: &Clock,
    held: &Held,
    caller: Caller,
    key: String,
) -> Response<Body> {
    // Refused where a proxy can retry it on another node: on a connection that
    // was open before the drain. A connection the kernel had queued when the
    // listener closed is upgraded, and its socket told 4200 at once.
    if node.is_draining() && !caller.first {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Server is closing. Please reconnect shortly.",
        );
    }
    let Some(accept) = accept_key(&req) else {
        return text(StatusCode::BAD_REQUEST, "Expected a WebSocket upgrade");
    };
    let origin = req
        .headers()
        .get(ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // One upgrade per connection: the 101 ends its HTTP, so a second never comes.
    let Some(mut pass) = held.lock().unwrap_or_else(|p| p.into_inner()).take() else {
        return text(
            StatusCode::SERVICE_UNAVAILABLE,
            "Connection already upgraded",
        );
    };
    pass.admission = caller.admission;
    pass.keep(caller.share);
    let browser = browser(&node, &key, &req);
    let upgrade = connection::Upgrade {
        key,
        origin,
        pass: Some(pass),
        client: caller.client,
        browser: browser.as_ref().map(|(token, _)| token.clone()),
    };
    let on_upgrade = hyper::upgrade::on(&mut req);
    clock.off();
    tokio::spawn(serve_upgraded(on_upgrade, node, upgrade));
    let mut r = switching(&accept);
    if let Some((token, true)) = browser {
        let cookie = HeaderValue::from_str(&recovery::set_cookie(&token));
        r.headers_mut()
            .insert(SET_COOKIE, cookie.expect("hex is a valid header"));
    }
    r
}

/// For an app with recovery channels: the browser's token from its cookie, or
/// a new one (`true`: to be set in the answer).
fn browser(node: &Node, key: &str, req: &Request<Incoming>) -> Option<(Arc<str>, bool)> {
    let app = node.app_by_key(key)?;
    if app.app().raw.recovery_channels.is_empty() {
        return None;
    }
    let cookies = req.headers().get_all(COOKIE).iter();
    let known = cookies
        .filter_map(|v| v.to_str().ok())
        .find_map(recovery::token_in);
    Some(match known {
        Some(token) => (Arc::from(token), false),
        None => (Arc::from(recovery::new_token()), true),
    })
}

/// A request for the WebSocket path, `/app/{key}`.
pub(super) fn wants_socket(node: &Node, req: &Request<Incoming>) -> bool {
    let path = node.config.server.local_path(req.uri().path());
    path.is_some_and(|p| p.starts_with("/app/"))
}

/// Close the connection after this answer when it refused a WebSocket (so the
/// connection's next request cannot be an upgrade that the caps counted only
/// once, or not at all), and while draining (a keep-alive client, a publisher
/// or a proxy, opens its next connection to the process that took over).
pub(super) fn close_unless_upgraded(r: &mut Response<Body>, node: &Node, socket: bool) {
    if r.status() != StatusCode::SWITCHING_PROTOCOLS && (socket || node.is_draining()) {
        r.headers_mut()
            .insert(CONNECTION, HeaderValue::from_static("close"));
    }
}

/// `Sec-WebSocket-Accept` for a request that asks for a WebSocket, else `None`.
fn accept_key(req: &Request<Incoming>) -> Option<String> {
    let headers = req.headers();
    let wants_ws = (headers.get(UPGRADE).and_then(|v| v.to_str().ok()))
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let key = headers.get(SEC_WEBSOCKET_KEY)?;
    wants_ws.then(|| ws::accept_key(key.as_bytes()))
}

/// Once hyper hands the stream over, serve it in a task of its own, so the
/// long-lived task holds nothing of the upgrade's state (a smaller task).
async fn serve_upgraded(on_upgrade: OnUpgrade, node: Arc<Node>, upgrade: connection::Upgrade) {
    let upgraded = match on_upgrade.await {
        Ok(upgraded) => upgraded,
        Err(e) => return tracing::debug!(error = %e, "upgrade failed"),
    };
    // Serve the bare TCP stream when hyper hands it back.
    match upgraded.downcast::<TokioIo<Deadline<TcpStream>>>() {
        Ok(parts) => {
            // Copy what the client sent early and let go of `read_buf` before
            // serving: it pins hyper's whole 8 KiB read buffer.
            let hyper::upgrade::Parts { io, read_buf, .. } = parts;
            let early = read_buf.to_vec();
            drop(read_buf);
            let tcp = connection::SharedTcp(Arc::new(io.into_inner().into_inner()));
            tokio::spawn(connection::run(tcp, early, node, upgrade));
        }
        Err(upgraded) => {
            let io = TokioIo::new(upgraded);
            tokio::spawn(connection::run(io, Vec::new(), node, upgrade));
        }
    }
}

/// The 101 answer.
fn switching(accept: &str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = r.headers_mut();
    h.insert(UPGRADE, HeaderValue::from_static("websocket"));
    h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(
        SEC_WEBSOCKET_ACCEPT,
        HeaderValue::from_str(accept).expect("base64 is a valid header"),
    );
    r
}
