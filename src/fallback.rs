//! pusher-js's HTTP fallback transports, `xhr_streaming` and `xhr_polling`,
//! for pages whose network will not carry a WebSocket.
//!
//! What pusher-js 8 does (read from its source, `core/http/*`): it builds
//! `http(s)://{httpHost}:{httpPort}{httpPath}/app/{key}?protocol=7&client=js&version=…`
//! (`httpPath` defaults to `/pusher`), picks a session `{0..999}/{8 base-32 chars}`
//! and POSTs, each URL made unique with `t=` and `n=`:
//! - `…/app/{key}/{server}/{session}/xhr_streaming` (or `/xhr` when polling),
//!   an empty body; the answer is lines: `o`, `a[json strings]`, `h`, `c[code,reason]`.
//!   Streaming keeps reading it (and starts a new one past 256 KiB); polling
//!   starts the next request when one ends with 200, and closes on any other status.
//! - `…/{server}/{session}/xhr_send` with `["message"]` (one message per POST,
//!   never batched; `[]` is its heartbeat), answer ignored.
//!
//! pusher-js never tells the server it is leaving (it aborts its request), so a
//! session without a receiving request for `http_fallback_idle_timeout` is
//! reaped. Each session is a connection task like a WebSocket's (see [`io`]):
//! the same socket id, protocol, limits, caps, metrics and drain.

mod io;
mod receive;
mod sessions;

pub use receive::Answer;
pub use sessions::Sessions;

use crate::capacity::Admission;
use crate::connection;
use crate::node::Node;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, ORIGIN};
use hyper::{Request, Response, StatusCode};
use receive::Receiver;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

/// A fallback request's path, parsed.
#[derive(Debug, PartialEq)]
pub(crate) struct Route {
    key: String,
    /// `{server}/{session}`, as pusher-js names it.
    session: String,
    kind: Kind,
}

#[derive(Debug, PartialEq, Clone, Copy)]
enum Kind {
    Streaming,
    Polling,
    Send,
}

impl Route {
    /// `{any prefix}/app/{key}/{server}/{session}/{xhr_streaming|xhr|xhr_send}`.
    pub(crate) fn parse(path: &str) -> Option<Route> {
        let mut parts = path.rsplit('/');
        let kind = match parts.next()? {
            "xhr_streaming" => Kind::Streaming,
            "xhr" => Kind::Polling,
            "xhr_send" => Kind::Send,
            _ => return None,
        };
        let (session, server, key) = (parts.next()?, parts.next()?, parts.next()?);
        let fine = |s: &str| {
            (1..=64).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        let ok = parts.next() == Some("app") && fine(session) && fine(server) && !key.is_empty();
        ok.then(|| Route {
            key: key.to_string(),
            session: format!("{server}/{session}"),
            kind,
        })
    }
}

/// Who asks, as the router knows them.
pub(crate) struct Caller {
    pub client: Option<IpAddr>,
    pub admission: Admission,
    /// The server's open fallback sessions.
    pub sessions: Arc<Sessions>,
}

/// Answer one fallback request.
pub(crate) async fn handle(
    req: Request<Incoming>,
    node: Arc<Node>,
    route: Route,
    caller: Caller,
) -> Response<Answer> {
    let origin = req.headers().get(ORIGIN).cloned();
    let mut response = match req.method().as_str() {
        "OPTIONS" => preflight(),
        "POST" if route.kind == Kind::Send => send(req, &node, &caller.sessions, &route).await,
        "POST" => receive(req, node, route, caller),
        _ => answer(StatusCode::METHOD_NOT_ALLOWED, ""),
    };
    cors(&mut response, origin);
    response
}

fn answer(status: StatusCode, body: &'static str) -> Response<Answer> {
    let mut r = Response::new(Answer::fixed(body));
    *r.status_mut() = status;
    r
}

/// pusher-js sends `Content-Type: application/json`, so a page on another
/// origin asks first.
fn preflight() -> Response<Answer> {
    let mut r = answer(StatusCode::NO_CONTENT, "");
    let h = r.headers_mut();
    h.insert(
        "access-control-allow-methods",
        HeaderValue::from_static("OPTIONS, POST"),
    );
    h.insert(
        "access-control-allow-headers",
        HeaderValue::from_static("Content-Type"),
    );
    h.insert(
        "access-control-max-age",
        HeaderValue::from_static("31536000"),
    );
    r
}

/// The page's origin may read the answer; the app's `allowed_origins` are
/// checked when the session opens, as for a WebSocket.
fn cors(r: &mut Response<Answer>, origin: Option<HeaderValue>) {
    let h = r.headers_mut();
    let origin = origin.unwrap_or(HeaderValue::from_static("*"));
    h.insert("access-control-allow-origin", origin);
    h.insert(
        "access-control-allow-credentials",
        HeaderValue::from_static("true"),
    );
    h.insert("cache-control", HeaderValue::from_static("no-store"));
}

/// `xhr_send`: a JSON array of messages, capped.
async fn send(
    req: Request<Incoming>,
    node: &Node,
    sessions: &Sessions,
    route: &Route,
) -> Response<Answer> {
    let Some(shared) = sessions.get(&route.key, &route.session) else {
        return answer(StatusCode::NOT_FOUND, "Session not found");
    };
    let cap = batch_cap(node.config.server.max_message_bytes);
    let body = match Limited::new(req.into_body(), cap).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => return answer(StatusCode::PAYLOAD_TOO_LARGE, "Payload too large"),
    };
    let Ok(messages) = serde_json::from_slice::<Vec<String>>(&body) else {
        return answer(StatusCode::BAD_REQUEST, "Broken JSON encoding.");
    };
    match shared.post(&messages) {
        Ok(()) => answer(StatusCode::NO_CONTENT, ""),
        Err(io::SendError::Gone) => answer(StatusCode::NOT_FOUND, "Session closed"),
        Err(io::SendError::Full) => answer(StatusCode::SERVICE_UNAVAILABLE, "Session busy"),
    }
}

/// The largest `xhr_send` body: a few messages of the largest size, escaped.
pub(crate) fn batch_cap(max_message_bytes: usize) -> usize {
    max_message_bytes
        .saturating_mul(4)
        .clamp(64 * 1024, 1 << 20)
}

/// `xhr_streaming` / `xhr`: attach to the session, opening it if it is new.
fn receive(
    req: Request<Incoming>,
    node: Arc<Node>,
    route: Route,
    caller: Caller,
) -> Response<Answer> {
    let polling = route.kind == Kind::Polling;
    let sessions = caller.sessions.clone();
    if node.is_draining() && sessions.get(&route.key, &route.session).is_none() {
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Server is closing");
    }
    let (shared, created) = sessions.open(&route.key, &route.session);
    if created && !start(&req, &node, &route, caller, polling, shared.clone()) {
        sessions.remove(&route.key, &route.session);
        return answer(StatusCode::SERVICE_UNAVAILABLE, "Over capacity");
    }
    let mut r = Response::new(Answer::Receive(Receiver::attach(shared, created, polling)));
    let h = r.headers_mut();
    h.insert(
        "content-type",
        HeaderValue::from_static("application/javascript; charset=UTF-8"),
    );
    // nginx would otherwise hold a streaming answer in its buffers.
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

/// Start a new session's connection task, counted under the node's caps like
/// a socket; false when the node has no descriptors left to promise.
fn start(
    req: &Request<Incoming>,
    node: &Arc<Node>,
    route: &Route,
    caller: Caller,
    polling: bool,
    shared: Arc<io::Shared>,
) -> bool {
    let Some(mut pass) = node.gate.enter(caller.client) else {
        return false;
    };
    if caller.admission != Admission::Admitted {
        pass.admission = caller.admission;
    }
    let origin = req.headers().get(ORIGIN).and_then(|v| v.to_str().ok());
    let upgrade = connection::Upgrade {
        key: route.key.clone(),
        origin: origin.map(str::to_string),
        pass: Some(pass),
        client: caller.client,
        // pusher-js's XHR requests carry no cookies across origins: no recovery.
        browser: None,
    };
    let idle = node.config.server.http_fallback_idle_timeout;
    let forget = forget(caller.sessions, route, idle);
    let name = if polling {
        "xhr_polling"
    } else {
        "xhr_streaming"
    };
    let io = io::Io::new(shared, idle, name, forget);
    tokio::spawn(connection::run(io, Vec::new(), node.clone(), upgrade));
    true
}

/// What to do when a session's task ends: forget the session at once, or,
/// when it closed with a code, after `idle`: until then every request for it
/// is answered with that `c[code,reason]` (a polling page is often between
/// two requests when its session closes).
fn forget(sessions: Arc<Sessions>, route: &Route, idle: Duration) -> Box<dyn FnOnce(bool) + Send> {
    let (key, session) = (route.key.clone(), route.session.clone());
    Box::new(move |linger| {
        let later = tokio::runtime::Handle::try_current()
            .ok()
            .filter(|_| linger);
        match later {
            Some(rt) => drop(rt.spawn(async move {
                tokio::time::sleep(idle).await;
                sessions.remove(&key, &session);
            })),
            None => sessions.remove(&key, &session),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_are_read_as_pusher_js_builds_them() {
        let r = Route::parse("/pusher/app/app-key/123/ab3f9c0d/xhr_streaming").unwrap();
        assert_eq!(
            (r.key.as_str(), r.session.as_str()),
            ("app-key", "123/ab3f9c0d")
        );
        assert_eq!(r.kind, Kind::Streaming);
        assert_eq!(Route::parse("/app/k/1/s/xhr").unwrap().kind, Kind::Polling);
        assert_eq!(
            Route::parse("/x/y/app/k/1/s/xhr_send").unwrap().kind,
            Kind::Send
        );
        for bad in [
            "/app/k",
            "/pusher/app/k/1/xhr",
            "/pusher/apps/k/1/s/xhr",
            "/pusher/app/k/1/s/websocket",
            "/pusher/app/k/1/s.x/xhr",
        ] {
            assert_eq!(Route::parse(bad), None, "{bad}");
        }
    }
}
