//! TLS on the main port (`wss://`, HTTPS API) and `https://` webhooks, with a
//! certificate generated for each test and real rustls clients trusting it.

use crate::support::*;
use futures_util::{SinkExt, StreamExt};
use herald::auth;
use http_body_util::{BodyExt, Full};
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// A self-signed certificate for `localhost` and `127.0.0.1`, written as PEM files.
struct Certs {
    dir: std::path::PathBuf,
    cert: String,
    key: String,
    der: CertificateDer<'static>,
}

impl Certs {
    fn new(name: &str) -> Certs {
        let names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        let ck = rcgen::generate_simple_self_signed(names).unwrap();
        let dir = std::env::temp_dir().join(format!("herald-it-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert, ck.cert.pem()).unwrap();
        std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
        Certs {
            cert: cert.to_string_lossy().into_owned(),
            key: key.to_string_lossy().into_owned(),
            der: ck.cert.der().clone(),
            dir,
        }
    }

    /// `[server]` lines turning TLS on.
    fn toml(&self) -> String {
        format!("tls_cert = '{}'\ntls_key = '{}'", self.cert, self.key)
    }

    /// A client trusting only this certificate.
    fn connector(&self) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        TlsConnector::from(Arc::new(config))
    }

    async fn tls_stream(&self, addr: SocketAddr) -> TlsStream<TcpStream> {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let name = ServerName::try_from("localhost").unwrap();
        self.connector().connect(name, tcp).await.unwrap()
    }

    /// A `wss://` socket that has read `pusher:connection_established`.
    async fn wss(&self, addr: SocketAddr, path: &str) -> Wss {
        let stream = self.tls_stream(addr).await;
        let url = format!(
            "wss://localhost:{}{path}/app/{KEY}?protocol=7&client=js&version=8.4.0",
            addr.port()
        );
        let (ws, _) = tokio_tungstenite::client_async(url, stream).await.unwrap();
        let mut wss = Wss(ws);
        assert_eq!(wss.next().await["event"], "pusher:connection_established");
        wss
    }

    /// A signed API request over HTTPS; status and JSON body.
    async fn api(&self, addr: SocketAddr, path: &str, body: &str) -> (u16, Value) {
        let query = signed_query("POST", path, &[], body, SECRET, now());
        let io = hyper_util::rt::TokioIo::new(self.tls_stream(addr).await);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::post(format!("{path}?{query}"))
            .header("host", format!("localhost:{}", addr.port()))
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }
}

impl Drop for Certs {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

struct Wss(WebSocketStream<TlsStream<TcpStream>>);

impl Wss {
    async fn next(&mut self) -> Value {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(3), self.0.next()).await;
            match frame.expect("no frame within 3 s") {
                Some(Ok(Message::Text(t))) => return serde_json::from_str(&t).unwrap(),
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                other => panic!("expected a text frame, saw {other:?}"),
            }
        }
    }

    async fn subscribe(&mut self, channel: &str) {
        let msg = json!({"event":"pusher:subscribe","data":{"auth":"","channel":channel}});
        self.0.send(Message::text(msg.to_string())).await.unwrap();
        let ok = self.next().await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    }
}

#[tokio::test]
async fn wss_connects_and_an_https_publish_is_delivered() {
    let certs = Certs::new("publish");
    let server = Server::start(&certs.toml(), "").await;
    let mut ws = certs.wss(server.addr, "").await;
    ws.subscribe("news").await;
    let body = json!({"name":"flash","channel":"news","data":"{\"n\":1}"}).to_string();
    let (status, answer) = certs
        .api(server.addr, &format!("/apps/{APP_ID}/events"), &body)
        .await;
    assert_eq!((status, answer), (200, json!({})));
    let event = ws.next().await;
    assert_eq!(event["event"], "flash");
    assert_eq!(event["channel"], "news");
    assert_eq!(event["data"], "{\"n\":1}");
}

#[tokio::test]
async fn plain_http_to_the_tls_port_gets_no_http_answer() {
    let certs = Certs::new("plain");
    let server = Server::start(&certs.toml(), "").await;
    let mut tcp = TcpStream::connect(server.addr).await.unwrap();
    tcp.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(3), tcp.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "the server kept a plain-HTTP connection open");
    assert!(!answer.starts_with(b"HTTP/"), "{answer:?}");
    // The port still serves TLS clients afterwards.
    certs.wss(server.addr, "").await;
}

#[tokio::test]
async fn a_stalled_handshake_does_not_hold_up_other_clients() {
    let certs = Certs::new("stalled");
    let server = Server::start(&certs.toml(), "").await;
    let _silent = TcpStream::connect(server.addr).await.unwrap();
    let connect = certs.wss(server.addr, "");
    tokio::time::timeout(Duration::from_secs(3), connect)
        .await
        .expect("a silent client blocked the accept loop");
}

/// The binary with only these `SOKETI_*` variables (and a quiet log).
fn herald(vars: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_herald"));
    for (name, _) in std::env::vars() {
        if name.starts_with("HERALD_") || name.starts_with("SOKETI_") {
            cmd.env_remove(name);
        }
    }
    cmd.env("HERALD_LOG", "warn").envs(vars.iter().copied());
    cmd
}

#[tokio::test]
async fn the_binary_serves_wss_from_soketi_ssl_variables() {
    let certs = Certs::new("binary");
    let port = free_port().to_string();
    let mut child = herald(&[
        ("SOKETI_HOST", "127.0.0.1"),
        ("SOKETI_PORT", &port),
        ("SOKETI_METRICS_SERVER_PORT", &free_port().to_string()),
        ("SOKETI_SSL_CERT", &certs.cert),
        ("SOKETI_SSL_KEY", &certs.key),
    ])
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    for _ in 0..100 {
        if TcpStream::connect(addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    certs.wss(addr, "").await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn a_missing_certificate_stops_the_start_with_one_line() {
    let certs = Certs::new("missing");
    let out = herald(&[
        ("SOKETI_PORT", &free_port().to_string()),
        ("SOKETI_SSL_CERT", "/nonexistent/cert.pem"),
        ("SOKETI_SSL_KEY", &certs.key),
    ])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("cannot read TLS certificate /nonexistent/cert.pem"),
        "{stderr}"
    );
    // `config check` reads the files too; a key that is not a key is named.
    let out = herald(&[
        ("SOKETI_SSL_CERT", &certs.cert),
        ("SOKETI_SSL_KEY", &certs.cert),
    ])
    .args(["config", "check"])
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no PEM PRIVATE KEY"), "{stderr}");
    assert!(stderr.contains(&certs.cert), "{stderr}");
}

/// A one-shot HTTPS webhook endpoint: the body and signature of the first request.
async fn https_receiver(
    certs: &Certs,
) -> (SocketAddr, tokio::sync::mpsc::Receiver<(String, String)>) {
    let files = herald::config::Tls {
        cert: certs.cert.clone(),
        key: certs.key.clone(),
        passphrase: None,
    };
    let acceptor = herald::tls::acceptor(&files).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let Ok(stream) = acceptor.accept(tcp).await else {
                continue;
            };
            let tx = tx.clone();
            let service =
                hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let tx = tx.clone();
                    async move {
                        let signature = req.headers()["x-pusher-signature"]
                            .to_str()
                            .unwrap()
                            .to_string();
                        let body = req.into_body().collect().await.unwrap().to_bytes();
                        let _ = tx
                            .send((String::from_utf8_lossy(&body).into_owned(), signature))
                            .await;
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            bytes::Bytes::from_static(b"{}"),
                        )))
                    }
                });
            let io = hyper_util::rt::TokioIo::new(stream);
            tokio::spawn(hyper::server::conn::http1::Builder::new().serve_connection(io, service));
        }
    });
    (addr, rx)
}

#[tokio::test]
async fn https_webhooks_are_delivered_signed_to_a_receiver_trusted_through_the_ca_file() {
    let certs = Certs::new("webhook");
    let (receiver, mut hits) = https_receiver(&certs).await;
    let server_lines = format!("webhook_ca_file = '{}'", certs.cert);
    let app = format!(
        "[[apps.webhooks]]\nurl = 'https://localhost:{}/pusher/webhooks'\nevent_types = ['channel_occupied']\n",
        receiver.port()
    );
    let server = Server::start(&server_lines, &app).await;
    let mut c = server.client().await;
    c.subscribe("news").await;
    let (body, signature) = tokio::time::timeout(Duration::from_secs(5), hits.recv())
        .await
        .expect("no webhook within 5 s")
        .unwrap();
    assert_eq!(signature, auth::sign(SECRET, &body));
    let body: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        body["events"],
        json!([{"name":"channel_occupied","channel":"news"}])
    );
}

#[tokio::test]
async fn https_webhooks_are_not_sent_to_a_certificate_nobody_trusts() {
    let certs = Certs::new("untrusted");
    let (receiver, mut hits) = https_receiver(&certs).await;
    let app = format!(
        "[[apps.webhooks]]\nurl = 'https://localhost:{}/pusher/webhooks'\nevent_types = ['channel_occupied']\n",
        receiver.port()
    );
    let server = Server::start("webhook_retry_for_secs = 0", &app).await;
    let mut c = server.client().await;
    c.subscribe("news").await;
    let hit = tokio::time::timeout(Duration::from_millis(800), hits.recv()).await;
    assert!(hit.is_err(), "delivered to an untrusted certificate");
}
