//! Soketi's per-app HTTP API rate limits: backend events (points = channels) and
//! channel queries, 429 with `X-RateLimit-*` and `Retry-After` headers.

use crate::support::*;
use http_body_util::{BodyExt, Full};
use serde_json::{json, Value};
use std::collections::HashMap;
use tokio::net::TcpStream;

/// A signed API request; status, lower-cased headers and JSON body.
async fn call(
    server: &Server,
    method: &str,
    path: &str,
    body: &str,
) -> (u16, HashMap<String, String>, Value) {
    let query = signed_query(method, path, &[], body, SECRET, now());
    let stream = TcpStream::connect(server.addr).await.unwrap();
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(format!("{path}?{query}"))
        .header("host", server.addr.to_string())
        .body(Full::new(bytes::Bytes::from(body.to_string())))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let headers = res
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap().to_string()))
        .collect();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

fn publish_body(channels: &[&str]) -> String {
    json!({"name":"e","data":"1","channels":channels}).to_string()
}

#[tokio::test]
async fn backend_events_cost_one_point_per_channel_and_answer_429_when_spent() {
    let server = Server::start("", "max_backend_events_per_sec = 5").await;
    let path = format!("/apps/{APP_ID}/events");
    let (status, h, _) = call(&server, "POST", &path, &publish_body(&["a", "b", "c"])).await;
    assert_eq!(status, 200);
    assert_eq!(h["x-ratelimit-limit"], "5");
    assert_eq!(h["x-ratelimit-remaining"], "2");
    let retry: f64 = h["retry-after"].parse().unwrap();
    assert!(retry > 0.0 && retry <= 1.0, "{retry}");
    let (status, h, body) = call(&server, "POST", &path, &publish_body(&["a", "b", "c"])).await;
    assert_eq!(status, 429);
    assert_eq!(body, json!({"error":"Too many requests.","code":429}));
    assert_eq!(h["x-ratelimit-remaining"], "2");
    assert!(h.contains_key("retry-after"));
    // Two points are still there for a smaller publish.
    let (status, _, _) = call(&server, "POST", &path, &publish_body(&["a", "b"])).await;
    assert_eq!(status, 200);
    let batch = json!({"batch":[{"name":"e","data":"1","channel":"x"}]}).to_string();
    let batch_path = format!("/apps/{APP_ID}/batch_events");
    assert_eq!(call(&server, "POST", &batch_path, &batch).await.0, 429);
    // Reads have their own (unlimited) budget.
    let channels = format!("/apps/{APP_ID}/channels");
    let (status, h, _) = call(&server, "GET", &channels, "").await;
    assert_eq!(status, 200);
    assert!(!h.contains_key("x-ratelimit-limit"));
    tokio::time::sleep(std::time::Duration::from_millis(1050)).await;
    assert_eq!(
        call(&server, "POST", &path, &publish_body(&["a"])).await.0,
        200
    );
}

#[tokio::test]
async fn channel_queries_are_limited_per_second() {
    let server = Server::start("max_read_req_per_sec = 2", "").await;
    let channels = format!("/apps/{APP_ID}/channels");
    let one = format!("/apps/{APP_ID}/channels/news");
    assert_eq!(call(&server, "GET", &channels, "").await.0, 200);
    let (status, h, _) = call(&server, "GET", &one, "").await;
    assert_eq!((status, h["x-ratelimit-remaining"].as_str()), (200, "0"));
    let (status, _, body) = call(&server, "GET", &channels, "").await;
    assert_eq!((status, body["code"].clone()), (429, json!(429)));
    // Publishing is not a read.
    let path = format!("/apps/{APP_ID}/events");
    assert_eq!(
        call(&server, "POST", &path, &publish_body(&["a"])).await.0,
        200
    );
}

#[tokio::test]
async fn limits_are_unlimited_by_default() {
    let server = Server::start("", "").await;
    let path = format!("/apps/{APP_ID}/events");
    for _ in 0..30 {
        let (status, h, _) = call(&server, "POST", &path, &publish_body(&["a", "b"])).await;
        assert_eq!(status, 200);
        assert!(!h.contains_key("x-ratelimit-limit"));
    }
}
