//! The health/metrics listener (Soketi's port 9601), Prometheus counters and the path prefix.

use crate::support::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

/// A server whose app has its own id, so the process-wide counters of other tests
/// (which all use `app-id`) do not mix in. Key and secret stay the defaults.
async fn server_with_app(id: &str, server: &str, app: &str) -> (Server, SocketAddr) {
    let text = format!(
        "[server]\nhost='127.0.0.1'\nport=0\n{server}\n[[apps]]\nid='{id}'\nkey='{KEY}'\nsecret='{SECRET}'\n{app}\n"
    );
    Server::with_metrics(&text).await
}

/// The value of `name{app_id="id",...}` in a Prometheus text body.
fn sample(text: &str, name: &str, app_id: &str) -> Option<f64> {
    let head = format!("{name}{{app_id=\"{app_id}\",");
    text.lines()
        .find(|l| l.starts_with(&head))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

async fn scrape(addr: SocketAddr) -> String {
    let (status, ctype, body) = get(addr, "/metrics").await;
    assert_eq!(status, 200, "{body}");
    assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
    body
}

/// Scrape until `name` for `app_id` has `value` (the server updates counters asynchronously).
async fn wait_for(addr: SocketAddr, name: &str, app_id: &str, value: f64) -> String {
    for _ in 0..50 {
        let text = scrape(addr).await;
        if sample(&text, name, app_id) == Some(value) {
            return text;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let text = scrape(addr).await;
    panic!("{name} for {app_id} never became {value}:\n{text}");
}

#[tokio::test]
async fn health_port_serves_ready_and_usage_but_metrics_only_when_enabled() {
    let (server, metrics) = server_with_app("m-health", "", "").await;
    assert_eq!(get(metrics, "/").await.2, "OK");
    assert_eq!(get(metrics, "/ready").await.0, 200);
    let (status, ctype, body) = get(metrics, "/usage").await;
    assert_eq!((status, ctype.as_str()), (200, "application/json"));
    let usage: Value = serde_json::from_str(&body).unwrap();
    let mem = &usage["memory"];
    let (used, total) = (
        mem["used"].as_u64().unwrap(),
        mem["total"].as_u64().unwrap(),
    );
    assert!(used > 0 && total >= used, "{usage}");
    assert_eq!(mem["free"].as_u64().unwrap(), total - used);
    assert!(mem["percent"].as_f64().unwrap() > 0.0);
    assert_eq!(get(metrics, "/metrics").await.0, 404);
    assert_eq!(get(metrics, "/app/app-key").await.0, 404);
    drop(server);
}

#[tokio::test]
async fn metrics_count_sockets_messages_and_api_calls_with_soketi_names() {
    let (server, metrics) = server_with_app(
        "m-count",
        "metrics_enabled = true\nmetrics_prefix = 'hx_'",
        "",
    )
    .await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe("news").await;
    let body = json!({"name":"e","data":"hello","channel":"news"}).to_string();
    let (status, _) = server.api("POST", "/apps/m-count/events", &[], &body).await;
    assert_eq!(status, 200);
    assert_eq!(a.next().await["event"], "e");
    b.ws.close(None).await.unwrap();
    let text = wait_for(metrics, "hx_new_disconnections_total", "m-count", 1.0).await;
    let at = |name: &str| sample(&text, name, "m-count").unwrap();
    assert_eq!(at("hx_connected"), 1.0);
    assert_eq!(at("hx_new_connections_total"), 2.0);
    assert_eq!(at("hx_ws_messages_received_total"), 1.0);
    // Two connection_established, one subscription_succeeded, one event.
    assert_eq!(at("hx_ws_messages_sent_total"), 4.0);
    assert!(at("hx_socket_received_bytes") > 40.0);
    assert!(at("hx_socket_transmitted_bytes") > 100.0);
    assert_eq!(at("hx_http_calls_received_total"), 1.0);
    assert_eq!(at("hx_http_received_bytes"), body.len() as f64);
    assert_eq!(at("hx_http_transmitted_bytes"), 2.0); // `{}`
    assert!(text.contains("# TYPE hx_connected gauge"));
    assert!(text.contains("hx_new_connections_total{app_id=\"m-count\",port=\"0\"} 2"));
    let rss = text
        .lines()
        .find(|l| l.starts_with("hx_process_resident_memory_bytes{port="))
        .unwrap();
    assert!(rss.rsplit(' ').next().unwrap().parse::<f64>().unwrap() > 0.0);
    assert!(text.contains("hx_process_cpu_seconds_total{port=\"0\"}"));
}

#[tokio::test]
async fn refused_sockets_never_move_the_connected_gauge() {
    let (server, metrics) =
        server_with_app("m-quota", "metrics_enabled = true", "max_connections = 1").await;
    let mut first = server.client().await;
    let mut second = server.raw_client(KEY).await;
    assert_eq!(second.closed().await, Some(4004));
    let mut unknown = server.raw_client("no-such-key").await;
    assert_eq!(unknown.closed().await, Some(4001));
    let text = scrape(metrics).await;
    assert_eq!(sample(&text, "soketi_connected", "m-quota"), Some(1.0));
    assert_eq!(
        sample(&text, "soketi_new_connections_total", "m-quota"),
        Some(1.0)
    );
    first.ws.close(None).await.unwrap();
    let text = wait_for(metrics, "soketi_connected", "m-quota", 0.0).await;
    assert_eq!(
        sample(&text, "soketi_new_disconnections_total", "m-quota"),
        Some(1.0)
    );
    assert!(!text.contains("no-such-key"));
}

#[tokio::test]
async fn slow_consumers_closed_with_4100_are_counted() {
    let (server, metrics) =
        server_with_app("m-slow", "metrics_enabled = true\nsocket_queue = 1", "").await;
    let mut c = server.client().await;
    c.subscribe("firehose").await;
    // While the client reads nothing, the kernel's buffers fill up (the send
    // buffer to its maximum; the receive buffer does not grow without reads),
    // then the one-frame outbox, then the server gives up on the socket. The
    // client must start reading within the 2 s close grace after that, so send
    // only 2 MB more than the send buffer holds (not a fixed 20 MB, whose tail
    // took longer than the grace on a loaded box).
    let data = "x".repeat(90 * 1024);
    let body = json!({"name":"e","data":data,"channel":"firehose"}).to_string();
    let send_buffer = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_wmem")
        .ok()
        .and_then(|t| t.split_whitespace().nth(2)?.parse::<usize>().ok())
        .unwrap_or(4 << 20);
    for _ in 0..(send_buffer + (2 << 20)) / body.len() + 1 {
        server.api("POST", "/apps/m-slow/events", &[], &body).await;
    }
    assert_eq!(c.closed().await, Some(4100));
    wait_for(
        metrics,
        "soketi_socket_queue_full_closes_total",
        "m-slow",
        1.0,
    )
    .await;
}

#[tokio::test]
async fn readiness_on_the_health_port_turns_503_when_draining() {
    let (mut server, metrics) = server_with_app("m-drain", "", "").await;
    assert_eq!(get(metrics, "/ready").await.0, 200);
    server.stop();
    let mut status = 0;
    for _ in 0..50 {
        status = get(metrics, "/ready").await.0;
        if status == 503 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(status, 503);
    assert_eq!(get(metrics, "/").await.0, 200);
}

#[tokio::test]
async fn path_prefix_applies_to_every_route_and_not_to_signatures() {
    let (server, metrics) = server_with_app(
        "m-prefix",
        "path_prefix = '/realtime/'\nmetrics_enabled = true",
        "",
    )
    .await;
    assert_eq!(get(metrics, "/realtime/ready").await.0, 200);
    assert_eq!(get(metrics, "/realtime/metrics").await.0, 200);
    assert_eq!(get(metrics, "/ready").await.0, 404);
    assert_eq!(
        server.http_text("GET", "/realtime", "").await,
        (200, "OK".into())
    );
    assert_eq!(server.http_text("GET", "/ready", "").await.0, 404);
    assert_eq!(server.http_text("GET", "/realtimeready", "").await.0, 404);
    let url = format!("ws://{}/realtime/app/{KEY}?protocol=7", server.addr);
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut c = Client {
        ws,
        socket_id: String::new(),
    };
    c.expect("pusher:connection_established").await;
    c.subscribe("prefixed").await;
    // The SDK signs the path without its configured prefix.
    let body = json!({"name":"e","data":"1","channel":"prefixed"}).to_string();
    let query = signed_query("POST", "/apps/m-prefix/events", &[], &body, SECRET, now());
    let uri = format!("/realtime/apps/m-prefix/events?{query}");
    assert_eq!(server.http("POST", &uri, &body).await.0, 200);
    assert_eq!(c.next().await["event"], "e");
    let unprefixed = format!("/apps/m-prefix/events?{query}");
    assert_eq!(server.http("POST", &unprefixed, &body).await.0, 404);
}

/// A client that never reads again: its queue overflows and the node lets go
/// of it (counted as a 4100 close, its connection gone) without waiting for it.
#[tokio::test]
async fn a_reader_that_never_resumes_is_let_go_of() {
    let (server, metrics) =
        server_with_app("m-stall", "metrics_enabled = true\nsocket_queue = 4", "").await;
    let mut c = server.client().await;
    c.subscribe("firehose").await;
    let data = "x".repeat(90 * 1024);
    let body = json!({"name":"e","data":data,"channel":"firehose"}).to_string();
    for _ in 0..220 {
        server.api("POST", "/apps/m-stall/events", &[], &body).await;
    }
    // The client has read nothing since it subscribed.
    for _ in 0..75 {
        let text = scrape(metrics).await;
        let full = sample(&text, "soketi_socket_queue_full_closes_total", "m-stall");
        if full == Some(1.0) && sample(&text, "soketi_connected", "m-stall") == Some(0.0) {
            drop(c);
            return;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!(
        "the stalled socket is still held:\n{}",
        scrape(metrics).await
    );
}

/// What a server sends on `tcp` until it closes, or for `ms` at most.
async fn heard(tcp: &mut tokio::net::TcpStream, ms: u64) -> String {
    use tokio::io::AsyncReadExt;
    let (mut got, mut buf) = (Vec::new(), [0u8; 4096]);
    let until = tokio::time::Instant::now() + Duration::from_millis(ms);
    while let Ok(Ok(n @ 1..)) = tokio::time::timeout_at(until, tcp.read(&mut buf)).await {
        got.extend_from_slice(&buf[..n]);
    }
    String::from_utf8_lossy(&got).into_owned()
}

/// `GET /ready` on a connection of its own: what came back.
async fn ready(addr: SocketAddr) -> String {
    use tokio::io::AsyncWriteExt;
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let request = "GET /ready HTTP/1.1\r\nHost: herald\r\nConnection: close\r\n\r\n";
    let _ = tcp.write_all(request.as_bytes()).await;
    heard(&mut tcp, 2000).await
}

#[tokio::test]
async fn the_metrics_port_holds_at_most_its_cap_of_connections() {
    let (_s, metrics) = server_with_app("m-cap", "metrics_max_connections = 2", "").await;
    assert!(ready(metrics).await.starts_with("HTTP/1.1 200"));
    // Two connections that say nothing hold the port's two places...
    let mut quiet = Vec::new();
    for _ in 0..2 {
        quiet.push(tokio::net::TcpStream::connect(metrics).await.unwrap());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // ...so a third is closed unanswered...
    assert_eq!(ready(metrics).await, "", "a third connection was served");
    // ...until one of them leaves.
    drop(quiet.pop());
    let mut answer = String::new();
    for _ in 0..50 {
        answer = ready(metrics).await;
        if !answer.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_request_to_the_metrics_port_must_arrive_within_the_request_timeout() {
    use tokio::io::AsyncWriteExt;
    let (_s, metrics) = server_with_app("m-slow", "http_request_timeout = 1", "").await;
    let mut tcp = tokio::net::TcpStream::connect(metrics).await.unwrap();
    let started = tokio::time::Instant::now();
    // A head that never ends: one more header line every 200 ms.
    tcp.write_all(b"GET /ready HTTP/1.1\r\nHost: herald\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    for i in 0..20 {
        if tcp
            .write_all(format!("x-{i}: y\r\n").as_bytes())
            .await
            .is_err()
        {
            answer = heard(&mut tcp, 200).await;
            break;
        }
        answer = heard(&mut tcp, 200).await;
        if !answer.is_empty() {
            break;
        }
    }
    assert!(
        answer.starts_with("HTTP/1.1 408"),
        "{answer:?} after {:?}",
        started.elapsed()
    );
}
