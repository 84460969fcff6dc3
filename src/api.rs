//! The HTTP API (`/apps/{id}/...`): signature check, limits, publishing and
//! channel queries, with errors mapped to real statuses and JSON bodies.

mod events;
mod history;
mod query;

use crate::adapter::AdapterError;
use crate::auth::{RequestError, SignedRequest};
use crate::channel::registry::AppState;
use crate::channel::{ChannelType, Kind};
use crate::node::Node;
use crate::rate::{Api, Usage};
use crate::tap::{self, Event as TapEvent};
use serde_json::{json, Map, Value};
use std::sync::Arc;

pub use query::parse_query;

/// An API failure: status and the message put in `{"error": ...}`.
#[derive(Debug, PartialEq, thiserror::Error)]
#[error("{status}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub message: String,
    /// Extra response headers (the rate-limit ones on 429).
    pub headers: Vec<(&'static str, String)>,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn body(&self) -> String {
        json!({ "error": self.message, "code": self.status }).to_string()
    }
}

impl From<AdapterError> for ApiError {
    fn from(e: AdapterError) -> ApiError {
        ApiError::new(503, e.to_string())
    }
}

impl From<RequestError> for ApiError {
    fn from(e: RequestError) -> ApiError {
        ApiError::new(401, e.to_string())
    }
}

/// A request for `/apps/...`, with the body already read.
pub struct Request<'a> {
    pub method: &'a str,
    /// Path without any configured prefix; this is what clients sign.
    pub path: &'a str,
    pub query: &'a str,
    pub body: &'a [u8],
}

/// A 200 answer: the JSON body and extra headers.
#[derive(Debug, PartialEq)]
pub struct Answer {
    pub body: String,
    pub headers: Vec<(&'static str, String)>,
}

/// Route and answer an API request.
pub async fn handle(node: &Node, req: &Request<'_>) -> Result<Answer, ApiError> {
    let segments: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
    let ["apps", app_id, rest @ ..] = segments.as_slice() else {
        return Err(ApiError::new(404, "Not found"));
    };
    let Some(app) = node.app_by_id(app_id) else {
        crate::metrics::refused("unknown_app");
        return Err(ApiError::new(
            404,
            format!("The app {app_id} could not be found."),
        ));
    };
    let answer = answer(node, &app, req, rest).await;
    if let Err(e) = &answer {
        app.tap.emit(|| refusal(req, e));
    }
    answer
}

/// The console's record of a refused API request; a bad signature shows the
/// string the server signed and the signature that came.
fn refusal(req: &Request<'_>, e: &ApiError) -> TapEvent {
    let query = parse_query(req.query);
    let signed = SignedRequest {
        method: req.method,
        path: req.path,
        query: &query,
        body: req.body,
    };
    let received = query.iter().find(|(k, _)| k == "auth_signature");
    TapEvent::Refusal(tap::Refusal {
        stage: tap::Stage::Api,
        socket: None,
        channel: None,
        event: Some(format!("{} {}", req.method, req.path)),
        reason: e.message.clone(),
        code: Some(e.status),
        signed: (e.status == 401).then(|| tap::Signed {
            expected: signed.string_to_sign(),
            received: received.map(|(_, v)| v.clone()).unwrap_or_default(),
        }),
    })
}

/// Answer a request for a known app.
/// The request's signature checked against the app's secret within the
/// timestamp window; a refusal is logged (at info at most once a second).
fn verify(
    node: &Node,
    app: &AppState,
    req: &Request<'_>,
    query: &[(String, String)],
) -> Result<(), ApiError> {
    let signed = SignedRequest {
        method: req.method,
        path: req.path,
        query,
        body: req.body,
    };
    let window = node.config.server.timestamp_window.as_secs();
    let (key, secret) = (&app.app().raw.key, &app.app().raw.secret);
    let Err(e) = signed.verify(key, secret, Node::now_secs(), window) else {
        return Ok(());
    };
    let app_id = app.app().raw.id.clone();
    match crate::metrics::refused("bad_signature") {
        true => {
            tracing::info!(app_id, error = %e, "API request refused (more this second are only counted)")
        }
        false => tracing::debug!(app_id, error = %e, "API request refused"),
    }
    Err(e.into())
}

async fn answer(
    node: &Node,
    app: &Arc<AppState>,
    req: &Request<'_>,
    rest: &[&str],
) -> Result<Answer, ApiError> {
    let query = parse_query(req.query);
    verify(node, app, req, &query)?;
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let usage = rate_limit(node, app, req.method, rest, req.body).await?;
    let value = match (req.method, rest) {
        ("POST", ["events"]) => events::publish(node, app, req.body).await?,
        ("POST", ["batch_events"]) => events::publish_batch(node, app, req.body).await?,
        ("GET", ["channels"]) => {
            channels(
                node,
                app,
                param("filter_by_prefix").unwrap_or(""),
                param("info"),
            )
            .await?
        }
        ("GET", ["channels", name]) => {
            channel(node, app, &query::decode(name), param("info")).await?
        }
        ("GET", ["channels", name, "users"]) => users(node, app, &query::decode(name)).await?,
        ("GET", ["channels", name, "events"]) => history::events(app, &query::decode(name))?,
        ("POST", ["users", user, "terminate_connections"]) => {
            node.adapter.terminate_user(app, &query::decode(user));
            json!({})
        }
        _ => return Err(ApiError::new(404, "Not found")),
    };
    Ok(Answer {
        body: value.to_string(),
        headers: usage.map(|u| u.headers()).unwrap_or_default(),
    })
}

/// Soketi's per-app limits: events cost one point per channel, channel queries
/// one point each; cluster-wide with the Redis adapter. `Ok(None)` when the
/// route is not limited or the limit is off.
async fn rate_limit(
    node: &Node,
    app: &AppState,
    method: &str,
    rest: &[&str],
    body: &[u8],
) -> Result<Option<Usage>, ApiError> {
    let limits = &app.app().limits;
    let (api, limit, points) = match (method, rest) {
        ("POST", ["events"]) => (
            Api::Events,
            limits.max_backend_events_per_sec,
            events::points(body, false),
        ),
        ("POST", ["batch_events"]) => (
            Api::Events,
            limits.max_backend_events_per_sec,
            events::points(body, true),
        ),
        ("GET", ["channels", ..]) => (Api::Reads, limits.max_read_req_per_sec, 1),
        _ => return Ok(None),
    };
    match node.adapter.take_budget(app, api, limit, points).await? {
        None => Ok(None),
        Some(Ok(usage)) => Ok(Some(usage)),
        Some(Err(usage)) => {
            tracing::info!(app_id = %app.app().raw.id, "API request over the rate limit");
            let mut e = ApiError::new(429, "Too many requests.");
            e.headers = usage.headers();
            Err(e)
        }
    }
}

/// Which `info` attributes were asked for.
pub(crate) fn wants(info: Option<&str>, attribute: &str) -> bool {
    info.is_some_and(|i| i.split(',').any(|a| a.trim() == attribute))
}

async fn channels(
    node: &Node,
    app: &Arc<AppState>,
    prefix: &str,
    info: Option<&str>,
) -> Result<Value, ApiError> {
    let user_count = wants(info, "user_count");
    if user_count && !prefix.starts_with("presence-") {
        let msg = "user_count may only be requested with filter_by_prefix=presence-";
        return Err(ApiError::new(400, msg));
    }
    let mut out = Map::new();
    for (name, counts) in node.adapter.channels(app, prefix).await? {
        let mut entry = Map::new();
        if user_count {
            entry.insert("user_count".into(), counts.users.into());
        }
        if wants(info, "subscription_count") {
            entry.insert("subscription_count".into(), counts.subscriptions.into());
        }
        out.insert(name, Value::Object(entry));
    }
    Ok(json!({ "channels": out }))
}

async fn channel(
    node: &Node,
    app: &Arc<AppState>,
    name: &str,
    info: Option<&str>,
) -> Result<Value, ApiError> {
    let ctype = ChannelType::of(name);
    let presence = ctype.kind == Kind::Presence;
    if wants(info, "user_count") && !presence {
        return Err(ApiError::new(
            400,
            "user_count is only available on presence channels",
        ));
    }
    if wants(info, "cache") && !ctype.cache {
        return Err(ApiError::new(
            400,
            "cache is only available on cache channels",
        ));
    }
    let counts = node.adapter.counts(app, name).await?;
    let mut out = Map::new();
    out.insert("occupied".into(), counts.is_some().into());
    let counts = counts.unwrap_or(crate::channel::registry::Counts {
        subscriptions: 0,
        users: 0,
    });
    if wants(info, "user_count") {
        out.insert("user_count".into(), counts.users.into());
    }
    if wants(info, "subscription_count") {
        out.insert("subscription_count".into(), counts.subscriptions.into());
    }
    if wants(info, "cache") {
        let cache = node
            .adapter
            .cache_get(app, name)
            .await
            .map(|(_, data, ttl)| {
                let data: Value = serde_json::from_str(&data).unwrap_or(Value::Null);
                json!({ "data": data, "ttl": ttl.as_secs() })
            });
        out.insert("cache".into(), cache.unwrap_or(Value::Null));
    }
    Ok(Value::Object(out))
}

async fn users(node: &Node, app: &Arc<AppState>, name: &str) -> Result<Value, ApiError> {
    if ChannelType::of(name).kind != Kind::Presence {
        return Err(ApiError::new(
            400,
            "The channel must be a presence channel.",
        ));
    }
    let users: Vec<Value> = node
        .adapter
        .members(app, name)
        .await?
        .into_iter()
        .map(|m| json!({ "id": serde_json::from_str::<Value>(&m.id_json).unwrap_or(Value::String(m.id)) }))
        .collect();
    Ok(json!({ "users": users }))
}
