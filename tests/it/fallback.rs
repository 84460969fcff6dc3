//! pusher-js's HTTP fallback transports (`xhr_polling`, `xhr_streaming`)
//! spoken over real HTTP: a session is a connection like a WebSocket's.

use crate::support::*;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use std::time::Duration;

/// A client speaking pusher-js's polling transport.
struct Polling<'a> {
    server: &'a Server,
    base: String,
    socket_id: String,
    seen: Vec<Value>,
}

impl<'a> Polling<'a> {
    async fn open(server: &'a Server, session: &str) -> Polling<'a> {
        let base = format!("/pusher/app/{KEY}/{session}");
        let mut p = Polling {
            server,
            base,
            socket_id: String::new(),
            seen: Vec::new(),
        };
        assert_eq!(p.poll().await, "o\n");
        let est = p.expect("pusher:connection_established").await;
        let data: Value = serde_json::from_str(est["data"].as_str().unwrap()).unwrap();
        p.socket_id = data["socket_id"].as_str().unwrap().to_string();
        p
    }

    async fn poll(&self) -> String {
        let uri = format!(
            "{}/xhr?protocol=7&client=js&version=8.4.0&t=1&n=2",
            self.base
        );
        let (status, text) = self.server.http_text("POST", &uri, "").await;
        assert_eq!(status, 200, "{text}");
        text
    }

    /// A poll whatever its status (a full node answers some with 503).
    async fn poll_any(&self) -> String {
        let uri = format!("{}/xhr?t=1&n=2", self.base);
        self.server.http_text("POST", &uri, "").await.1
    }

    async fn send(&self, message: Value) -> u16 {
        let body = json!([message.to_string()]).to_string();
        let uri = format!("{}/xhr_send?t=1&n=3", self.base);
        self.server.http_text("POST", &uri, &body).await.0
    }

    /// Poll until a message named `event` arrives (at most 5 s).
    async fn expect(&mut self, event: &str) -> Value {
        let until = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            if let Some(i) = self.seen.iter().position(|m| m["event"] == event) {
                return self.seen.remove(i);
            }
            assert!(
                tokio::time::Instant::now() < until,
                "no {event}: {:?}",
                self.seen
            );
            let line = tokio::time::timeout_at(until, self.poll()).await.unwrap();
            if let Some(batch) = line.strip_prefix('a') {
                let batch: Vec<String> = serde_json::from_str(batch.trim_end()).unwrap();
                let parsed = batch.iter().map(|m| serde_json::from_str(m).unwrap());
                self.seen.extend(parsed);
            }
        }
    }
}

#[tokio::test]
async fn a_polling_session_subscribes_joins_presence_whispers_and_receives_events() {
    let server = Server::start("", "enable_client_messages = true").await;
    let mut ws = server.client().await;
    ws.subscribe_presence("presence-room", r#"{"user_id":"1"}"#)
        .await;
    let mut page = Polling::open(&server, "123/abcdefgh").await;
    assert!(page.socket_id.contains('.'), "{}", page.socket_id);

    let data = r#"{"user_id":"2","user_info":{"name":"Bea"}}"#;
    let auth = channel_auth(&page.socket_id, "presence-room", Some(data));
    let sub = json!({"event":"pusher:subscribe","data":{"channel":"presence-room","auth":auth,"channel_data":data}});
    assert_eq!(page.send(sub).await, 204);
    let ok = page.expect("pusher_internal:subscription_succeeded").await;
    assert_eq!(self::data(&ok)["presence"]["count"], 2);
    assert_eq!(
        ws.expect("pusher_internal:member_added").await["data"],
        json!({"user_id":"2","user_info":{"name":"Bea"}}).to_string()
    );

    ws.send(json!({"event":"client-typing","channel":"presence-room","data":{"who":"1"}}))
        .await;
    let whisper = page.expect("client-typing").await;
    assert_eq!(whisper["data"], json!({"who":"1"}));
    let mine = json!({"event":"client-typing","channel":"presence-room","data":{"who":"2"}});
    assert_eq!(page.send(mine).await, 204);
    assert_eq!(ws.expect("client-typing").await["data"], json!({"who":"2"}));

    assert_eq!(
        server.publish("presence-room", "toast", "hello").await.0,
        200
    );
    assert_eq!(page.expect("toast").await["data"], "hello");
}

#[tokio::test]
async fn an_abandoned_session_is_reaped_and_its_member_leaves() {
    let server = Server::start("http_fallback_idle_timeout_ms = 1000", "").await;
    let mut ws = server.client().await;
    ws.subscribe_presence("presence-room", r#"{"user_id":"1"}"#)
        .await;
    let mut page = Polling::open(&server, "7/reapme00").await;
    let data = r#"{"user_id":"2"}"#;
    let auth = channel_auth(&page.socket_id, "presence-room", Some(data));
    let sub = json!({"event":"pusher:subscribe","data":{"channel":"presence-room","auth":auth,"channel_data":data}});
    page.send(sub).await;
    page.expect("pusher_internal:subscription_succeeded").await;
    ws.expect("pusher_internal:member_added").await;
    // The page goes away without a word, as pusher-js does.
    let removed = tokio::time::timeout(
        Duration::from_secs(5),
        ws.expect("pusher_internal:member_removed"),
    );
    assert_eq!(removed.await.unwrap()["data"], r#"{"user_id":"2"}"#);
    assert_eq!(
        page.send(json!({"event":"pusher:ping","data":{}})).await,
        404
    );
}

#[tokio::test]
async fn a_streaming_session_is_told_4200_at_shutdown() {
    let mut server = Server::start("shutdown_reconnect_window_ms = 0", "").await;
    let stream = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::post(format!("/pusher/app/{KEY}/1/streamer/xhr_streaming?t=1"))
        .header("host", "x")
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .unwrap();
    let mut body = sender.send_request(req).await.unwrap().into_body();
    let mut text = String::new();
    let mut stopped = false;
    let read = async {
        while let Some(Ok(frame)) = body.frame().await {
            text.push_str(&String::from_utf8_lossy(frame.data_ref().unwrap()));
            if text.contains("connection_established") && !stopped {
                server.stop();
                stopped = true;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), read)
        .await
        .unwrap();
    assert!(
        text.starts_with("o\na[\"{\\\"event\\\":\\\"pusher:connection_established"),
        "{text}"
    );
    assert!(text.contains("\nc[4200,"), "{text}");
}

#[tokio::test]
async fn posted_batches_are_bounded_and_checked() {
    let server = Server::start("max_message_size_kb = 16", "").await;
    let page = Polling::open(&server, "9/batches0").await;
    let send = format!("{}/xhr_send", page.base);
    let big = json!(["x".repeat(70 * 1024)]).to_string();
    assert_eq!(server.http_text("POST", &send, &big).await.0, 413);
    assert_eq!(server.http_text("POST", &send, "{not json").await.0, 400);
    assert_eq!(server.http_text("POST", &send, "[]").await.0, 204);
    let other = format!("/pusher/app/{KEY}/9/nosuch00/xhr_send");
    assert_eq!(server.http_text("POST", &other, "[]").await.0, 404);
}

#[tokio::test]
async fn the_fallback_can_be_turned_off() {
    let server = Server::start("http_fallback = false", "").await;
    let uri = format!("/pusher/app/{KEY}/1/abcdefgh/xhr");
    assert_eq!(server.http_text("POST", &uri, "").await.0, 404);
}

#[tokio::test]
async fn sessions_count_under_the_node_cap_like_sockets() {
    let server = Server::start("max_node_connections = 3", "").await;
    let _ws = server.client().await;
    let _held = Polling::open(&server, "1/first000").await;
    // A socket, a session and the request asking: a new session is refused as an upgrade would be.
    let full = Polling {
        server: &server,
        base: format!("/pusher/app/{KEY}/2/second00"),
        socket_id: String::new(),
        seen: Vec::new(),
    };
    let mut said = String::new();
    for _ in 0..3 {
        said.push_str(&full.poll_any().await);
        if said.contains("\nc[") || said.starts_with("c[") {
            break;
        }
    }
    assert!(said.contains("4100") && said.contains("c[4100,"), "{said}");
}

/// The fallback transports share the main port: a session is no way past a cap.
#[tokio::test]
async fn sessions_count_under_the_address_cap_like_sockets() {
    let server = Server::start("max_connections_per_ip = 3", "").await;
    let _held = [
        server.client().await,
        server.client().await,
        server.client().await,
    ];
    let full = Polling {
        server: &server,
        base: format!("/pusher/app/{KEY}/3/third000"),
        socket_id: String::new(),
        seen: Vec::new(),
    };
    let mut said = String::new();
    for _ in 0..3 {
        said.push_str(&full.poll_any().await);
        if said.contains("c[") {
            break;
        }
    }
    assert!(said.contains("c[4100,"), "{said}");
    assert!(!said.contains("connection_established"), "{said}");
}

#[tokio::test]
async fn a_session_on_one_node_gets_events_and_members_from_another() {
    let redis = crate::cluster::Redis::start().await;
    let cluster = format!(
        "adapter='redis'\nredis_url='{}'\nredis_prefix='fallback-it'",
        redis.url()
    );
    let a = Server::start(&cluster, "").await;
    let b = Server::start(&cluster, "").await;
    for node in [&a, &b] {
        while node.http_text("GET", "/ready", "").await.0 != 200 {
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
    let mut page = Polling::open(&a, "5/clusters").await;
    let data = r#"{"user_id":"2"}"#;
    let auth = channel_auth(&page.socket_id, "presence-room", Some(data));
    let sub = json!({"event":"pusher:subscribe","data":{"channel":"presence-room","auth":auth,"channel_data":data}});
    page.send(sub).await;
    page.expect("pusher_internal:subscription_succeeded").await;
    let mut ws = b.client().await;
    let ok = ws
        .subscribe_presence("presence-room", r#"{"user_id":"1"}"#)
        .await;
    assert_eq!(self::data(&ok)["presence"]["count"], 2, "{ok}");
    page.expect("pusher_internal:member_added").await;
    assert_eq!(b.publish("presence-room", "toast", "from b").await.0, 200);
    assert_eq!(page.expect("toast").await["data"], "from b");
}

#[tokio::test]
async fn a_silent_session_is_pinged_then_closed_with_4201() {
    let server = Server::start("activity_timeout = 1\npong_timeout = 1", "").await;
    let mut page = Polling::open(&server, "3/silent00").await;
    page.expect("pusher:ping").await;
    let mut said = String::new();
    for _ in 0..10 {
        said = page.poll().await;
        if said.starts_with('c') {
            break;
        }
    }
    assert!(said.starts_with("c[4201,"), "{said}");
}

#[tokio::test]
async fn client_events_from_a_session_are_rate_limited() {
    let server = Server::start(
        "max_client_events_per_sec = 2",
        "enable_client_messages = true",
    )
    .await;
    let mut page = Polling::open(&server, "4/limited0").await;
    let auth = channel_auth(&page.socket_id, "private-rate", None);
    let sub = json!({"event":"pusher:subscribe","data":{"channel":"private-rate","auth":auth}});
    page.send(sub).await;
    page.expect("pusher_internal:subscription_succeeded").await;
    for _ in 0..3 {
        let whisper = json!({"event":"client-x","channel":"private-rate","data":{}});
        assert_eq!(page.send(whisper).await, 204);
    }
    let err = page.expect("pusher:error").await;
    assert!(
        err["data"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{err}"
    );
}
