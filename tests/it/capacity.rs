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
