//! The HTTP API: publishing, queries, signatures and limits.

use crate::support::*;
use serde_json::{json, Value};

fn events() -> String {
    format!("/apps/{APP_ID}/events")
}

#[tokio::test]
async fn publish_answers_empty_object_and_excludes_socket_id() {
    let server = Server::start("", "").await;
    let mut me = server.client().await;
    let mut other = server.client().await;
    me.subscribe("orders").await;
    other.subscribe("orders").await;
    let body =
        json!({"name":"OrderShipped","data":"{}","channels":["orders"],"socket_id":me.socket_id})
            .to_string();
    let (status, res) = server.api("POST", &events(), &[], &body).await;
    assert_eq!((status, res), (200, json!({})));
    assert_eq!(other.next().await["event"], "OrderShipped");
    me.silent(200).await;
}

#[tokio::test]
async fn data_survives_byte_for_byte() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    c.subscribe("bytes").await;
    // PHP's json_encode output: escaped slashes and unicode escapes, inside the data string.
    let body = r#"{"name":"App\\Events\\Msg","data":"{\"url\":\"https:\\/\\/x.test\\/a\",\"t\":\"\\u00e9\\u20ac \\\\ \u00e9\"}","channel":"bytes"}"#;
    let (status, _) = server.api("POST", &events(), &[], body).await;
    assert_eq!(status, 200);
    let raw = c.next_text().await;
    let sent_data = &body[body.find("\"data\":").unwrap() + 7..body.find(",\"channel\"").unwrap()];
    assert!(
        raw.contains(sent_data),
        "{raw} does not contain {sent_data}"
    );
    assert!(raw.starts_with(r#"{"event":"App\\Events\\Msg","#), "{raw}");
    let big = "é".repeat(45_000);
    let (status, _) = server.publish("bytes", "big", &big).await;
    assert_eq!(status, 200);
    assert_eq!(c.next().await["data"], Value::String(big));
}

#[tokio::test]
async fn publish_to_many_channels_and_batches() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    c.subscribe("c-99").await;
    let channels: Vec<String> = (0..100).map(|i| format!("c-{i}")).collect();
    let body = json!({"name":"e","data":"1","channels":channels}).to_string();
    assert_eq!(server.api("POST", &events(), &[], &body).await.0, 200);
    assert_eq!(c.next().await["channel"], "c-99");
    let too_many: Vec<String> = (0..101).map(|i| format!("c-{i}")).collect();
    let body = json!({"name":"e","data":"1","channels":too_many}).to_string();
    let (status, err) = server.api("POST", &events(), &[], &body).await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().unwrap().contains("100 channels"));

    let batch = format!("/apps/{APP_ID}/batch_events");
    let items: Vec<Value> = (0..3)
        .map(|i| json!({"name":"b","data":i.to_string(),"channel":"c-99"}))
        .collect();
    let (status, res) = server
        .api("POST", &batch, &[], &json!({"batch":items}).to_string())
        .await;
    assert_eq!((status, res), (200, json!({})));
    for i in 0..3 {
        assert_eq!(c.next().await["data"], i.to_string());
    }
    let items: Vec<Value> = (0..11)
        .map(|_| json!({"name":"b","data":"x","channel":"c-99"}))
        .collect();
    let (status, _) = server
        .api("POST", &batch, &[], &json!({"batch":items}).to_string())
        .await;
    assert_eq!(status, 400);
    // One bad item: nothing is sent.
    let items =
        json!({"batch":[{"name":"b","data":"ok","channel":"c-99"},{"name":"b","channel":"c-99"}]});
    let (status, _) = server.api("POST", &batch, &[], &items.to_string()).await;
    assert_eq!(status, 400);
    c.silent(200).await;
}

#[tokio::test]
async fn info_attributes_on_publish() {
    let server = Server::start("", "").await;
    let mut p = server.client().await;
    p.subscribe_presence("presence-a", r#"{"user_id":"1"}"#)
        .await;
    let mut s = server.client().await;
    s.subscribe("pub").await;
    let body = json!({"name":"e","data":"1","channels":["presence-a","pub"],"info":"user_count,subscription_count"});
    let (status, res) = server.api("POST", &events(), &[], &body.to_string()).await;
    assert_eq!(status, 200);
    assert_eq!(
        res,
        json!({"channels":{"presence-a":{"user_count":1,"subscription_count":1},"pub":{"subscription_count":1}}})
    );
    let batch = json!({"batch":[{"name":"e","data":"1","channel":"pub","info":"subscription_count"},{"name":"e","data":"1","channel":"none"}]});
    let (_, res) = server
        .api(
            "POST",
            &format!("/apps/{APP_ID}/batch_events"),
            &[],
            &batch.to_string(),
        )
        .await;
    assert_eq!(res, json!({"batch":[{"subscription_count":1},{}]}));
}

#[tokio::test]
async fn channel_queries() {
    let server = Server::start("", "").await;
    let mut a = server.client().await;
    a.subscribe("news").await;
    a.subscribe_presence("presence-lobby", r#"{"user_id":5}"#)
        .await;
    let path = format!("/apps/{APP_ID}/channels");
    let (status, all) = server.api("GET", &path, &[], "").await;
    assert_eq!(
        (status, all),
        (200, json!({"channels":{"news":{},"presence-lobby":{}}}))
    );
    let (_, filtered) = server
        .api(
            "GET",
            &path,
            &[("filter_by_prefix", "presence-"), ("info", "user_count")],
            "",
        )
        .await;
    assert_eq!(
        filtered,
        json!({"channels":{"presence-lobby":{"user_count":1}}})
    );
    let (status, _) = server
        .api("GET", &path, &[("info", "user_count")], "")
        .await;
    assert_eq!(status, 400);
    let (_, one) = server
        .api(
            "GET",
            &format!("{path}/news"),
            &[("info", "subscription_count")],
            "",
        )
        .await;
    assert_eq!(one, json!({"occupied":true,"subscription_count":1}));
    let (_, empty) = server.api("GET", &format!("{path}/nobody"), &[], "").await;
    assert_eq!(empty, json!({"occupied":false}));
    let (_, users) = server
        .api("GET", &format!("{path}/presence-lobby/users"), &[], "")
        .await;
    assert_eq!(users, json!({"users":[{"id":5}]}));
    let (status, _) = server
        .api("GET", &format!("{path}/news/users"), &[], "")
        .await;
    assert_eq!(status, 400);
    server.publish("cache-c", "e", "\"v\"").await;
    let (_, cache) = server
        .api("GET", &format!("{path}/cache-c"), &[("info", "cache")], "")
        .await;
    assert_eq!(cache["cache"]["data"], "\"v\"");
    assert!(cache["cache"]["ttl"].as_u64().unwrap() > 1700);
}

#[tokio::test]
async fn php_style_encoded_query_values_verify() {
    let server = Server::start("", "").await;
    let path = format!("/apps/{APP_ID}/channels");
    // Sign the decoded value, send it percent-encoded, as pusher-http-php does.
    let query = signed_query(
        "GET",
        &path,
        &[("filter_by_prefix", "presence-"), ("info", "user_count")],
        "",
        SECRET,
        now(),
    );
    let encoded = query
        .replace("user_count", "user%5Fcount")
        .replace("presence-", "presence%2D");
    let (status, body) = server.http("GET", &format!("{path}?{encoded}"), "").await;
    assert_eq!(status, 200, "{body}");
    // GET with body_md5 of the empty body is accepted.
    let query = signed_query(
        "GET",
        &path,
        &[("body_md5", "d41d8cd98f00b204e9800998ecf8427e")],
        "",
        SECRET,
        now(),
    );
    assert_eq!(
        server.http("GET", &format!("{path}?{query}"), "").await.0,
        200
    );
}

#[tokio::test]
async fn signature_errors_are_401_and_say_why() {
    let server = Server::start("", "").await;
    let body = json!({"name":"e","data":"1","channel":"x"}).to_string();
    let path = events();
    let wrong = signed_query("POST", &path, &[], &body, "not-the-secret", now());
    let (status, err) = server.http("POST", &format!("{path}?{wrong}"), &body).await;
    assert_eq!(status, 401);
    let msg = err["error"].as_str().unwrap();
    assert!(
        msg.contains("Invalid signature")
            && msg.contains("POST\\n/apps/app-id/events\\nauth_key=app-key"),
        "{msg}"
    );
    let stale = signed_query("POST", &path, &[], &body, SECRET, now() - 601);
    let (status, err) = server.http("POST", &format!("{path}?{stale}"), &body).await;
    assert_eq!(status, 401);
    assert!(err["error"].as_str().unwrap().contains("Timestamp expired"));
    let ok = signed_query("POST", &path, &[], &body, SECRET, now());
    let tampered = body.replace("\"1\"", "\"2\"");
    let (status, err) = server
        .http("POST", &format!("{path}?{ok}"), &tampered)
        .await;
    assert_eq!(status, 401);
    assert!(err["error"].as_str().unwrap().contains("body_md5"));
    let (status, _) = server.http("POST", &format!("{path}?name=x"), &body).await;
    assert_eq!(status, 401);
}

#[tokio::test]
async fn limits_and_unknown_apps() {
    let server = Server::start("max_request_size_kb = 300", "").await;
    let big = "x".repeat(101 * 1024);
    let (status, err) = server.publish("x", "e", &big).await;
    assert_eq!(status, 413);
    assert!(err["error"].as_str().unwrap().contains("100 KB"));
    let huge = json!({"name":"e","data":"x".repeat(400 * 1024),"channel":"x"}).to_string();
    assert_eq!(server.api("POST", &events(), &[], &huge).await.0, 413);
    let long_name = json!({"name":"e".repeat(201),"data":"1","channel":"x"}).to_string();
    assert_eq!(server.api("POST", &events(), &[], &long_name).await.0, 400);
    let (status, err) = server.api("POST", "/apps/nope/events", &[], "{}").await;
    assert_eq!(status, 404);
    assert!(err["error"].as_str().unwrap().contains("nope"));
    let two_encrypted =
        json!({"name":"e","data":"1","channels":["private-encrypted-a","b"]}).to_string();
    assert_eq!(
        server.api("POST", &events(), &[], &two_encrypted).await.0,
        400
    );
    let bad_socket = json!({"name":"e","data":"1","channel":"a","socket_id":"abc"}).to_string();
    assert_eq!(server.api("POST", &events(), &[], &bad_socket).await.0, 400);
    let (status, err) = server.api("POST", &events(), &[], "not json").await;
    assert_eq!(status, 400);
    assert!(err["error"].is_string());
}

/// A client that connects and never sends a request, or keeps an idle
/// keep-alive connection, does not hold a descriptor forever.
#[tokio::test]
async fn silent_and_idle_http_connections_are_closed() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = Server::start("http_idle_timeout = 1", "").await;
    let closed_within = |mut s: tokio::net::TcpStream| async move {
        let mut buf = vec![0; 4096];
        let start = std::time::Instant::now();
        loop {
            let read = tokio::time::timeout(std::time::Duration::from_secs(4), s.read(&mut buf));
            match read.await {
                Ok(Ok(0)) | Ok(Err(_)) => return start.elapsed(),
                Ok(Ok(_)) => continue,
                Err(_) => panic!("still open after 4 s"),
            }
        }
    };
    let silent = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    let waited = closed_within(silent).await;
    assert!(
        waited >= std::time::Duration::from_millis(900),
        "{waited:?}"
    );
    let mut kept = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut answer = vec![0; 1024];
    let n = kept.read(&mut answer).await.unwrap();
    assert!(
        answer[..n].starts_with(b"HTTP/1.1 200"),
        "{:?}",
        &answer[..n]
    );
    closed_within(kept).await;
}

/// Everything the server sends until it closes (or `secs` pass: then `None`).
async fn read_until_closed(s: &mut tokio::net::TcpStream, secs: u64) -> Option<String> {
    use tokio::io::AsyncReadExt;
    let mut got = Vec::new();
    let mut buf = vec![0; 4096];
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return Some(String::from_utf8_lossy(&got).into()),
            Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
            Err(_) => return None,
        }
    }
}

/// Slow HTTP: a body trickled a byte at a time, or a head that never ends,
/// gets 408 and a closed connection once the whole request is overdue, while
/// quiet keep-alive connections keep the longer idle timeout and a request
/// that is slow but in time is served.
#[tokio::test]
async fn slow_requests_get_408_and_are_closed() {
    use tokio::io::AsyncWriteExt;
    let server = Server::start("http_request_timeout = 1\nhttp_idle_timeout = 10", "").await;
    let body = format!(
        r#"{{"name":"e","channel":"c","data":"{}"}}"#,
        "x".repeat(50)
    );
    let query = signed_query(
        "POST",
        &format!("/apps/{APP_ID}/events"),
        &[],
        &body,
        SECRET,
        now(),
    );
    let head = format!(
        "POST /apps/{APP_ID}/events?{query} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    // The body trickles: one byte every 200 ms.
    let mut trickle = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    trickle.write_all(head.as_bytes()).await.unwrap();
    let writer = async {
        for b in body.as_bytes() {
            if trickle.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    };
    let _ = tokio::time::timeout(std::time::Duration::from_millis(1500), writer).await;
    let answer = read_until_closed(&mut trickle, 3).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    // The head never ends.
    let mut half = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    half.write_all(&head.as_bytes()[..30]).await.unwrap();
    let answer = read_until_closed(&mut half, 3).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
    // Slow but within the bound: served, and the connection stays for the next.
    let mut slow = tokio::net::TcpStream::connect(server.addr).await.unwrap();
    slow.write_all(head.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    slow.write_all(body.as_bytes()).await.unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    slow.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut slow, 3).await.expect("closed");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert_eq!(answer.matches("HTTP/1.1 200").count(), 2, "{answer}");
}
