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
        .env("SOKETI_QUEUE_REDIS_CONCURRENCY", "4")
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
    assert!(
        logs.contains("SOKETI_QUEUE_REDIS_CONCURRENCY is ignored"),
        "{logs}"
    );
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

/// The `environment:` of one service in a compose file (map form), with
/// `${NAME}` and `${NAME:-default}` filled in from `dotenv`, as compose does.
fn compose_environment(
    yaml: &str,
    service: &str,
    dotenv: &[(&str, &str)],
) -> Vec<(String, String)> {
    let mut lines = yaml
        .lines()
        .skip_while(|l| l.trim() != format!("{service}:"));
    let service_indent = lines.next().map_or(0, indent);
    let mut lines = lines.take_while(|l| l.trim().is_empty() || indent(l) > service_indent);
    let env_line = lines
        .find(|l| l.trim() == "environment:")
        .expect("no environment:");
    let env_indent = indent(env_line);
    lines
        .take_while(|l| indent(l) > env_indent)
        .filter_map(|l| l.trim().split_once(": "))
        .map(|(k, v)| (k.to_string(), interpolate(v.trim_matches('\''), dotenv)))
        .collect()
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

fn interpolate(value: &str, dotenv: &[(&str, &str)]) -> String {
    let Some((before, rest)) = value.split_once("${") else {
        return value.to_string();
    };
    let (expr, after) = rest.split_once('}').expect("unclosed ${");
    let (name, default) = expr.split_once(":-").unwrap_or((expr, ""));
    let found = dotenv.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
    format!(
        "{before}{}{}",
        found.unwrap_or(default),
        interpolate(after, dotenv)
    )
}

#[tokio::test]
async fn a_laravel_sail_soketi_service_runs_unchanged_but_for_the_image() {
    let yaml = include_str!("../fixtures/sail-soketi.yml");
    let dotenv = [
        ("PUSHER_APP_ID", "sail-app"),
        ("PUSHER_APP_KEY", KEY),
        ("PUSHER_APP_SECRET", SECRET),
    ];
    let env = compose_environment(yaml, "soketi", &dotenv);
    assert!(env
        .iter()
        .any(|(k, v)| k == "SOKETI_DEFAULT_APP_ID" && v == "sail-app"));
    // Inside the container herald listens on 6001 and 9601; here the two ports
    // are free ones, standing in for compose's port mapping.
    let (port, metrics_port) = (free_port(), free_port());
    let dir = std::env::temp_dir().join(format!("herald-sail-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .envs(
            env.iter()
                .filter(|(k, _)| k != "SOKETI_METRICS_SERVER_PORT")
                .cloned(),
        )
        .env("SOKETI_PORT", port.to_string())
        .env("SOKETI_METRICS_SERVER_PORT", metrics_port.to_string())
        .stderr(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let main: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let metrics: SocketAddr = format!("127.0.0.1:{metrics_port}").parse().unwrap();
    wait_up(main, "/ready").await;
    wait_up(metrics, "/ready").await;
    let server = Server::external(main);
    // The app from the environment: its id signs publishes, client events are on.
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_private("private-chat").await;
    b.subscribe_private("private-chat").await;
    a.send(serde_json::json!({"event":"client-typing","channel":"private-chat","data":{}}))
        .await;
    assert_eq!(b.next().await["event"], "client-typing");
    let body = r#"{"name":"toast","channel":"private-chat","data":"{}"}"#;
    let (status, _) = server.api("POST", "/apps/sail-app/events", &[], body).await;
    assert_eq!(status, 200);
    assert_eq!(a.next().await["event"], "toast");
    let (status, _) = server
        .api("POST", &format!("/apps/{APP_ID}/events"), &[], body)
        .await;
    assert_eq!(status, 404, "only the environment's app exists");
    let (_, _, text) = get(metrics, "/metrics").await;
    assert!(text.contains("soketi_connected{"), "{text}");
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
    // Every variable of this service means something to herald: no warnings.
    assert!(!logs.contains("WARN"), "{logs}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Laravel `.env` written for Soketi's MySQL app manager: herald reads every
/// variable (no warning) and names the table it will read.
#[test]
fn soketi_mysql_variables_from_dotenv_choose_the_apps_table() {
    let dir = std::env::temp_dir().join(format!("herald-dotenv-mysql-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let dotenv =
        "SOKETI_APP_MANAGER_DRIVER=mysql\nSOKETI_DB_MYSQL_HOST=mysql\nSOKETI_DB_MYSQL_PORT=3307\n\
                  SOKETI_DB_MYSQL_USERNAME=sail\nSOKETI_DB_MYSQL_PASSWORD=password\n\
                  SOKETI_DB_MYSQL_DATABASE=laravel\nSOKETI_APP_MANAGER_MYSQL_TABLE=soketi_apps\n\
                  SOKETI_APP_MANAGER_MYSQL_VERSION=5.7\nSOKETI_APP_MANAGER_MYSQL_USE_V2=true\n\
                  SOKETI_APP_MANAGER_CACHE_TTL=10\n";
    std::fs::write(dir.join(".env"), dotenv).unwrap();
    let (code, stdout, stderr) = crate::support::config_check(&dir, &[], &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    let want = "app_manager = mysql sail:****@mysql:3307/laravel table \"soketi_apps\" refresh 10s";
    assert!(stdout.contains(want), "{stdout}");
    assert!(!stderr.contains("warning"), "{stderr}");
}

/// A Redis URL built from `SOKETI_DB_REDIS_*` that does not parse stops the
/// start with one line naming the variables it was built from.
#[test]
fn bad_redis_variables_are_named_when_serving_starts() {
    let vars = [
        ("SOKETI_ADAPTER_DRIVER", "redis".to_string()),
        ("SOKETI_DB_REDIS_PORT", "not-a-port".to_string()),
    ];
    let out = crate::db::herald_with(free_port(), &vars)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let want = "herald: invalid Redis settings (environment variable SOKETI_DB_REDIS_PORT): ";
    assert!(stderr.starts_with(want), "{stderr}");
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
}
