//! Per-app `allowed_origins`: the upgrade's `Origin` host must match a glob.

use crate::support::*;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;

const APP: &str = r#"allowed_origins = ["*.example.com", "app.test"]"#;

/// Connect with an optional `Origin` header.
async fn connect(server: &Server, origin: Option<&str>) -> Client {
    let url = format!("ws://{}/app/{KEY}?protocol=7", server.addr);
    let mut req = url.into_client_request().unwrap();
    if let Some(o) = origin {
        req.headers_mut()
            .insert("origin", HeaderValue::from_str(o).unwrap());
    }
    let (ws, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    Client {
        ws,
        socket_id: String::new(),
    }
}

async fn assert_admitted(server: &Server, origin: Option<&str>) {
    let mut c = connect(server, origin).await;
    c.expect("pusher:connection_established").await;
}

#[tokio::test]
async fn listed_origin_is_admitted() {
    let server = Server::start("", APP).await;
    assert_admitted(&server, Some("http://app.test:3000")).await;
    assert_admitted(&server, Some("https://APP.test")).await;
}

#[tokio::test]
async fn wildcard_matches_subdomains_only() {
    let server = Server::start("", APP).await;
    assert_admitted(&server, Some("https://www.example.com")).await;
    assert_admitted(&server, Some("https://a.b.example.com/path")).await;
    let mut c = connect(&server, Some("https://example.com.evil.org")).await;
    let err = c.next().await;
    assert_eq!(err["event"], "pusher:error");
    assert_eq!(c.closed().await, Some(4009));
}

#[tokio::test]
async fn other_origin_gets_4009() {
    let app = format!("{APP}\nmax_connections = 1");
    let server = Server::start("", &app).await;
    let mut c = connect(&server, Some("https://evil.test")).await;
    let err = c.next().await;
    assert_eq!(err["event"], "pusher:error");
    assert_eq!(err["data"]["code"], 4009);
    assert_eq!(err["data"]["message"], "Origin not allowed");
    assert_eq!(c.closed().await, Some(4009));
    // The refused socket took no connection slot (max_connections = 1).
    assert_admitted(&server, Some("https://app.test")).await;
}

#[tokio::test]
async fn missing_origin_header_is_allowed() {
    let server = Server::start("", APP).await;
    assert_admitted(&server, None).await;
}

#[tokio::test]
async fn no_list_allows_every_origin() {
    let server = Server::start("", "").await;
    assert_admitted(&server, Some("https://anything.example.org")).await;
}
