//! The debug console: one live page per app on the metrics port, showing what
//! herald sees of that app (connections, channels, and a stream of every
//! publish, client event, subscription, member, webhook and refusal).
//!
//! # Contract (other tools and tests rely on it)
//!
//! - Off by default; on with `[console] enabled = true` (and `token = "..."`),
//!   `HERALD_CONSOLE=true` / `HERALD_CONSOLE_TOKEN`, or `--console`. Without a
//!   token the node makes one up at start and logs it.
//! - Served on the metrics port (9601, `SOKETI_METRICS_SERVER_PORT`), under the
//!   path prefix: `GET /console` lists the apps, `GET /console/{app_id}` is the
//!   page, `GET /console/{app_id}/stream` the Server-Sent Events stream (optional
//!   filters `channel`, `event` (contained), `socket`), `GET /console/{app_id}/state`
//!   the live counts (JSON), `POST /console/{app_id}/publish` publishes a test
//!   event (`{"channel","event","data","socket_id"}`, signed and published inside
//!   the node like an HTTP API call).
//! - Every route needs the token, as `?token=` or `Authorization: Bearer`; the
//!   page keeps using the one it was opened with. Wrong or missing: 401.
//! - On the page each stream row is an element with `data-kind` (`refusal`,
//!   `publish`, `client-event`, `subscribe`, `unsubscribe`, `member-added`,
//!   `member-removed`, `connect`, `disconnect`, `webhook`), `data-channel`,
//!   `data-event`, `data-socket`, and for refusals `data-reason`.
//! - Each SSE `data:` line is one [`tap::Record`](crate::tap::Record) as JSON;
//!   `event: dropped` carries `{"dropped": n}` once this stream's queue overflowed.
//!
//! # Cost
//! While nobody watches an app, each event site reads one atomic and moves on
//! (see [`tap`](crate::tap)). A watcher gets a bounded queue (`[console] queue`);
//! when it is full, records are dropped and counted (`console_dropped_total`).
//! With the Redis adapter, [`relay`] carries watched apps' records between the
//! nodes whose console is enabled, so any node's console shows the whole cluster.

mod page;
mod relay;
mod stream;

use crate::api;
use crate::auth;
use crate::channel::registry::AppState;
use crate::node::Node;
use crate::tap::Filter;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;
use serde_json::json;
use std::convert::Infallible;
use std::sync::Arc;

/// A response body of the metrics port: whole, or a stream.
pub(crate) type Body = BoxBody<Bytes, Infallible>;

/// The largest test-event form accepted.
const MAX_FORM_BYTES: usize = 256 * 1024;

/// The console of one node.
pub(crate) struct Console {
    node: Arc<Node>,
    token: String,
    label: String,
}

impl Console {
    /// The console if the config enables it; starts the cluster relay when
    /// the node is part of a Redis cluster. Must run inside a tokio runtime.
    pub(crate) fn start(node: &Arc<Node>) -> Option<Arc<Console>> {
        let settings = &node.config.server.console;
        if !settings.enabled {
            return None;
        }
        let token = settings.token.clone().unwrap_or_else(|| {
            let made_up = made_up_token();
            tracing::warn!(token = %made_up, "console token not configured (HERALD_CONSOLE_TOKEN): using this one for this run");
            made_up
        });
        let label = node.label();
        if let Some(cluster) = &node.config.server.cluster {
            tokio::spawn(relay::run(node.clone(), cluster.clone(), label.clone()));
        }
        let port = node.config.server.raw.metrics_port;
        tracing::info!(port, node = %label, "debug console at /console on the metrics port");
        Some(Arc::new(Console {
            node: node.clone(),
            token,
            label,
        }))
    }

    /// Whether a path (without the prefix) is the console's.
    pub(crate) fn owns(path: &str) -> bool {
        path == "/console" || path.starts_with("/console/")
    }

    /// Answer a console request; `path` is without the configured prefix.
    pub(crate) async fn serve(&self, req: Request<Incoming>, path: &str) -> Response<Body> {
        if !self.authorized(&req) {
            tracing::debug!(path, "console request without a valid token");
            return text(
                StatusCode::UNAUTHORIZED,
                "A console token is required: add ?token=...",
            );
        }
        let rest = path.trim_start_matches("/console").trim_matches('/');
        let parts: Vec<&str> = rest.split('/').filter(|p| !p.is_empty()).collect();
        let method = req.method().clone();
        match (&method, parts.as_slice()) {
            (&Method::GET, []) => self.index(),
            (&Method::GET, [app]) => self.with_app(app, |a| self.page(a)),
            (&Method::GET, [app, "stream"]) => {
                let filter = filter(req.uri().query().unwrap_or(""));
                self.with_app(app, |a| self.stream(a, filter))
            }
            (&Method::GET, [app, "state"]) => match self.node.app_by_id(app) {
                Some(a) => self.state(&a).await,
                None => unknown_app(app),
            },
            (&Method::POST, [app, "publish"]) => match self.node.app_by_id(app) {
                Some(a) => self.publish(&a, req).await,
                None => unknown_app(app),
            },
            _ => text(StatusCode::NOT_FOUND, "Not found"),
        }
    }

    /// The token from `?token=` or `Authorization: Bearer`, compared in constant time.
    fn authorized(&self, req: &Request<Incoming>) -> bool {
        let from_query = req.uri().query().and_then(|q| {
            form_urlencoded::parse(q.as_bytes())
                .find(|(k, _)| k == "token")
                .map(|(_, v)| v.into_owned())
        });
        let from_header = req
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(|v| v.trim().to_string());
        [from_query, from_header]
            .into_iter()
            .flatten()
            .any(|t| auth::constant_time_eq(t.as_bytes(), self.token.as_bytes()))
    }

    fn with_app(
        &self,
        id: &str,
        f: impl FnOnce(&Arc<AppState>) -> Response<Body>,
    ) -> Response<Body> {
        match self.node.app_by_id(id) {
            Some(app) => f(&app),
            None => unknown_app(id),
        }
    }

    fn index(&self) -> Response<Body> {
        let mut ids: Vec<String> = self
            .node
            .config
            .apps
            .iter()
            .map(|a| a.raw.id.clone())
            .collect();
        ids.sort();
        html(page::index(&self.base(), &ids))
    }

    fn page(&self, app: &AppState) -> Response<Body> {
        html(page::app(&self.base(), &app.app().raw.id, &self.label))
    }

    /// `/console` under the configured path prefix.
    fn base(&self) -> String {
        format!("{}/console", self.node.config.server.path_prefix)
    }

    fn stream(&self, app: &Arc<AppState>, filter: Filter) -> Response<Body> {
        let queue = self.node.config.server.console.queue;
        let watch = app.tap.watch(filter, queue);
        let metrics = crate::metrics::app(&app.app().raw.id, self.node.config.server.raw.port);
        tracing::info!(app_id = %app.app().raw.id, "console watching");
        let mut r = Response::new(stream::body(watch, self.label.clone(), metrics));
        let headers = r.headers_mut();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
        r
    }

    /// Connections and occupied channels, cluster-wide where the adapter knows.
    async fn state(&self, app: &AppState) -> Response<Body> {
        let id = app.app().raw.id.clone();
        let elsewhere = self.node.adapter.remote_connections(&id);
        let channels = match self.node.adapter.channels(app, "").await {
            Ok(list) => list,
            Err(e) => {
                return json_reply(
                    StatusCode::SERVICE_UNAVAILABLE,
                    json!({"error": e.to_string()}),
                )
            }
        };
        let channels: Vec<_> = channels
            .iter()
            .map(|(name, c)| json!({"name": name, "subscriptions": c.subscriptions, "users": c.users}))
            .collect();
        json_reply(
            StatusCode::OK,
            json!({
                "app": id,
                "node": self.label,
                "connections": app.connection_count() + elsewhere,
                "here": app.connection_count(),
                "watchers": app.tap.local_watchers(),
                "dropped": app.tap.dropped(),
                "channels": channels,
            }),
        )
    }

    /// Publish a test event as the app's backend would: signed, then through
    /// the HTTP API's own checks and delivery.
    async fn publish(&self, app: &AppState, req: Request<Incoming>) -> Response<Body> {
        let body = match Limited::new(req.into_body(), MAX_FORM_BYTES)
            .collect()
            .await
        {
            Ok(b) => b.to_bytes(),
            Err(_) => {
                return json_reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"error": "form too large"}),
                )
            }
        };
        let form: TestEvent = match serde_json::from_slice(&body) {
            Ok(f) => f,
            Err(e) => return json_reply(StatusCode::BAD_REQUEST, json!({"error": e.to_string()})),
        };
        let config = app.app();
        let event = form.body();
        let path = format!("/apps/{}/events", config.raw.id);
        let query = signed_query(&path, &event, &config.raw.key, &config.raw.secret);
        let request = api::Request {
            method: "POST",
            path: &path,
            query: &query,
            body: event.as_bytes(),
        };
        match api::handle(&self.node, &request).await {
            Ok(answer) => json_reply(StatusCode::OK, json!({"ok": true, "answer": answer.body})),
            Err(e) => json_reply(
                StatusCode::from_u16(e.status).unwrap_or(StatusCode::BAD_REQUEST),
                json!({"ok": false, "error": e.message}),
            ),
        }
    }
}

/// The page's test-event form.
#[derive(Deserialize)]
struct TestEvent {
    channel: String,
    event: String,
    #[serde(default)]
    data: String,
    #[serde(default)]
    socket_id: String,
}

impl TestEvent {
    /// The `POST /events` body.
    fn body(&self) -> String {
        let mut v = json!({"name": self.event, "channel": self.channel, "data": self.data});
        if !self.socket_id.is_empty() {
            v["socket_id"] = self.socket_id.clone().into();
        }
        v.to_string()
    }
}

/// The query of a signed `POST`, as a Pusher server SDK writes it.
fn signed_query(path: &str, body: &str, key: &str, secret: &str) -> String {
    let mut params = vec![
        ("auth_key".to_string(), key.to_string()),
        ("auth_timestamp".to_string(), Node::now_secs().to_string()),
        ("auth_version".to_string(), "1.0".to_string()),
        ("body_md5".to_string(), auth::md5_hex(body.as_bytes())),
    ];
    let to_sign = auth::SignedRequest {
        method: "POST",
        path,
        query: &params,
        body: body.as_bytes(),
    }
    .string_to_sign();
    params.push(("auth_signature".to_string(), auth::sign(secret, &to_sign)));
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(params)
        .finish()
}

fn filter(query: &str) -> Filter {
    let mut f = Filter::default();
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        let v = Some(v.into_owned()).filter(|v| !v.is_empty());
        match k.as_ref() {
            "channel" => f.channel = v,
            "event" => f.event = v,
            "socket" => f.socket = v,
            _ => {}
        }
    }
    f
}

/// A random token for a run without a configured one.
fn made_up_token() -> String {
    use std::hash::{BuildHasher, Hasher};
    let part = || {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u128(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos()),
        );
        format!("{:016x}", h.finish())
    };
    format!("{}{}", part(), part())
}

fn unknown_app(id: &str) -> Response<Body> {
    text(StatusCode::NOT_FOUND, &format!("No app with id {id:?}"))
}

/// A whole body for the metrics port.
pub(crate) fn whole(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Bytes>,
) -> Response<Body> {
    let mut r = Response::new(Full::new(body.into()).boxed());
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

fn text(status: StatusCode, body: &str) -> Response<Body> {
    whole(status, "text/plain; charset=utf-8", body.to_string())
}

fn html(body: String) -> Response<Body> {
    let mut r = whole(StatusCode::OK, "text/html; charset=utf-8", body);
    let headers = r.headers_mut();
    headers.insert("referrer-policy", HeaderValue::from_static("no-referrer"));
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn json_reply(status: StatusCode, v: serde_json::Value) -> Response<Body> {
    whole(status, "application/json", v.to_string())
}
