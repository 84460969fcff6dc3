//! Webhooks through a real local HTTP receiver: bodies, signatures, filters,
//! batching, the vacate/member_removed delay and retries.

use crate::support::*;
use herald::auth;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// One request the receiver got.
#[derive(Debug)]
pub struct Hit {
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
    pub json: Value,
    /// Whether it was answered with 500.
    pub failed: bool,
}

/// A webhook endpoint that answers 500 to its first `failures` requests, then 200.
pub struct Receiver {
    addr: SocketAddr,
    hits: mpsc::UnboundedReceiver<Hit>,
    /// Requests still to be answered with 500.
    left: Arc<AtomicUsize>,
}

impl Receiver {
    pub async fn start(failures: usize) -> Receiver {
        Receiver::start_on(0, failures).await
    }

    /// On a given port (0: any free one), e.g. one webhooks were failing to reach.
    pub async fn start_on(port: u16, failures: usize) -> Receiver {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, hits) = mpsc::unbounded_channel();
        let left = Arc::new(AtomicUsize::new(failures));
        let failing = left.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let (tx, left) = (tx.clone(), left.clone());
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let (tx, left) = (tx.clone(), left.clone());
                        async move {
                            let path = req.uri().to_string();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_string()))
                                .collect();
                            let bytes = req.into_body().collect().await.unwrap().to_bytes();
                            let body = String::from_utf8(bytes.to_vec()).unwrap();
                            let json = serde_json::from_str(&body).unwrap();
                            let fail = left
                                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| {
                                    n.checked_sub(1)
                                })
                                .is_ok();
                            let _ = tx.send(Hit {
                                path,
                                headers,
                                body,
                                json,
                                failed: fail,
                            });
                            let mut res =
                                hyper::Response::new(Full::new(bytes::Bytes::from_static(b"{}")));
                            if fail {
                                *res.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                            }
                            Ok::<_, std::convert::Infallible>(res)
                        }
                    },
                );
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
                );
            }
        });
        Receiver {
            addr,
            hits,
            left: failing,
        }
    }

    /// Answer 200 from now on.
    pub fn heal(&self) {
        self.left.store(0, Ordering::SeqCst);
    }

    /// The next request within `ms`, if any.
    pub async fn try_next(&mut self, ms: u64) -> Option<Hit> {
        let hit = tokio::time::timeout(Duration::from_millis(ms), self.hits.recv()).await;
        hit.ok().flatten()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn next(&mut self) -> Hit {
        self.next_within(3).await
    }

    pub async fn next_within(&mut self, secs: u64) -> Hit {
        tokio::time::timeout(Duration::from_secs(secs), self.hits.recv())
            .await
            .unwrap_or_else(|_| panic!("no webhook within {secs} s"))
            .unwrap()
    }

    pub async fn silent(&mut self, ms: u64) {
        if let Ok(Some(hit)) =
            tokio::time::timeout(Duration::from_millis(ms), self.hits.recv()).await
        {
            panic!("unexpected webhook {}", hit.body);
        }
    }
}

/// The `events` of a hit, and a check of its signature and headers.
pub fn events(hit: &Hit) -> Vec<Value> {
    assert_eq!(hit.headers["content-type"], "application/json");
    assert_eq!(hit.headers["x-pusher-key"], KEY);
    assert_eq!(
        hit.headers["x-pusher-signature"],
        auth::sign(SECRET, &hit.body)
    );
    assert!(hit.json["time_ms"].as_u64().unwrap() > 1_600_000_000_000);
    hit.json["events"].as_array().unwrap().clone()
}

const FAST: &str = "webhook_vacate_delay_ms = 150\nwebhook_retry_initial_ms = 50";

pub fn hook(url: &str, types: &str, extra: &str) -> String {
    format!("[[apps.webhooks]]\nurl = '{url}'\nevent_types = [{types}]\n{extra}\n")
}

#[tokio::test]
async fn occupied_and_vacated_are_signed_and_custom_headers_cannot_override() {
    let mut r = Receiver::start(0).await;
    let headers =
        "headers = { 'X-Token' = 'abc', 'X-Pusher-Key' = 'forged', 'Content-Type' = 'text/plain' }";
    let app = hook(
        &r.url("/hooks?x=1"),
        "'channel_occupied','channel_vacated'",
        headers,
    );
    let server = Server::start(FAST, &app).await;
    let mut c = server.client().await;
    c.subscribe("news").await;
    let hit = r.next().await;
    assert_eq!(hit.path, "/hooks?x=1");
    assert_eq!(hit.headers["x-token"], "abc");
    assert_eq!(
        events(&hit),
        vec![json!({"name":"channel_occupied","channel":"news"})]
    );
    c.send(json!({"event":"pusher:unsubscribe","data":{"channel":"news"}}))
        .await;
    let hit = r.next().await;
    assert_eq!(
        events(&hit),
        vec![json!({"name":"channel_vacated","channel":"news"})]
    );
    // A second subscriber does not occupy the channel again.
    c.subscribe("news").await;
    r.next().await;
    let mut d = server.client().await;
    d.subscribe("news").await;
    r.silent(300).await;
}

#[tokio::test]
async fn a_channel_that_comes_back_within_the_delay_sends_nothing() {
    let mut r = Receiver::start(0).await;
    let app = hook(&r.url("/"), "'channel_occupied','channel_vacated'", "");
    let server = Server::start("webhook_vacate_delay_ms = 400", &app).await;
    let mut c = server.client().await;
    c.subscribe("flaky").await;
    assert_eq!(events(&r.next().await)[0]["name"], "channel_occupied");
    drop(c); // disconnect
    let mut again = server.client().await;
    again.subscribe("flaky").await;
    r.silent(700).await;
    again
        .send(json!({"event":"pusher:unsubscribe","data":{"channel":"flaky"}}))
        .await;
    let started = std::time::Instant::now();
    let hit = r.next().await;
    assert_eq!(
        events(&hit),
        vec![json!({"name":"channel_vacated","channel":"flaky"})]
    );
    assert!(
        started.elapsed() >= Duration::from_millis(350),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn presence_members_are_reported_once_per_user_with_ids_as_sent() {
    let mut r = Receiver::start(0).await;
    let app = hook(&r.url("/"), "'member_added','member_removed'", "");
    let server = Server::start(FAST, &app).await;
    let mut tab1 = server.client().await;
    tab1.subscribe_presence("presence-room", r#"{"user_id":7}"#)
        .await;
    let hit = r.next().await;
    assert_eq!(
        events(&hit),
        vec![json!({"name":"member_added","channel":"presence-room","user_id":7})]
    );
    let mut tab2 = server.client().await;
    tab2.subscribe_presence("presence-room", r#"{"user_id":7}"#)
        .await;
    drop(tab1);
    r.silent(400).await;
    drop(tab2);
    let hit = r.next().await;
    assert_eq!(
        events(&hit),
        vec![json!({"name":"member_removed","channel":"presence-room","user_id":7})]
    );
}

#[tokio::test]
async fn filters_remove_events_and_batching_groups_them_per_webhook() {
    let mut private = Receiver::start(0).await;
    let mut all = Receiver::start(0).await;
    let filter =
        "filter = { channel_name_starts_with = 'private-', channel_name_ends_with = '-log' }";
    let app = format!(
        "{}{}",
        hook(&private.url("/p"), "'channel_occupied'", filter),
        hook(&all.url("/a"), "'channel_occupied','cache_miss'", "")
    );
    let server = Server::start("webhook_batching = true\nwebhook_batching_ms = 300", &app).await;
    let mut c = server.client().await;
    c.subscribe("public-log").await;
    c.subscribe_private("private-audit-log").await;
    c.subscribe_private("private-chat").await;
    c.subscribe("cache-prices").await;
    let hit = all.next().await;
    let names: Vec<String> = events(&hit)
        .iter()
        .map(|e| {
            format!(
                "{}:{}",
                e["name"].as_str().unwrap(),
                e["channel"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(
        names,
        [
            "channel_occupied:public-log",
            "channel_occupied:private-audit-log",
            "channel_occupied:private-chat",
            "channel_occupied:cache-prices",
            "cache_miss:cache-prices",
        ]
    );
    let hit = private.next().await;
    assert_eq!(
        events(&hit),
        vec![json!({"name":"channel_occupied","channel":"private-audit-log"})]
    );
    private.silent(400).await;
    all.silent(100).await;
}

#[tokio::test]
async fn failed_deliveries_are_retried_with_the_same_signed_body() {
    let mut r = Receiver::start(2).await;
    let app = hook(&r.url("/"), "'channel_occupied'", "");
    let server = Server::start(FAST, &app).await;
    let mut c = server.client().await;
    c.subscribe("retry-me").await;
    let first = r.next().await;
    let second = r.next().await;
    let third = r.next().await;
    assert_eq!(first.body, second.body);
    assert_eq!(second.body, third.body);
    assert_eq!(events(&third)[0]["channel"], "retry-me");
    r.silent(300).await;
}

#[tokio::test]
async fn client_events_are_reported_with_sender_and_data() {
    let mut r = Receiver::start(0).await;
    let app = format!(
        "enable_client_messages = true\n{}",
        hook(&r.url("/"), "'client_event'", "")
    );
    let server = Server::start(FAST, &app).await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_private("private-chat").await;
    b.subscribe_private("private-chat").await;
    a.send(json!({"event":"client-typing","channel":"private-chat","data":{"who":"a"}}))
        .await;
    b.expect("client-typing").await;
    let hit = r.next().await;
    assert_eq!(
        events(&hit),
        vec![
            json!({"name":"client_event","channel":"private-chat","event":"client-typing",
            "data":"{\"who\":\"a\"}","socket_id":a.socket_id})
        ]
    );
}

#[tokio::test]
async fn shutdown_sends_delayed_webhooks_at_once() {
    let mut r = Receiver::start(0).await;
    let app = hook(&r.url("/"), "'channel_vacated','member_removed'", "");
    let mut server = Server::start("webhook_vacate_delay_ms = 60000", &app).await;
    let mut c = server.client().await;
    c.subscribe_presence("presence-bye", r#"{"user_id":"u1"}"#)
        .await;
    server.stop();
    assert_eq!(c.closed().await, Some(4200));
    let mut names = Vec::new();
    for _ in 0..2 {
        for e in events(&r.next().await) {
            names.push(e["name"].as_str().unwrap().to_string());
        }
    }
    names.sort();
    assert_eq!(names, ["channel_vacated", "member_removed"]);
}
