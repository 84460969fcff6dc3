//! The second listener (Soketi's port 9601): `GET /`, `/ready` and `/usage`
//! always, `/metrics` (Prometheus text) when metrics are enabled. Plain HTTP,
//! every route under the configured path prefix.

use crate::metrics;
use crate::node::Node;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Serve health, usage and metrics until the task is dropped.
pub async fn run(listener: TcpListener, node: Arc<Node>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                let node = node.clone();
                let idle = node.config.server.http_idle_timeout;
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req| {
                        let response = route(&req, &node);
                        async move { Ok::<_, std::convert::Infallible>(response) }
                    });
                    let conn = hyper::server::conn::http1::Builder::new()
                        .timer(hyper_util::rt::TokioTimer::new())
                        .header_read_timeout(idle)
                        .serve_connection(TokioIo::new(stream), service);
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "metrics connection ended with an error");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "metrics accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

fn route(req: &Request<Incoming>, node: &Node) -> Response<Full<Bytes>> {
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
        Some("/metrics") if server.metrics.enabled => reply(
            StatusCode::OK,
            "text/plain; version=0.0.4; charset=utf-8",
            metrics::render(&server.metrics.prefix, server.port),
        ),
        _ => reply(StatusCode::NOT_FOUND, "text/plain", "Not found".into()),
    }
}

fn reply(status: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
