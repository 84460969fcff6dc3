//! The second listener (Soketi's port 9601): `GET /`, `/ready` and `/usage`
//! always, `/metrics` (Prometheus text) when metrics are enabled, the debug
//! console (`/console`, see [`console`](crate::console)) when it is enabled.
//! Plain HTTP, every route under the configured path prefix.

use crate::capacity::deadline::{Clock, Deadline};
use crate::capacity::{Slot, Slots};
use crate::console::{self, Body, Console};
use crate::metrics;
use crate::node::Node;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream as TokioStream};

/// Serve health, usage and metrics until the task is dropped. At most
/// `metrics_max_connections` connections are open at once (past that a new
/// one is closed at once), and each request must arrive and be answered
/// within `http_request_timeout` (408), as on the main port.
pub async fn run(listener: TcpListener, node: Arc<Node>) {
    let console = Console::start(&node);
    let slots = Slots::new(node.config.server.raw.metrics_max_connections);
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let Some(slot) = slots.take() else {
                    if metrics::refused("metrics_capacity") {
                        tracing::info!("metrics port full: connection closed (more this second are only counted)");
                    }
                    continue;
                };
                tokio::spawn(serve(stream, slot, node.clone(), console.clone()));
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Serve one connection while it holds its `slot`.
async fn serve(stream: TokioStream, slot: Slot, node: Arc<Node>, console: Option<Arc<Console>>) {
    let idle = node.config.server.http_idle_timeout;
    let clock = Clock::new(node.config.server.guard.request_timeout);
    let stream = Deadline::new(stream, clock.clone());
    let service = hyper::service::service_fn(move |req| {
        let (node, console, clock) = (node.clone(), console.clone(), clock.clone());
        async move {
            clock.head_read();
            let answer = tokio::time::timeout_at(clock.deadline(), respond(req, &node, console));
            let response = answer.await.unwrap_or_else(|_| timed_out());
            clock.answered();
            Ok::<_, std::convert::Infallible>(response)
        }
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(idle)
        .serve_connection(TokioIo::new(stream), service);
    if let Err(e) = conn.await {
        tracing::debug!(error = %e, "metrics connection ended with an error");
    }
    drop(slot);
}

/// 408 for a request not read and answered in time; the connection closes after it.
fn timed_out() -> Response<Body> {
    if metrics::refused("request_timeout") {
        tracing::info!(
            "metrics request not answered in time: 408 (more this second are only counted)"
        );
    }
    let mut r = reply(
        StatusCode::REQUEST_TIMEOUT,
        "text/plain",
        "Request Timeout".into(),
    );
    r.headers_mut().insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    r
}

/// The console's routes when it is on, the health routes otherwise.
async fn respond(
    req: Request<Incoming>,
    node: &Node,
    console: Option<Arc<Console>>,
) -> Response<Body> {
    let path = node
        .config
        .server
        .local_path(req.uri().path())
        .map(str::to_string);
    match (console, path) {
        (Some(c), Some(path)) if Console::owns(&path) => c.serve(req, &path).await,
        _ => route(&req, node),
    }
}

fn route(req: &Request<Incoming>, node: &Node) -> Response<Body> {
    let server = &node.config.server;
    let path = server.local_path(req.uri().path());
    if req.method() != hyper::Method::GET {
        return reply(StatusCode::NOT_FOUND, "text/plain", "Not found".into());
    }
    match path {
        Some("/") => reply(StatusCode::OK, "text/plain", "OK".into()),
        Some("/ready") if node.is_ready() => reply(StatusCode::OK, "text/plain", "OK".into()),
        Some("/ready") => reply(
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "Draining".into(),
        ),
        Some("/usage") => reply(StatusCode::OK, "application/json", metrics::usage_json()),
        Some("/metrics") if server.raw.metrics_enabled => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(&server.raw.metrics_prefix, server.raw.port),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "Not found".into()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Body> {
    console::whole(status, content_type, body)
}

/// Why `herald health` found the node not ready.
#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("cannot reach {addr}")]
    Unreachable {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("http://{addr}{path} answered {status:?}")]
    NotReady {
        addr: SocketAddr,
        path: String,
        status: String,
    },
}

/// `GET path` on a node's health listener (the container HEALTHCHECK, with no curl in the
/// image): `Ok` on a 200 answer, else why not (503 while draining, refused while starting).
pub fn probe(addr: SocketAddr, path: &str, timeout: Duration) -> Result<(), ProbeError> {
    let unreachable = |source| ProbeError::Unreachable { addr, source };
    let mut stream = TcpStream::connect_timeout(&addr, timeout).map_err(unreachable)?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(unreachable)?;
    stream
        .set_write_timeout(Some(timeout))
        .map_err(unreachable)?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).map_err(unreachable)?;
    let mut answer = Vec::new();
    stream
        .take(4096)
        .read_to_end(&mut answer)
        .map_err(unreachable)?;
    let text = String::from_utf8_lossy(&answer);
    let status = text.lines().next().unwrap_or_default();
    match status.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        _ => Err(ProbeError::NotReady {
            addr,
            path: path.to_string(),
            status: status.to_string(),
        }),
    }
}
