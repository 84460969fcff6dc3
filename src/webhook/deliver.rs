//! One webhook request: an HTTP/1.1 POST through hyper's client, over rustls for
//! `https://` URLs, retried with exponential back-off on network errors and
//! non-2xx answers until the request is `retry_for` old (Pusher retries for 5
//! minutes). Each attempt opens its own connection, and is signed and
//! addressed per the app as it is then (a [`Letter`]).

use super::queue::Job;
use super::Lookup;
use crate::auth;
use crate::config::webhooks::Webhook;
use crate::config::{App, WebhookSettings};
use crate::tap::{Event as TapEvent, Tap};
use crate::tls::TlsConnector;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE, HOST, USER_AGENT};
use rustls_pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::time::Instant;

/// Longest wait between two attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(60);

/// A signed request ready to be sent (and re-sent).
#[derive(Debug)]
pub(crate) struct Request {
    url: String,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl Request {
    /// Custom headers first; `Content-Type` and the `X-Pusher-*` headers replace
    /// any custom header of the same name.
    pub(crate) fn new(hook: &Webhook, app: &App, body: &str) -> Request {
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
        let signature = auth::sign(&app.raw.secret, body);
        let fixed = [
            (CONTENT_TYPE, "application/json".to_string()),
            (USER_AGENT, format!("herald/{}", env!("CARGO_PKG_VERSION"))),
            (HeaderName::from_static("x-pusher-key"), app.raw.key.clone()),
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
            body: Bytes::copy_from_slice(body.as_bytes()),
        }
    }
}

/// A body for one webhook (by URL) of one app (by id), to be signed and
/// addressed per the app as it is at each attempt: a rotated secret signs the
/// next attempt, changed headers are sent, and a webhook or app removed
/// meanwhile gets no further attempt.
pub(crate) struct Letter {
    apps: Lookup,
    job: Job,
}

impl Letter {
    pub(crate) fn new(apps: Lookup, job: Job) -> Letter {
        Letter { apps, job }
    }

    /// The request as the app is now, or `None` (logged) if the app or the webhook is gone.
    fn request(&self) -> Option<Request> {
        let job = &self.job;
        let Some(app) = (self.apps)(&job.app) else {
            tracing::info!(app_id = %job.app, "webhook dropped: the app no longer exists");
            return None;
        };
        let Some(hook) = app.webhooks.iter().find(|h| h.url == job.url) else {
            tracing::info!(app_id = %job.app, url = %crate::config::url_without_password(&job.url), "webhook dropped: the app no longer has this webhook");
            return None;
        };
        Some(Request::new(hook, &app, &job.body))
    }
}

/// How a [`Letter`] ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Outcome {
    /// Answered with a 2xx status.
    Sent,
    /// Given up after its retries (or its URL is unusable).
    Failed,
    /// Its app or webhook was removed before it was answered.
    Gone,
}

#[derive(Debug, thiserror::Error)]
enum SendError {
    #[error("bad webhook url {0}")]
    Url(String),
    #[error("connect: {0}")]
    Connect(#[from] std::io::Error),
    #[error("tls: {0}")]
    Tls(std::io::Error),
    #[error("http: {0}")]
    Http(#[from] hyper::Error),
    #[error("answered {0}")]
    Status(u16),
    #[error("timed out")]
    Timeout,
}

/// Opens the connections: plain TCP, with TLS for `https://` URLs.
#[derive(Clone)]
pub(crate) struct Client {
    /// Built only when one of the app's webhooks is `https://`.
    tls: Option<TlsConnector>,
}

impl Client {
    /// Without TLS (for a job whose app is gone: no attempt is made).
    pub(crate) fn plain() -> Client {
        Client { tls: None }
    }

    /// Trusts the built-in roots plus `settings.ca_file`. That file was checked
    /// at start; should it be unreadable now, the built-in roots are used alone.
    pub(crate) fn new(app: &App, settings: &WebhookSettings) -> Client {
        if !app.webhooks.iter().any(|h| h.url.starts_with("https://")) {
            return Client { tls: None };
        }
        let ca = settings.ca_file.as_deref();
        let tls = crate::tls::connector(ca).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "webhook CA file ignored");
            crate::tls::connector(None).expect("the built-in roots load")
        });
        Client { tls: Some(tls) }
    }
}

/// A queue worker's connections per app, rebuilt when the app changes.
#[derive(Default)]
pub(crate) struct Clients(std::collections::HashMap<String, (Arc<App>, Client)>);

impl Clients {
    /// The connections for app `id` as it is now (each attempt of a job is
    /// signed per the app as it is then; a job whose app is gone gets none).
    pub(crate) fn for_app(
        &mut self,
        apps: &Lookup,
        id: &str,
        settings: &WebhookSettings,
    ) -> Client {
        let Some(app) = apps(id) else {
            return Client::plain();
        };
        match self.0.get(&app.raw.id) {
            Some((known, client)) if Arc::ptr_eq(known, &app) => client.clone(),
            _ => {
                let client = Client::new(&app, settings);
                self.0.insert(app.raw.id.clone(), (app, client.clone()));
                client
            }
        }
    }
}

/// Who hears of each attempt: the app's console tap, and the events sent.
pub(crate) struct Watch {
    pub tap: Arc<Tap>,
    pub events: String,
}

impl Watch {
    fn attempt(&self, url: &str, result: &Result<u16, SendError>) {
        self.tap.emit(|| {
            let (status, error) = match result {
                Ok(status) | Err(SendError::Status(status)) => (Some(*status), None),
                Err(e) => (None, Some(e.to_string())),
            };
            TapEvent::Webhook {
                url: crate::config::url_without_password(url),
                events: self.events.clone(),
                status,
                error,
            }
        });
    }
}

/// Send until a 2xx answer, until retrying is over or until the webhook is gone.
pub(crate) async fn post(
    letter: &Letter,
    settings: &WebhookSettings,
    client: &Client,
    watch: &Watch,
) -> Outcome {
    post_aged(letter, settings, client, Duration::ZERO, Some(watch)).await
}

/// [`post`] for a request made `age` ago (a queued job): retrying stops when it
/// is `retry_for` old, though it is always tried once. `watch`: the app's console
/// tap, when the app's state is on this node.
pub(crate) async fn post_aged(
    letter: &Letter,
    settings: &WebhookSettings,
    client: &Client,
    age: Duration,
    watch: Option<&Watch>,
) -> Outcome {
    let started = Instant::now().checked_sub(age).unwrap_or_else(Instant::now);
    let mut wait = settings.retry_initial;
    loop {
        let Some(req) = letter.request() else {
            return Outcome::Gone;
        };
        let req = &req;
        let result = match tokio::time::timeout(settings.timeout, post_once(req, client)).await {
            Ok(r) => r,
            Err(_) => Err(SendError::Timeout),
        };
        if let Some(watch) = watch {
            watch.attempt(&req.url, &result);
        }
        match result {
            Ok(_) => return Outcome::Sent,
            Err(e @ SendError::Url(_)) => {
                tracing::warn!(url = %crate::config::url_without_password(&req.url), error = %e, "webhook not sent");
                return Outcome::Failed;
            }
            Err(e) if started.elapsed() + wait > settings.retry_for => {
                tracing::warn!(url = %crate::config::url_without_password(&req.url), error = %e, "webhook failed; giving up");
                return Outcome::Failed;
            }
            Err(e) => {
                tracing::info!(url = %crate::config::url_without_password(&req.url), error = %e, retry_in = ?wait, "webhook failed; retrying");
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// One attempt; the 2xx status on success.
async fn post_once(req: &Request, client: &Client) -> Result<u16, SendError> {
    let bad_url = || SendError::Url(req.url.clone());
    let target = Target::parse(&req.url).ok_or_else(bad_url)?;
    let stream = TcpStream::connect((target.host, target.port)).await?;
    if !target.tls {
        return exchange(stream, req, &target).await;
    }
    let connector = client.tls.as_ref().ok_or_else(bad_url)?;
    let name = ServerName::try_from(target.host.to_string()).map_err(|_| bad_url())?;
    let stream = connector
        .connect(name, stream)
        .await
        .map_err(SendError::Tls)?;
    exchange(stream, req, &target).await
}

/// The request and its answer over an open connection.
async fn exchange<S>(stream: S, req: &Request, target: &Target<'_>) -> Result<u16, SendError>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await?;
    tokio::spawn(conn);
    let mut builder = hyper::Request::post(target.path).header(HOST, target.authority);
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
        Ok(status.as_u16())
    } else {
        Err(SendError::Status(status.as_u16()))
    }
}

/// Where a webhook URL points.
#[derive(Debug, PartialEq)]
struct Target<'a> {
    tls: bool,
    /// `host:port` as written, for the `Host` header.
    authority: &'a str,
    /// Without the brackets of an IPv6 literal.
    host: &'a str,
    port: u16,
    /// Path and query, at least `/`.
    path: &'a str,
}

impl<'a> Target<'a> {
    /// `https://host:port/path?q`; the port defaults to 80 or 443 (parsed by `http::Uri`).
    fn parse(url: &'a str) -> Option<Target<'a>> {
        let uri: http::Uri = url.parse().ok()?;
        let tls = match uri.scheme_str()? {
            "https" => true,
            "http" => false,
            _ => return None,
        };
        let authority = uri.authority()?.as_str();
        // Borrow from `url` rather than the parsed copy.
        let at = url.find(authority)?;
        let authority = &url[at..at + authority.len()];
        let path = match &url[at + authority.len()..] {
            "" => "/",
            rest => rest,
        };
        let explicit = authority
            .rsplit_once(':')
            .is_some_and(|(_, p)| !p.contains(']'));
        let port = match (uri.port_u16(), explicit) {
            (Some(port), _) => port,
            (None, true) => return None,
            (None, false) if tls => 443,
            (None, false) => 80,
        };
        let host = uri.host()?;
        let at = authority.find(host)?;
        let host = authority[at..at + host.len()]
            .trim_start_matches('[')
            .trim_end_matches(']');
        (!host.is_empty()).then_some(Target {
            tls,
            authority,
            host,
            port,
            path,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split_into_host_port_and_path() {
        let t = Target::parse("http://hooks:8080/a?b=1").unwrap();
        assert_eq!(
            (t.tls, t.authority, t.host, t.port, t.path),
            (false, "hooks:8080", "hooks", 8080, "/a?b=1")
        );
        let t = Target::parse("https://hooks").unwrap();
        assert_eq!((t.tls, t.host, t.port, t.path), (true, "hooks", 443, "/"));
        let t = Target::parse("https://[::1]:8443/h").unwrap();
        assert_eq!((t.authority, t.host, t.port), ("[::1]:8443", "::1", 8443));
        let t = Target::parse("http://[::1]/h").unwrap();
        assert_eq!((t.host, t.port), ("::1", 80));
        assert_eq!(Target::parse("http:///x"), None);
        assert_eq!(Target::parse("http://hooks:x/"), None);
        assert_eq!(Target::parse("ftp://hooks/"), None);
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
        let raw = crate::config::RawApp {
            id: "1".into(),
            key: "key".into(),
            secret: "secret".into(),
            ..Default::default()
        };
        let app = App {
            raw,
            max_connections: None,
            limits: Default::default(),
            webhooks: vec![],
        };
        let req = Request::new(&hook, &app, r#"{"hello":"world"}"#);
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
