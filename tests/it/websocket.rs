//! Connecting, liveness, refusals, malformed input and shutdown.

use crate::support::*;
use futures_util::SinkExt;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

#[tokio::test]
async fn connection_established_carries_socket_id_and_activity_timeout() {
    let server = Server::start("activity_timeout = 45", "").await;
    let mut a = server.raw_client(KEY).await;
    let msg = a.next().await;
    assert_eq!(msg["event"], "pusher:connection_established");
    let d = data(&msg);
    assert_eq!(d["activity_timeout"], 45);
    let id = d["socket_id"].as_str().unwrap();
    let (x, y) = id.split_once('.').unwrap();
    assert!(
        x.bytes().all(|b| b.is_ascii_digit()) && y.bytes().all(|b| b.is_ascii_digit()),
        "{id}"
    );
    let b = server.client().await;
    assert_ne!(b.socket_id, id);
}

#[tokio::test]
async fn unknown_key_is_refused_with_4001() {
    let server = Server::start("", "").await;
    let mut c = server.raw_client("nope").await;
    let err = c.expect("pusher:error").await;
    assert_eq!(err["data"]["code"], 4001);
    assert_eq!(c.closed().await, Some(4001));
}

#[tokio::test]
async fn disabled_app_is_refused_with_4003() {
    let server = Server::start("", "enabled = false").await;
    let mut c = server.raw_client(KEY).await;
    assert_eq!(c.expect("pusher:error").await["data"]["code"], 4003);
    assert_eq!(c.closed().await, Some(4003));
}

#[tokio::test]
async fn connection_quota_refuses_with_4004_and_frees_slots() {
    let server = Server::start("", "max_connections = 1").await;
    let first = server.client().await;
    let mut second = server.raw_client(KEY).await;
    assert_eq!(second.expect("pusher:error").await["data"]["code"], 4004);
    assert_eq!(second.closed().await, Some(4004));
    drop(first);
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let third = server.client().await;
    assert!(!third.socket_id.is_empty());
}

#[tokio::test]
async fn pusher_ping_gets_pusher_pong_and_ws_ping_gets_pong() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    c.send(json!({"event":"pusher:ping","data":{}})).await;
    assert_eq!(c.next().await, json!({"event":"pusher:pong","data":{}}));
    c.ws.send(Message::Ping(b"hi".to_vec().into()))
        .await
        .unwrap();
    let got = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        use futures_util::StreamExt;
        loop {
            if let Some(Ok(Message::Pong(p))) = c.ws.next().await {
                return p;
            }
        }
    })
    .await
    .unwrap();
    assert_eq!(&got[..], b"hi");
}

#[tokio::test]
async fn silent_client_is_pinged_then_closed_with_4201() {
    let server = Server::start("activity_timeout = 1\npong_timeout = 1", "").await;
    let mut c = server.client().await;
    let ping = c.next_within(1800).await;
    assert_eq!(ping, Seen::Frame(json!({"event":"pusher:ping","data":{}})));
    assert_eq!(c.closed().await, Some(4201));
}

#[tokio::test]
async fn answering_pings_keeps_the_connection() {
    let server = Server::start("activity_timeout = 1\npong_timeout = 1", "").await;
    let mut c = server.client().await;
    for _ in 0..3 {
        assert_eq!(c.expect("pusher:ping").await["event"], "pusher:ping");
        c.send(json!({"event":"pusher:pong","data":{}})).await;
    }
    assert_eq!(
        c.subscribe("still-here").await["event"],
        "pusher_internal:subscription_succeeded"
    );
}

#[tokio::test]
async fn malformed_frames_get_errors_and_the_socket_stays_usable() {
    let server = Server::start("max_message_size_kb = 8", "").await;
    let mut c = server.client().await;
    for bad in [
        "not json",
        "[1,2]",
        r#"{"event":42}"#,
        r#"{"event":"pusher:subscribe"}"#,
        r#"{"event":"pusher:subscribe","data":{"channel":["x"]}}"#,
        r#"{"event":"pusher:unsubscribe","data":7}"#,
        r#"{"event":"client-x","data":{}}"#,
    ] {
        c.send_text(bad).await;
        let err = c.next().await;
        assert_eq!(err["event"], "pusher:error", "{bad}");
        assert!(
            err["data"]["message"]
                .as_str()
                .unwrap()
                .contains("Invalid message format"),
            "{bad}"
        );
    }
    let huge = format!(
        r#"{{"event":"pusher:ping","data":"{}"}}"#,
        "x".repeat(20_000)
    );
    c.send_text(&huge).await;
    assert!(c.expect("pusher:error").await["data"]["message"]
        .as_str()
        .unwrap()
        .contains("too large"));
    c.ws.send(Message::Binary(
        br#"{"event":"pusher:ping"}"#.to_vec().into(),
    ))
    .await
    .unwrap();
    assert_eq!(c.next().await["event"], "pusher:pong");
    assert_eq!(
        c.subscribe("after-garbage").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let (status, _) = server.publish("after-garbage", "e", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(c.next().await["event"], "e");
}

#[tokio::test]
async fn shutdown_tells_sockets_to_reconnect_with_4200() {
    let mut server = Server::start("shutdown_grace_period_ms = 2000", "").await;
    let mut c = server.client().await;
    server.stop();
    let err = c.expect("pusher:error").await;
    assert_eq!(err["data"]["code"], 4200);
    assert_eq!(c.closed().await, Some(4200));
    tokio::time::timeout(std::time::Duration::from_secs(3), &mut server.task)
        .await
        .unwrap()
        .unwrap();
    assert!(
        tokio::net::TcpStream::connect(server.addr).await.is_err(),
        "listener still accepting"
    );
}

#[tokio::test]
async fn health_routes_answer() {
    let server = Server::start("", "").await;
    assert_eq!(server.http_text("GET", "/", "").await, (200, "OK".into()));
    assert_eq!(server.http_text("GET", "/ready", "").await.0, 200);
    assert_eq!(
        server.http("GET", "/up", "").await,
        (200, json!({"health":"OK"}))
    );
    assert_eq!(server.http("GET", "/nothing-here", "").await.0, 404);
}

#[tokio::test]
async fn sign_in_timeout_closes_unauthorized_sockets_with_4009() {
    let server = Server::start(
        "",
        "enable_user_authentication = true\nuser_authentication_timeout_ms = 300",
    )
    .await;
    let mut lazy = server.client().await;
    let mut signed = server.client().await;
    assert_eq!(
        signed.sign_in(r#"{"id":"1"}"#).await["event"],
        "pusher:signin_success"
    );
    let mut private = server.client().await;
    let ok = private.subscribe_private("private-x").await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    let err = lazy.expect("pusher:error").await;
    assert_eq!(
        err["data"],
        json!({"code":4009,"message":"Connection not authorized within timeout."})
    );
    assert_eq!(lazy.closed().await, Some(4009));
    signed.silent(300).await;
    private.silent(50).await;
    let _: Value = Value::Null;
}

#[tokio::test]
async fn a_large_fan_out_reaches_everyone_in_order() {
    // More subscribers than publishers write to themselves: the sockets' tasks deliver.
    let server = Server::start("", "").await;
    let mut clients = Vec::new();
    for _ in 0..40 {
        let mut c = server.client().await;
        c.subscribe("crowd").await;
        clients.push(c);
    }
    for i in 0..5 {
        let (status, _) = server.publish("crowd", "tick", &i.to_string()).await;
        assert_eq!(status, 200);
    }
    for c in &mut clients {
        for i in 0..5 {
            let frame = c.expect("tick").await;
            assert_eq!(frame["data"], i.to_string());
        }
    }
}

#[tokio::test]
async fn close_codes_a_peer_may_not_send_are_answered_with_1002() {
    use tokio_tungstenite::tungstenite::protocol::CloseFrame;
    let server = Server::start("", "").await;
    for (sent, answer) in [
        (1005, 1002),
        (999, 1002),
        (1015, 1002),
        (4000, 4000),
        (1000, 1000),
    ] {
        let mut c = server.client().await;
        let frame = CloseFrame {
            code: sent.into(),
            reason: "".into(),
        };
        c.ws.send(Message::Close(Some(frame))).await.unwrap();
        assert_eq!(c.closed().await, Some(answer), "client sent {sent}");
    }
}

/// A masked text frame from a client.
fn masked_text(payload: &[u8]) -> Vec<u8> {
    let mask = [1u8, 2, 3, 4];
    let mut out = vec![0x81, 0x80 | payload.len() as u8];
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

#[tokio::test]
async fn a_frame_left_unfinished_is_closed_with_1008_a_slow_one_is_not() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start("ws_frame_timeout = 1", "").await;
    let frame = masked_text(br#"{"event":"pusher:ping","data":{}}"#);
    // Slow but complete within the bound: answered.
    let mut slow = server.client().await;
    let tcp = match slow.ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!("plain test server"),
    };
    tcp.write_all(&frame[..10]).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    tcp.write_all(&frame[10..]).await.unwrap();
    assert_eq!(slow.next().await["event"], "pusher:pong");
    // Started and never finished: closed.
    let mut stuck = server.client().await;
    let tcp = match stuck.ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!("plain test server"),
    };
    tcp.write_all(&frame[..10]).await.unwrap();
    assert_eq!(stuck.closed().await, Some(1008));
    // The slow one is still served.
    slow.send(json!({"event":"pusher:ping","data":{}})).await;
    assert_eq!(slow.next().await["event"], "pusher:pong");
}

/// A client frame's head with a 16-bit length: `first` is FIN and the opcode.
fn masked_head(first: u8, len: u16) -> Vec<u8> {
    let mut out = vec![first, 0x80 | 126];
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out
}

#[tokio::test]
async fn an_unfinished_message_is_closed_with_1008_however_many_pings_follow_it() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start("ws_frame_timeout = 1", "").await;
    let mut c = server.client().await;
    // A text message's first fragment (FIN=0; a zero mask, so the payload is as sent).
    let mut start = masked_head(0x01, 4000);
    start.extend(std::iter::repeat_n(b' ', 4000));
    plain_tcp(&mut c).write_all(&start).await.unwrap();
    let ping = [0x89, 0x80, 0, 0, 0, 0];
    let mut closed = None;
    for _ in 0..20 {
        // A WebSocket ping every 300 ms or so; its pong is skipped by `next_within`.
        // (Once the server has closed, the write may fail: the close frame is read below.)
        let _ = plain_tcp(&mut c).write_all(&ping).await;
        if let Seen::Closed(code) = c.next_within(300).await {
            closed = Some(code);
            break;
        }
    }
    assert_eq!(
        closed,
        Some(Some(1008)),
        "within 6 s of a 1 s frame deadline"
    );
}

fn plain_tcp(c: &mut Client) -> &mut tokio::net::TcpStream {
    match c.ws.get_mut() {
        tokio_tungstenite::MaybeTlsStream::Plain(s) => s,
        _ => unreachable!("plain test server"),
    }
}
