//! One webhook request: plain HTTP/1.1 POST through hyper's client, retried with
//! exponential back-off on network errors and non-2xx answers until the request
//! is `retry_for` old (Pusher retries for 5 minutes).

use crate::auth;
use crate::config::webhooks::Webhook;
use crate::config::{App, WebhookSettings};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A signed request ready to be sent (and re-sent).
#[derive(Debug)]
pub struct Request {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Request {
    /// Custom headers first; `Content-Type` and the `X-Pusher-*` headers replace
    /// any custom header of the same name.
    pub fn new(hook: &Webhook, app: &App, body: String) -> Request {
        let mut headers: Vec<(HeaderName, HeaderValue)> = hook
            .headers
            .iter()
            .filter_map(|(k, v)| {
                Some((
                    HeaderName::try_from(k.as_str()).ok()?,
                    HeaderValue::try_from(v.as_str()).ok()?,
                ))
            })
            .collect();
        let signature = auth::sign(&app.secret, &body);
        let fixed = [
            (CONTENT_TYPE, "application/json".to_string()),
            (USER_AGENT, format!("herald/{}", env!("CARGO_PKG_VERSION"))),
            (HeaderName::from_static("x-pusher-key"), app.key.clone()),
            (HeaderName::from_static("x-pusher-signature"), signature),
        ];
        for (name, value) in fixed {
            headers.retain(|(n, _)| *n != name);
            if let Ok(v) = HeaderValue::try_from(value) {
                headers.push((name, v));
            }
        }
        Request {
            url: hook.url.clone(),
            headers,
            body: Bytes::from(body),
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("bad webhook url {0}")]
    Url(String),
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("answered {0}")]
    Status(u16),
    #[error("timed out")]
    Timeout,
}

/// Send until a 2xx answer or until retrying is over; true when delivered.
pub async fn post(req: &Request, settings: &WebhookSettings) -> bool {
    let started = Instant::now();
    let mut wait = settings.retry_initial;
    loop {
        let result = match tokio::time::timeout(settings.timeout, post_once(req)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout),
        };
        match result {
            Ok(()) => return true,
            Err(e @ SendError::Url(_)) => {
                tracing::warn!(url = %req.url, error = %e, "webhook not sent");
                return false;
            }
            Err(e) if started.elapsed() + wait > settings.retry_for => {
                tracing::warn!(url = %req.url, error = %e, "webhook failed; giving up");
                return false;
            }
            Err(e) => {
                tracing::info!(url = %req.url, error = %e, retry_in = ?wait, "webhook failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn post_once(req: &Request) -> Result<(), SendError> {
    let (authority, path) = split_url(&req.url).ok_or_else(|| SendError::Url(req.url.clone()))?;
    let addr = if authority.contains(':') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let stream = TcpStream::connect(addr).await?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let mut builder = hyper::Request::post(path).header(HOST, authority);
    for (name, value) in &req.headers {
        builder = builder.header(name, value);
    }
    let request = builder
        .body(Full::new(req.body.clone()))
        .map_err(|_| SendError::Url(req.url.clone()))?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    // Read the answer so the connection closes cleanly; its content does not matter.
    let _ = response.into_body().collect().await;
    if status.is_success() {
        Ok(())
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

/// `http://host:port/path?q` -> (`host:port`, `/path?q`).
fn split_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("http://")?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    (!authority.is_empty()).then_some((authority, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_authority_and_path() {
        assert_eq!(
            split_url("http://hooks:8080/a?b=1"),
            Some(("hooks:8080", "/a?b=1"))
        );
        assert_eq!(split_url("http://hooks"), Some(("hooks", "/")));
        assert_eq!(split_url("https://hooks/"), None);
        assert_eq!(split_url("http:///x"), None);
    }

    #[test]
    fn custom_headers_cannot_replace_the_signed_ones() {
        let hook = Webhook {
            url: "http://x/".into(),
            event_types: vec![],
            filter: Default::default(),
            headers: vec![
                ("X-Pusher-Key".into(), "evil".into()),
                ("content-type".into(), "text/plain".into()),
                ("X-Extra".into(), "1".into()),
            ],
        };
        let app = App {
            id: "1".into(),
            key: "key".into(),
            secret: "secret".into(),
            enabled: true,
            enable_client_messages: false,
            enable_user_authentication: false,
            max_connections: None,
            limits: Default::default(),
            webhooks: vec![],
            allowed_origins: vec![],
        };
        let req = Request::new(&hook, &app, r#"{"hello":"world"}"#.into());
        let get = |n: &str| {
            let all: Vec<_> = req.headers.iter().filter(|(k, _)| k == n).collect();
            assert_eq!(all.len(), 1, "{n}");
            all[0].1.to_str().unwrap().to_string()
        };
        assert_eq!(get("x-pusher-key"), "key");
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(get("x-extra"), "1");
        // Pusher's published test vector.
        assert_eq!(
            get("x-pusher-signature"),
            "2677ad3e7c090b2fa2c0fb13020d66d5420879b8316eb356a2d60fb9073bc778"
        );
    }
}
