//! The binary as a Soketi container runs it: `SOKETI_*` variables from the
//! environment and from `./.env`, warnings for what herald does not do.

use crate::support::*;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

/// Poll `GET uri` until it answers 200.
async fn wait_up(addr: SocketAddr, uri: &str) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() && get(addr, uri).await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr}{uri} never answered 200");
}

#[tokio::test]
async fn dotenv_and_environment_configure_the_binary_and_unsupported_variables_warn() {
    let (port, metrics_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("herald-dotenv-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let dotenv = format!(
        "# like a Laravel Sail .env\nSOKETI_PORT={port}\nSOKETI_HOST=127.0.0.1\nSOKETI_METRICS_HOST=127.0.0.1\n\
         SOKETI_METRICS_SERVER_PORT=\"{metrics_port}\"\nSOKETI_METRICS_ENABLED=true\nSOKETI_PATH_PREFIX=/p\n\
         SOKETI_DEFAULT_APP_KEY=dotenv-key\nSOKETI_SSL_CA=/certs/ca.pem\n"
    );
    std::fs::write(dir.join(".env"), dotenv).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(&dir)
        .env("SOKETI_DEFAULT_APP_KEY", KEY) // the real environment wins over .env
        .env("SOKETI_QUEUE_DRIVER", "redis")
        .env("HERALD_LOG", "warn")
        .env_remove("HERALD_PORT")
        .env_remove("HERALD_HOST")
        .env_remove("HERALD_CONFIG")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let main: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    wait_up(main, "/p/ready").await;
    wait_up(metrics, "/p/ready").await;
    assert_eq!(get(metrics, "/p/metrics").await.0, 200);
    let server = Server::external(main);
    let url = format!("ws://{main}/p/app/{KEY}");
    let (ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    let mut c = Client {
        ws,
        socket_id: String::new(),
    };
    c.expect("pusher:connection_established").await;
    drop(server);
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut logs)
        .unwrap();
    assert!(
        logs.contains("SOKETI_SSL_CA is ignored: client certificates"),
        "{logs}"
    );
    assert!(logs.contains("SOKETI_QUEUE_DRIVER is ignored"), "{logs}");
    assert!(!logs.contains("SOKETI_PORT"), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn accept_traffic_refuses_above_the_memory_threshold() {
    let low = Server::start("accept_traffic_memory_threshold = 0", "").await;
    let (status, body) = low.http("GET", "/accept-traffic", "").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"],
        "Low on memory here. Choose another server. :)"
    );
    let normal = Server::start("", "").await;
    assert_eq!(normal.http("GET", "/accept-traffic", "").await.0, 200);
}
