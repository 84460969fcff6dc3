//! The listener: accept, serve HTTP/1.1 (over TLS when configured) with
//! upgrades, route, and drain.

use crate::api;
use crate::capacity::{Admission, Pass};
use crate::fallback;
use crate::metrics;
use crate::node::Node;
use crate::tls::TlsAcceptor;
use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::{Body as _, Incoming};
use hyper::header::{HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use shards::Shards;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;

mod caller;
mod edge;
use edge::{fallback_route, serve_fallback, Edge};
mod jobs;
mod listen;
mod shards;
mod shutdown;
use shutdown::drain;
mod upgrade;

pub use listen::{bind, inherited, Listener, Origin};

use crate::capacity::deadline::{Clock, Deadline};
use caller::Caller;
use upgrade::{close_unless_upgraded, upgrade, wants_socket};

type Body = Full<Bytes>;

/// A client that has not finished its TLS handshake by then is dropped.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Serve (HTTPS and `wss://` when `tls` is given) until `shutdown` resolves,
/// then hand over and drain: the listener is closed first, so new connections
/// reach the process that takes over; then sockets are told to reconnect (4200),
/// spread over `reconnect_window`, and the call returns once they are gone or
/// the grace period after that window ends.
pub async fn run(
    listener: impl Into<Listener>,
    tls: Option<TlsAcceptor>,
    node: Arc<Node>,
    shutdown: impl Future<Output = ()>,
) {
    let listener = listener.into();
    tokio::pin!(shutdown);
    let weak = Arc::downgrade(&node);
    let timing = move || weak.upgrade().map(|n| crate::roster::timing(&n.config));
    let sweeper = tokio::spawn(crate::roster::sweep(Arc::downgrade(&node.roster), timing));
    let cutoff = crate::cutoff::after(&node)
        .map(|after| tokio::spawn(crate::cutoff::run(Arc::downgrade(&node), after)));
    crate::socket::home::register_current();
    tracing::info!(
        descriptors = crate::capacity::descriptors(),
        max_connections = node.gate.max(),
        per_address = node.config.server.guard.max_connections_per_ip,
        "connection capacity"
    );
    let worker = jobs::start(&node);
    let sessions = Arc::new(fallback::Sessions::default());
    let edge = Edge { tls, sessions };
    let mut shards = Shards::start(node.config.server.threads, edge.clone(), node.clone());
    loop {
        tokio::select! {
            accepted = listener.socket.accept() => match accepted {
                Ok((stream, peer)) => {
                    admit(stream, peer, &mut shards, &edge, &node);
                    tokio::task::yield_now().await;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
            _ = &mut shutdown => break,
        }
    }
    let origin = listener.origin;
    let queued = listen::close(listener);
    tracing::info!(?origin, queued = queued.len(), "stopped listening");
    for (stream, peer) in queued {
        admit(stream, peer, &mut shards, &edge, &node);
    }
    drain(&node, worker).await;
    drop(shards);
    sweeper.abort();
    cutoff.inspect(|c| c.abort());
}

/// Count an accepted connection against the caps and serve it on its shard.
fn admit(stream: TcpStream, peer: SocketAddr, shards: &mut Shards, edge: &Edge, node: &Arc<Node>) {
    // Behind a trusted proxy, the clients are counted per request instead.
    let proxied = node.config.server.guard.trusted_proxies.trusts(peer.ip());
    let Some(pass) = node.gate.enter((!proxied).then_some(peer.ip())) else {
        // Not even the reserve is left: close at once.
        crate::metrics::refused("node_capacity");
        return;
    };
    let _ = stream.set_nodelay(true);
    if let Some((stream, pass)) = shards.hand_off(stream, pass) {
        tokio::spawn(accept(stream, pass, edge.clone(), node.clone()));
    }
}

/// Serve one accepted connection, after its TLS handshake when TLS is on. The
/// handshake runs here, in the connection's own task, never in the accept loop.
async fn accept(stream: TcpStream, pass: Pass, edge: Edge, node: Arc<Node>) {
    let peer = stream.peer_addr().ok().map(|a| a.ip());
    let sessions = edge.sessions;
    let Some(tls) = edge.tls else {
        return serve_connection(stream, peer, pass, node, sessions).await;
    };
    match tokio::time::timeout(TLS_HANDSHAKE_TIMEOUT, tls.accept(stream)).await {
        Ok(Ok(stream)) => serve_connection(stream, peer, pass, node, sessions).await,
        Ok(Err(e)) => tracing::debug!(error = %e, "TLS handshake failed"),
        Err(_) => tracing::debug!("TLS handshake timed out"),
    }
}

async fn serve_connection<S>(
    stream: S,
    peer: Option<IpAddr>,
    pass: Pass,
    node: Arc<Node>,
    sessions: Arc<fallback::Sessions>,
) where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let idle = node.config.server.http_idle_timeout;
    let clock = Clock::new(node.config.server.guard.request_timeout);
    let stream = Deadline::new(stream, clock.clone());
    let admission = pass.admission;
    // Moved into the WebSocket's task on upgrade, else dropped with the connection.
    let pass = Arc::new(std::sync::Mutex::new(Some(pass)));
    let served = Arc::new(AtomicBool::new(false));
    let service = hyper::service::service_fn(move |req| {
        let (node, clock, pass) = (node.clone(), clock.clone(), pass.clone());
        let sessions = sessions.clone();
        let first = !served.swap(true, Ordering::Relaxed);
        async move {
            clock.head_read();
            let caller = Caller::new(&node, peer, &req, first, admission);
            if let Some(route) = fallback_route(&node, &req) {
                let response = serve_fallback(req, node, route, caller, sessions).await;
                clock.answered();
                return Ok(response.map(Either::Right));
            }
            let socket = wants_socket(&node, &req);
            let mut response = match caller.admission {
                Admission::Admitted => route(req, node.clone(), &clock, &pass, caller).await,
                _ => turn_away(req, node.clone(), &clock, &pass, caller).await,
            };
            if let Ok(r) = &mut response {
                close_unless_upgraded(r, &node, socket);
            }
            clock.answered();
            response.map(|r| r.map(Either::Left))
        }
    });
    // The header timer also closes idle keep-alive connections and clients that
    // connect and say nothing, which would otherwise hold a descriptor forever.
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.with_upgrades().await {
        tracing::debug!(error = %e, "http connection ended with an error");
    }
}

/// The connection's place in the node's caps, until an upgrade takes it along.
type Held = Arc<std::sync::Mutex<Option<Pass>>>;

/// A connection over a cap: upgrades are told 4100, signed API requests are
/// served when only the node is full (the reserve is theirs), the rest get 503;
/// the connection is closed after the answer.
async fn turn_away(
    req: Request<Incoming>,
    node: Arc<Node>,
    clock: &Arc<Clock>,
    held: &Held,
    caller: Caller,
) -> Result<Response<Body>, std::convert::Infallible> {
    let over = caller.admission;
    let (reason, message) = match over {
        Admission::OverAddress => (
            "address_capacity",
            "Too many connections from this address.",
        ),
        _ => (
            "node_capacity",
            "Over capacity: this server has no room for more connections.",
        ),
    };
    if crate::metrics::refused(reason) {
        tracing::info!(
            reason,
            client = ?caller.client,
            "connection over capacity (more this second are only counted)"
        );
    }
    let path = node
        .config
        .server
        .local_path(req.uri().path())
        .unwrap_or("");
    let mut response = if path.starts_with("/app/") {
        return route(req, node, clock, held, caller).await;
    } else if path.starts_with("/apps/") && over == Admission::OverNode {
        route(req, node, clock, held, caller).await?
    } else {
        let e = api::ApiError::new(503, message);
        json(StatusCode::SERVICE_UNAVAILABLE, e.body())
    };
    response
        .headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    Ok(response)
}

async fn route(
    req: Request<Incoming>,
    node: Arc<Node>,
    clock: &Arc<Clock>,
    held: &Held,
    caller: Caller,
) -> Result<Response<Body>, std::convert::Infallible> {
    let Some(path) = node.config.server.local_path(req.uri().path()) else {
        return Ok(text(StatusCode::NOT_FOUND, "Not found"));
    };
    let path = path.to_string();
    let clients = node.config.server.mode.serves_clients();
    let response = match (req.method().as_str(), path.as_str()) {
        ("GET", "/") => text(StatusCode::OK, "OK"),
        // `mode = "worker"`: health only, as Soketi's worker answers.
        (m, p) if !(clients || m == "GET" && p == "/ready") => {
            text(StatusCode::NOT_FOUND, "Not found")
        }
        ("GET", "/ready") | ("GET", "/accept-traffic") if !node.is_ready() => {
            text(StatusCode::SERVICE_UNAVAILABLE, "Draining")
        }
        ("GET", "/accept-traffic")
            if metrics::memory_percent()
                > node.config.server.raw.accept_traffic_memory_threshold =>
        {
            let e = api::ApiError::new(503, "Low on memory here. Choose another server. :)");
            json(StatusCode::SERVICE_UNAVAILABLE, e.body())
        }
        ("GET", "/ready") | ("GET", "/accept-traffic") => text(StatusCode::OK, "OK"),
        ("GET", "/up") => json(StatusCode::OK, r#"{"health":"OK"}"#.into()),
        ("GET", p) if p.starts_with("/app/") => {
            let key = p["/app/".len()..].to_string();
            upgrade(req, node, clock, held, caller, key)
        }
        (_, p) if p.starts_with("/apps/") => api_request(req, node, clock, p).await,
        _ => text(StatusCode::NOT_FOUND, "Not found"),
    };
    Ok(response)
}

fn text(status: StatusCode, body: &'static str) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *r.status_mut() = status;
    r
}

fn json(status: StatusCode, body: String) -> Response<Body> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

/// Read the body (capped before reading) and run the API handler.
async fn api_request(
    req: Request<Incoming>,
    node: Arc<Node>,
    clock: &Clock,
    path: &str,
) -> Response<Body> {
    let metrics = app_metrics(&node, path);
    let (response, received) = read_and_handle(req, &node, clock, path).await;
    if let Some(m) = metrics {
        let sent = response.body().size_hint().exact().unwrap_or(0) as usize;
        m.http_call(received, sent);
    }
    response
}

/// The counters of the app named in `/apps/{id}/...`, if it is configured.
fn app_metrics(node: &Node, path: &str) -> Option<Arc<metrics::AppMetrics>> {
    let id = path.strip_prefix("/apps/")?.split('/').next()?;
    let app = node.config.apps.by_id(id)?;
    Some(metrics::app(&app.raw.id, node.config.server.raw.port))
}

/// 408 for a body that did not arrive in time; the connection is closed after it.
fn timed_out(clock: &Clock) -> Response<Body> {
    if crate::metrics::refused("request_timeout") {
        tracing::info!(
            "request body not received in time: 408 (more this second are only counted)"
        );
    }
    let secs = clock.limit().as_secs();
    let e = api::ApiError::new(
        408,
        format!("The request was not received within {secs} s."),
    );
    let mut r = json(StatusCode::REQUEST_TIMEOUT, e.body());
    r.headers_mut()
        .insert(CONNECTION, HeaderValue::from_static("close"));
    r
}

/// Read the body (capped before reading) and run the API handler on the path
/// below the prefix, which is what clients sign. Also returns the bytes read.
async fn read_and_handle(
    req: Request<Incoming>,
    node: &Node,
    clock: &Clock,
    path: &str,
) -> (Response<Body>, usize) {
    let max = node.config.server.max_request_bytes;
    let too_large = || {
        let e = api::ApiError::new(
            413,
            format!("The request body is larger than {} KB.", max / 1024),
        );
        json(StatusCode::PAYLOAD_TOO_LARGE, e.body())
    };
    let declared = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
    if declared.is_some_and(|n| n > max) {
        return (too_large(), 0);
    }
    let (parts, body) = req.into_parts();
    let collect = Limited::new(body, max).collect();
    let body = match tokio::time::timeout_at(clock.deadline(), collect).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(_)) => return (too_large(), max),
        Err(_) => return (timed_out(clock), 0),
    };
    let request = api::Request {
        method: parts.method.as_str(),
        path,
        query: parts.uri.query().unwrap_or(""),
        body: &body,
    };
    let (mut response, headers) = match api::handle(node, &request).await {
        Ok(answer) => (json(StatusCode::OK, answer.body), answer.headers),
        Err(e) => {
            let status = StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST);
            (json(status, e.body()), e.headers)
        }
    };
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    (response, body.len())
}
