//! Test helpers: a real server on port 0, a real WebSocket client, signed HTTP requests.

use futures_util::{SinkExt, StreamExt};
use herald::auth;
use herald::config::RawConfig;
use herald::node::Node;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::oneshot;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub const KEY: &str = "app-key";
pub const SECRET: &str = "app-secret";
pub const APP_ID: &str = "app-id";

pub struct Server {
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Start with the default app plus `server` settings and `app` fields (TOML lines).
    pub async fn start(server: &str, app: &str) -> Server {
        let text = format!(
            "[server]\nhost='127.0.0.1'\nport=0\n{server}\n[[apps]]\nid='{APP_ID}'\nkey='{KEY}'\nsecret='{SECRET}'\n{app}\n"
        );
        Server::from_toml(&text).await
    }

    pub async fn from_toml(text: &str) -> Server {
        let config = RawConfig::parse_toml("test", text)
            .unwrap()
            .build()
            .unwrap();
        let listener = herald::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = listener.local_addr().unwrap();
        let tls = config
            .server
            .tls
            .as_ref()
            .map(|t| herald::tls::acceptor(t).unwrap());
        let node = Node::new(config).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(herald::server::run(listener, tls, node, async move {
            let _ = rx.await;
        }));
        Server {
            addr,
            stop: Some(tx),
            task,
        }
    }

    /// A server running in another process.
    pub fn external(addr: SocketAddr) -> Server {
        Server {
            addr,
            stop: None,
            task: tokio::spawn(async {}),
        }
    }

    /// Begin a graceful shutdown.
    pub fn stop(&mut self) {
        if let Some(tx) = self.stop.take() {
            let _ = tx.send(());
        }
    }

    pub async fn client(&self) -> Client {
        self.client_for(KEY).await
    }

    /// Connect and read `connection_established`.
    pub async fn client_for(&self, key: &str) -> Client {
        let mut c = self.raw_client(key).await;
        let msg = c.expect("pusher:connection_established").await;
        let data: Value = serde_json::from_str(msg["data"].as_str().unwrap()).unwrap();
        c.socket_id = data["socket_id"].as_str().unwrap().to_string();
        c
    }

    pub async fn raw_client(&self, key: &str) -> Client {
        let url = format!(
            "ws://{}/app/{key}?protocol=7&client=js&version=8.4.0&flash=false",
            self.addr
        );
        let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        Client {
            ws,
            socket_id: String::new(),
        }
    }

    /// A signed API request; returns status and JSON body.
    pub async fn api(
        &self,
        method: &str,
        path: &str,
        params: &[(&str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let query = signed_query(method, path, params, body, SECRET, now());
        self.http(method, &format!("{path}?{query}"), body).await
    }

    pub async fn publish(&self, channel: &str, event: &str, data: &str) -> (u16, Value) {
        let body = json!({ "name": event, "channel": channel, "data": data }).to_string();
        self.api("POST", &format!("/apps/{APP_ID}/events"), &[], &body)
            .await
    }

    /// A raw HTTP/1.1 request; returns status and JSON body (Null if not JSON).
    pub async fn http(&self, method: &str, uri: &str, body: &str) -> (u16, Value) {
        let (status, text) = self.http_text(method, uri, body).await;
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    pub async fn http_text(&self, method: &str, uri: &str, body: &str) -> (u16, String) {
        use http_body_util::{BodyExt, Full};
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let io = hyper_util::rt::TokioIo::new(stream);
        let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
        tokio::spawn(conn);
        let req = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header("host", self.addr.to_string())
            .header("content-type", "application/json")
            .body(Full::new(bytes::Bytes::from(body.to_string())))
            .unwrap();
        let res = sender.send_request(req).await.unwrap();
        let status = res.status().as_u16();
        let bytes = res.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Like `from_toml`, plus the health/metrics listener on its own port 0,
    /// whose address is returned too. Both stop when the server is dropped;
    /// `task` never finishes on its own.
    pub async fn with_metrics(text: &str) -> (Server, SocketAddr) {
        let config = RawConfig::parse_toml("test", text)
            .unwrap()
            .build()
            .unwrap();
        let listener = herald::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let metrics = herald::server::bind("127.0.0.1:0".parse().unwrap()).unwrap();
        let (addr, metrics_addr) = (
            listener.local_addr().unwrap(),
            metrics.local_addr().unwrap(),
        );
        let node = Node::new(config).unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let health = herald::health::run(metrics, node.clone());
        let main = herald::server::run(listener, None, node, async move {
            let _ = rx.await;
        });
        let task = tokio::spawn(async move {
            // The health listener outlives the drain, as in the binary.
            tokio::join!(main, health);
        });
        let server = Server {
            addr,
            stop: Some(tx),
            task,
        };
        (server, metrics_addr)
    }
}

/// A plain GET to any address: status, content type and body.
pub async fn get(addr: SocketAddr, uri: &str) -> (u16, String, String) {
    use http_body_util::{BodyExt, Empty};
    let stream = TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .uri(uri)
        .header("host", addr.to_string())
        .body(Empty::<bytes::Bytes>::new())
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let ctype = res
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, ctype, String::from_utf8_lossy(&bytes).into_owned())
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

pub fn now() -> u64 {
    Node::now_secs()
}

/// The query string a Pusher server SDK would send.
pub fn signed_query(
    method: &str,
    path: &str,
    params: &[(&str, &str)],
    body: &str,
    secret: &str,
    ts: u64,
) -> String {
    let ts = ts.to_string();
    let mut pairs: Vec<(String, String)> = vec![
        ("auth_key".into(), KEY.into()),
        ("auth_timestamp".into(), ts),
        ("auth_version".into(), "1.0".into()),
    ];
    if !body.is_empty() {
        pairs.push(("body_md5".into(), auth::md5_hex(body.as_bytes())));
    }
    pairs.extend(params.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    pairs.sort();
    let joined: Vec<String> = pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let joined = joined.join("&");
    let sig = auth::sign(secret, &format!("{method}\n{path}\n{joined}"));
    format!("{joined}&auth_signature={sig}")
}

/// The `auth` an app backend would return for a channel.
pub fn channel_auth(socket_id: &str, channel: &str, channel_data: Option<&str>) -> String {
    format!(
        "{KEY}:{}",
        auth::sign(
            SECRET,
            &auth::channel_string(socket_id, channel, channel_data)
        )
    )
}

pub struct Client {
    pub ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
    pub socket_id: String,
}

/// What the client saw instead of a frame.
#[derive(Debug, PartialEq)]
pub enum Seen {
    Frame(Value),
    Closed(Option<u16>),
    Nothing,
}

impl Client {
    pub async fn send(&mut self, v: Value) {
        self.ws.send(Message::text(v.to_string())).await.unwrap();
    }

    pub async fn send_text(&mut self, t: &str) {
        self.ws.send(Message::text(t.to_string())).await.unwrap();
    }

    /// The next frame, a close, or nothing within `ms`.
    pub async fn next_within(&mut self, ms: u64) -> Seen {
        loop {
            match tokio::time::timeout(Duration::from_millis(ms), self.ws.next()).await {
                Err(_) => return Seen::Nothing,
                Ok(Some(Ok(Message::Text(t)))) => {
                    return Seen::Frame(serde_json::from_str(&t).unwrap())
                }
                Ok(Some(Ok(Message::Close(f)))) => return Seen::Closed(f.map(|f| f.code.into())),
                Ok(Some(Ok(_))) => continue,
                Ok(Some(Err(_))) | Ok(None) => return Seen::Closed(None),
            }
        }
    }

    pub async fn next(&mut self) -> Value {
        match self.next_within(3000).await {
            Seen::Frame(v) => v,
            other => panic!("expected a frame, saw {other:?}"),
        }
    }

    /// The raw text of the next text frame.
    pub async fn next_text(&mut self) -> String {
        loop {
            match tokio::time::timeout(Duration::from_secs(3), self.ws.next()).await {
                Ok(Some(Ok(Message::Text(t)))) => return t.to_string(),
                Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
                other => panic!("expected a text frame, saw {other:?}"),
            }
        }
    }

    /// Skip frames until one with this event arrives.
    pub async fn expect(&mut self, event: &str) -> Value {
        for _ in 0..20 {
            let v = self.next().await;
            if v["event"] == event {
                return v;
            }
        }
        panic!("no {event} frame");
    }

    /// Assert that no frame arrives for `ms`.
    pub async fn silent(&mut self, ms: u64) {
        match self.next_within(ms).await {
            Seen::Nothing => {}
            other => panic!("expected silence, saw {other:?}"),
        }
    }

    /// Wait for the server to close; returns the close code.
    pub async fn closed(&mut self) -> Option<u16> {
        for _ in 0..1000 {
            match self.next_within(5000).await {
                Seen::Closed(code) => return code,
                Seen::Frame(_) => continue,
                Seen::Nothing => panic!("socket was not closed"),
            }
        }
        panic!("socket was not closed")
    }

    pub async fn subscribe(&mut self, channel: &str) -> Value {
        self.send(json!({"event":"pusher:subscribe","data":{"auth":"","channel":channel}}))
            .await;
        self.next().await
    }

    pub async fn subscribe_private(&mut self, channel: &str) -> Value {
        let auth = channel_auth(&self.socket_id, channel, None);
        self.send(json!({"event":"pusher:subscribe","data":{"auth":auth,"channel":channel}}))
            .await;
        self.next().await
    }

    pub async fn subscribe_presence(&mut self, channel: &str, channel_data: &str) -> Value {
        let auth = channel_auth(&self.socket_id, channel, Some(channel_data));
        let msg = json!({"event":"pusher:subscribe","data":{"auth":auth,"channel":channel,"channel_data":channel_data}});
        self.send(msg).await;
        self.next().await
    }

    pub async fn sign_in(&mut self, user_data: &str) -> Value {
        let sig = auth::sign(SECRET, &auth::user_string(&self.socket_id, user_data));
        let msg = json!({"event":"pusher:signin","data":{"auth":format!("{KEY}:{sig}"),"user_data":user_data}});
        self.send(msg).await;
        self.next().await
    }
}

/// A WebSocket to `server` from `source` (an address on the loopback network),
/// with an `X-Forwarded-For` header when `forwarded` is given (a proxy's request).
pub async fn client_from(server: &Server, source: [u8; 4], forwarded: Option<&str>) -> Client {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind((source, 0).into()).unwrap();
    let tcp = socket.connect(server.addr).await.unwrap();
    let url = format!(
        "ws://{}/app/{KEY}?protocol=7&client=js&version=8.4.0",
        server.addr
    );
    let mut request = url.into_client_request().unwrap();
    if let Some(forwarded) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    let stream = tokio_tungstenite::MaybeTlsStream::Plain(tcp);
    let (ws, _) = tokio_tungstenite::client_async(request, stream)
        .await
        .unwrap();
    Client {
        ws,
        socket_id: String::new(),
    }
}

/// Parse a frame's string `data`.
pub fn data(frame: &Value) -> Value {
    serde_json::from_str(frame["data"].as_str().expect("data is a string")).unwrap()
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `herald config check` run in `dir` with nothing but `vars` in its
/// environment and `args` after it: (exit code, stdout, stderr).
pub fn config_check(
    dir: &std::path::Path,
    args: &[&str],
    vars: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(dir)
        .env_clear()
        .envs(vars.iter().copied())
        .args(["config", "check"])
        .args(args)
        .output()
        .unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code(), text(&out.stdout), text(&out.stderr))
}

/// Whether a socket with app key `key` is welcomed within 4 s (an app added
/// to an app table while serving is picked up within its refresh).
pub async fn becomes_an_app(server: &Server, key: &str) -> bool {
    for _ in 0..40 {
        let mut c = server.raw_client(key).await;
        if c.next().await["event"] == "pusher:connection_established" {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}
