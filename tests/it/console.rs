//! The debug console on the metrics port: its token, its stream's filters and
//! bound, and its view of a whole Redis cluster.

use crate::cluster::Redis;
use crate::support::*;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;

const TOKEN: &str = "console-s3cret";

fn toml(id: &str, server: &str, console: &str) -> String {
    format!(
        "[server]\nhost='127.0.0.1'\nport=0\n{server}\n[console]\nenabled=true\ntoken='{TOKEN}'\n{console}\n\
         [[apps]]\nid='{id}'\nkey='{KEY}'\nsecret='{SECRET}'\nenable_client_messages=true\n\
         [[apps]]\nid='other'\nkey='other-key'\nsecret='other-secret'\n"
    )
}

/// A GET with optional headers: status and body text.
async fn fetch(addr: SocketAddr, uri: &str, bearer: Option<&str>) -> (u16, String) {
    let (status, body) = open(addr, uri, bearer).await;
    let bytes = body.collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

async fn open(addr: SocketAddr, uri: &str, bearer: Option<&str>) -> (u16, hyper::body::Incoming) {
    let stream = TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .uri(uri)
        .header("host", addr.to_string());
    if let Some(t) = bearer {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let res = sender
        .send_request(req.body(Empty::<Bytes>::new()).unwrap())
        .await
        .unwrap();
    (res.status().as_u16(), res.into_body())
}

/// A console stream read as a browser's EventSource would.
struct Stream {
    body: hyper::body::Incoming,
    buf: String,
    /// The last `event: dropped` count seen.
    dropped: u64,
    node: String,
}

impl Stream {
    async fn open(addr: SocketAddr, app: &str, filter: &str) -> Stream {
        let uri = format!("/console/{app}/stream?token={TOKEN}&{filter}");
        let (status, body) = open(addr, &uri, None).await;
        assert_eq!(status, 200);
        let mut s = Stream {
            body,
            buf: String::new(),
            dropped: 0,
            node: String::new(),
        };
        let hello = s.message().await.expect("hello");
        s.node = hello.1["node"].as_str().unwrap().to_string();
        s
    }

    /// The next message (event name, data), or `None` within 10 s.
    async fn message(&mut self) -> Option<(String, Value)> {
        loop {
            if let Some(at) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..at + 2).collect();
                let mut name = "message".to_string();
                let mut data = None;
                for line in block.lines() {
                    if let Some(n) = line.strip_prefix("event: ") {
                        name = n.to_string();
                    } else if let Some(d) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(d).unwrap());
                    }
                }
                match data {
                    Some(d) => return Some((name, d)),
                    None => continue,
                }
            }
            let frame = tokio::time::timeout(Duration::from_secs(10), self.body.frame())
                .await
                .ok()??
                .ok()?;
            if let Ok(chunk) = frame.into_data() {
                self.buf.push_str(&String::from_utf8_lossy(&chunk));
            }
        }
    }

    /// The next record of `kind`, skipping others (and noting drops).
    async fn next(&mut self, kind: &str) -> Value {
        loop {
            let (name, data) = self.message().await.expect("a record within 10 s");
            if name == "dropped" {
                self.dropped = data["dropped"].as_u64().unwrap();
            } else if data["kind"] == kind {
                return data;
            }
        }
    }
}

#[tokio::test]
async fn console_needs_its_token_and_is_off_by_default() {
    let (_s, metrics) = Server::with_metrics(&toml("c-token", "", "")).await;
    let page = "/console/c-token";
    assert_eq!(fetch(metrics, page, None).await.0, 401);
    assert_eq!(
        fetch(metrics, &format!("{page}?token=wrong"), None).await.0,
        401
    );
    assert_eq!(fetch(metrics, page, Some("wrong")).await.0, 401);
    let (status, html) = fetch(metrics, &format!("{page}?token={TOKEN}"), None).await;
    assert_eq!(status, 200);
    assert!(html.contains("data-app=\"c-token\""), "{html}");
    assert_eq!(fetch(metrics, page, Some(TOKEN)).await.0, 200);
    let stream = format!("{page}/stream");
    assert_eq!(fetch(metrics, &stream, None).await.0, 401);
    let (status, list) = fetch(metrics, "/console", Some(TOKEN)).await;
    assert_eq!(status, 200);
    assert!(list.contains("c-token") && list.contains("other"), "{list}");

    let off = "[server]\nhost='127.0.0.1'\nport=0\n[[apps]]\nid='c-off'\nkey='k'\nsecret='s'\n";
    let (_s, metrics) = Server::with_metrics(off).await;
    assert_eq!(fetch(metrics, "/console/c-off", Some(TOKEN)).await.0, 404);
}

#[tokio::test]
async fn a_refused_subscription_shows_its_reason_and_the_string_to_sign() {
    let (server, metrics) = Server::with_metrics(&toml(APP_ID, "", "")).await;
    let mut stream = Stream::open(metrics, APP_ID, "").await;
    let mut c = server.client().await;
    let wrong = format!("{KEY}:{}", "0".repeat(64));
    c.send(
        json!({"event": "pusher:subscribe", "data": {"channel": "private-orders", "auth": wrong}}),
    )
    .await;
    c.expect("pusher:subscription_error").await;
    let r = stream.next("refusal").await;
    assert_eq!(r["stage"], "subscription");
    assert_eq!(r["channel"], "private-orders");
    assert_eq!(r["socket"], c.socket_id.as_str());
    assert_eq!(r["code"], 401);
    assert!(
        r["reason"].as_str().unwrap().contains("unauthorized"),
        "{r}"
    );
    let expected = format!("{}:private-orders", c.socket_id);
    assert_eq!(r["signed"]["expected"], expected.as_str());
    assert_eq!(r["signed"]["received"], wrong.as_str());
    let right = channel_auth(&c.socket_id, "private-orders", None);
    let text = r.to_string();
    assert!(
        !text.contains(SECRET) && !text.contains(&right[KEY.len() + 1..]),
        "{text}"
    );
}

#[tokio::test]
async fn the_stream_shows_only_its_app_and_what_its_filter_asks_for() {
    let (server, metrics) = Server::with_metrics(&toml("c-filter", "", "")).await;
    let mut by_channel = Stream::open(metrics, "c-filter", "channel=orders").await;
    let mut by_event = Stream::open(metrics, "c-filter", "event=Shipped").await;
    let mut other_app = Stream::open(metrics, "other", "").await;
    let publish = |channel: &'static str, event: &'static str| {
        let body = json!({"name": event, "channel": channel, "data": "{}"}).to_string();
        let path = "/apps/c-filter/events";
        let query = signed_query("POST", path, &[], &body, SECRET, now());
        let server = &server;
        async move {
            server
                .http("POST", &format!("{path}?{query}"), &body)
                .await
                .0
        }
    };
    assert_eq!(publish("invoices", "OrderShipped").await, 200);
    assert_eq!(publish("orders", "OrderCreated").await, 200);
    let r = by_channel.next("publish").await;
    assert_eq!(
        (r["channel"].as_str(), r["event"].as_str()),
        (Some("orders"), Some("OrderCreated"))
    );
    let r = by_event.next("publish").await;
    assert_eq!(
        (r["channel"].as_str(), r["event"].as_str()),
        (Some("invoices"), Some("OrderShipped"))
    );
    assert_eq!(r["size"], 2);
    // The other app's stream saw none of it: its next record is its own.
    let mut c = server.client_for("other-key").await;
    c.subscribe("lobby").await;
    let r = other_app.next("subscribe").await;
    assert_eq!(r["channel"], "lobby");
}

#[tokio::test]
async fn a_watcher_that_does_not_read_loses_records_counted_never_slows_delivery() {
    let server_keys = "metrics_enabled=true\nsocket_queue=200000";
    let (server, metrics) = Server::with_metrics(&toml("c-bound", server_keys, "queue=4")).await;
    let mut c = server.client().await;
    c.subscribe("flood").await;
    let mut stream = Stream::open(metrics, "c-bound", "channel=flood").await;
    // Publish until the console reports drops for this stream, which is not read meanwhile.
    let mut sent = 0u64;
    while dropped(metrics).await == 0 {
        assert!(sent < 200_000, "no record was ever dropped");
        let batch: Vec<Value> = (0..10)
            .map(|i| json!({"name": format!("e{}", sent + i), "channel": "flood", "data": "{}"}))
            .collect();
        let body = json!({ "batch": batch }).to_string();
        let (status, _) = server
            .api("POST", "/apps/c-bound/batch_events", &[], &body)
            .await;
        assert_eq!(status, 200);
        sent += 10;
    }
    // The subscriber got every event, in order, while the console dropped.
    for i in 0..sent {
        let frame = c.next().await;
        assert_eq!(frame["event"], format!("e{i}"));
    }
    // What the stream delivers plus what it dropped is everything published.
    let mut seen = 0u64;
    while seen + stream.dropped < sent {
        let (name, data) = stream.message().await.expect("the rest of the stream");
        match name.as_str() {
            "dropped" => stream.dropped = data["dropped"].as_u64().unwrap(),
            _ => seen += 1,
        }
    }
    assert_eq!(seen + stream.dropped, sent);
    assert!(stream.dropped > 0);
    let (_, text) = fetch(metrics, "/metrics", None).await;
    let head = "soketi_console_dropped_total{app_id=\"c-bound\",";
    let counted = text.lines().find(|l| l.starts_with(head));
    let counted = counted.and_then(|l| l.rsplit(' ').next()?.parse::<u64>().ok());
    assert_eq!(counted, Some(stream.dropped), "{text}");
}

async fn dropped(metrics: SocketAddr) -> u64 {
    let (status, body) = fetch(metrics, "/console/c-bound/state", Some(TOKEN)).await;
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<Value>(&body).unwrap()["dropped"]
        .as_u64()
        .unwrap()
}

#[tokio::test]
async fn any_nodes_console_shows_the_whole_clusters_traffic() {
    let redis = Redis::start().await;
    let cluster = format!(
        "adapter='redis'\nredis_url='{}'\nredis_prefix='console-it'",
        redis.url()
    );
    let (a, a_metrics) = Server::with_metrics(&toml(APP_ID, &cluster, "")).await;
    let (b, _) = Server::with_metrics(&toml(APP_ID, &cluster, "")).await;
    for node in [&a, &b] {
        while node.http_text("GET", "/ready", "").await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let mut stream = Stream::open(a_metrics, APP_ID, "").await;
    // Node B learns within about a second that A watches; publish on B until A's console shows it.
    let mut shown = None;
    for i in 0..40 {
        let (status, _) = b.publish("cluster-ch", &format!("tick{i}"), "{}").await;
        assert_eq!(status, 200);
        let (name, data) = tokio::time::timeout(Duration::from_millis(500), stream.message())
            .await
            .unwrap_or(None)
            .unwrap_or_default();
        if name == "message" && data["kind"] == "publish" {
            shown = Some(data);
            break;
        }
    }
    let r = shown.expect("node A's console never showed node B's publish");
    assert_eq!(r["channel"], "cluster-ch");
    assert_ne!(r["node"], stream.node.as_str(), "{r}");
    // A refusal on node B reaches A's console too, with its reason.
    let mut c = b.client().await;
    c.send(json!({"event": "pusher:subscribe", "data": {"channel": "private-b", "auth": "x:y"}}))
        .await;
    c.expect("pusher:subscription_error").await;
    let r = stream.next("refusal").await;
    assert_eq!(r["channel"], "private-b");
    assert_eq!(r["socket"], c.socket_id.as_str());
    assert_ne!(r["node"], stream.node.as_str());
}

#[tokio::test]
async fn each_connection_shows_its_transport() {
    let (server, metrics) = Server::with_metrics(&toml("c-via", "", "")).await;
    let mut stream = Stream::open(metrics, "c-via", "").await;
    let _ws = server.client().await;
    assert_eq!(stream.next("connect").await["transport"], "ws");
    let poll = format!("/pusher/app/{KEY}/1/consoled/xhr");
    assert_eq!(
        server.http_text("POST", &poll, "").await,
        (200, "o\n".to_string())
    );
    assert_eq!(stream.next("connect").await["transport"], "xhr_polling");
}

/// A page that comes back to a recovery channel shows on the console: how
/// many events were replayed, or why none could be.
#[tokio::test]
async fn recoveries_show_what_was_replayed_or_why_not() {
    use crate::recovery::{publish_all, Page, RECOVERY};
    let text = toml(APP_ID, "", "").replacen(
        "enable_client_messages=true\n",
        &format!("enable_client_messages=true\n{RECOVERY}\nrecovery_max_events=3\n"),
        1,
    );
    let (server, metrics) = Server::with_metrics(&text).await;
    let mut stream = Stream::open(metrics, APP_ID, "channel=chat.1").await;
    let mut page = Page::open(&server, None).await;
    page.subscribe("chat.1").await;
    let cookie = page.close().await;
    publish_all(&server, "chat.1", 0..2).await;
    let mut back = Page::open(&server, cookie.clone()).await;
    back.subscribe("chat.1").await;
    let r = stream.next("recovery").await;
    assert_eq!(
        (r["replayed"].as_u64(), &r["failed"]),
        (Some(2), &Value::Null),
        "{r}"
    );
    assert_eq!(r["socket"], back.socket_id.as_str());
    back.close().await;
    publish_all(&server, "chat.1", 2..6).await;
    let mut late = Page::open(&server, cookie).await;
    late.subscribe("chat.1").await;
    let r = stream.next("recovery").await;
    assert_eq!(
        (r["replayed"].as_u64(), r["failed"].as_str()),
        (Some(0), Some("history_trimmed"))
    );
}
