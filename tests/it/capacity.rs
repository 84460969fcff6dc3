//! Connection caps: the node-wide cap and the per-address cap turn strangers
//! away with what clients understand (4100, 503), never with a hang, and keep
//! the HTTP API reachable when WebSockets fill the node.

use crate::support::*;
use serde_json::json;
use std::time::Duration;

/// Retry `connect` until the node has let go of closed connections.
async fn eventually_connects(server: &Server) -> Client {
    for _ in 0..50 {
        let mut c = server.raw_client(KEY).await;
        let first = c.next().await;
        if first["event"] == "pusher:connection_established" {
            return c;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no room after the others left");
}

#[tokio::test]
async fn a_full_node_says_4100_and_503_but_still_takes_publishes() {
    let server = Server::start("max_node_connections = 2", "").await;
    let mut a = server.client().await;
    let b = server.client().await;
    a.subscribe("news").await;
    let mut third = server.raw_client(KEY).await;
    let err = third.expect("pusher:error").await;
    assert_eq!(err["data"]["code"], 4100);
    assert_eq!(third.closed().await, Some(4100));
    let (status, _) = server.http_text("GET", "/", "").await;
    assert_eq!(status, 503, "plain HTTP over the cap");
    // Signed API requests are served from the reserve.
    assert_eq!(server.publish("news", "e", "{}").await.0, 200);
    assert_eq!(a.expect("e").await["channel"], "news");
    drop(b);
    let mut again = eventually_connects(&server).await;
    again.subscribe("news").await;
    drop(a);
}

#[tokio::test]
async fn one_address_gets_its_share_and_another_address_its_own() {
    let server = Server::start("max_connections_per_ip = 2", "").await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = client_from(&server, [127, 0, 0, 1], None).await;
        assert_eq!(c.next().await["event"], "pusher:connection_established");
        held.push(c);
    }
    let mut over = client_from(&server, [127, 0, 0, 1], None).await;
    assert_eq!(over.expect("pusher:error").await["data"]["code"], 4100);
    assert_eq!(over.closed().await, Some(4100));
    let (status, _) = server.http_text("GET", "/", "").await;
    assert_eq!(status, 503, "HTTP from the same address");
    let mut other = client_from(&server, [127, 0, 0, 2], None).await;
    assert_eq!(other.next().await["event"], "pusher:connection_established");
    other.send(json!({"event":"pusher:ping","data":{}})).await;
    assert_eq!(other.next().await["event"], "pusher:pong");
}

const UPGRADE: &str =
    "GET /app/app-key?protocol=7&client=js&version=8.4.0 HTTP/1.1\r\nHost: herald\r\n\
    Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n";

/// What the server sends on `tcp` until it closes, or for `ms` at most.
async fn heard(tcp: &mut tokio::net::TcpStream, ms: u64) -> String {
    use tokio::io::AsyncReadExt;
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    let until = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Ok(n @ 1..)) = tokio::time::timeout_at(until, tcp.read(&mut buf)).await {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// A keep-alive connection asks for `/app/app-key` without `Upgrade` (400),
/// then upgrades on the same connection: whether it became a socket.
async fn sneak_in(server: &Server) -> bool {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let plain = "GET /app/app-key?protocol=7 HTTP/1.1\r\nHost: herald\r\n\r\n";
    tcp.write_all(plain.as_bytes()).await.unwrap();
    let refused = heard(&mut tcp, 500).await;
    assert!(refused.starts_with("HTTP/1.1 400"), "{refused}");
    // Written into a closed connection, this may fail: then it is not a socket either.
    let _ = tcp.write_all(UPGRADE.as_bytes()).await;
    heard(&mut tcp, 1000)
        .await
        .contains("pusher:connection_established")
}

#[tokio::test]
async fn a_refused_request_closes_its_connection_so_no_upgrade_slips_past_a_cap() {
    for cap in ["max_connections_per_ip = 3", "max_node_connections = 3"] {
        let server = Server::start(cap, "").await;
        let mut held = vec![server.client().await, server.client().await];
        // Under the cap: refused once, the connection is closed, not reused.
        assert!(!sneak_in(&server).await, "{cap}: a third socket uncounted");
        held.push(eventually_connects(&server).await);
        let mut over = 0;
        for _ in 0..5 {
            over += usize::from(sneak_in(&server).await);
        }
        assert_eq!(over, 0, "{cap}: sockets admitted over the cap of 3");
        let mut fourth = server.raw_client(KEY).await;
        assert_eq!(fourth.expect("pusher:error").await["data"]["code"], 4100);
        // Those three still hold their places.
        for c in &mut held {
            c.send(json!({"event":"pusher:ping","data":{}})).await;
            assert_eq!(c.next().await["event"], "pusher:pong");
        }
    }
}
