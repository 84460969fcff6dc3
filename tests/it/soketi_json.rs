//! The binary started with Soketi's JSON config file (`--config config.json`).

use crate::support::*;
use std::io::Read;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

async fn wait_up(addr: SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() && get(addr, "/").await.0 == 200 {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{addr} never answered 200");
}

#[tokio::test]
async fn binary_serves_the_apps_of_a_soketi_json_config() {
    let (port, metrics_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("herald-json-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let json = format!(
        r#"{{
        "host": "127.0.0.1", "port": {port},
        "metrics": {{"host": "127.0.0.1", "port": {metrics_port}}},
        "appManager.array.apps": [
            {{"AppId": "json-app", "AppKey": "json-key", "AppSecret": "json-secret",
              "enableClientMessages": true, "maxConnections": 10}}
        ],
        "ssl.caPath": "/certs/ca.pem"
    }}"#
    );
    let path = dir.join("config.json");
    std::fs::write(&path, json).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(&dir)
        .arg("--config")
        .arg(&path)
        .env("HERALD_LOG", "warn")
        .env_remove("HERALD_PORT")
        .env_remove("HERALD_HOST")
        .env_remove("HERALD_CONFIG")
        .env_remove("SOKETI_PORT")
        .env_remove("SOKETI_DEFAULT_APP_KEY")
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_up(addr).await;
    let server = Server::external(addr);
    let mut c = server.client_for("json-key").await;
    assert!(c.socket_id.contains('.'));
    let ok = c.subscribe("news").await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    let mut refused = server.raw_client("app-key").await;
    assert_eq!(refused.closed().await, Some(4001));
    child.kill().unwrap();
    child.wait().unwrap();
    let mut logs = String::new();
    for mut pipe in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn Read>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        pipe.read_to_string(&mut logs).unwrap();
    }
    assert!(logs.contains("ssl.caPath"), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}
