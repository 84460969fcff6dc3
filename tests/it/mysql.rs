//! Apps from a real MariaDB server (Debian's `mariadb-server`) with Soketi's
//! MySQL apps table, configured with Soketi's variables only.

use crate::db::{herald_with, is_root, wait_listening};
use crate::support::*;
use serde_json::json;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

const USER: &str = "herald";
const PASSWORD: &str = "herald-pw";

/// A throwaway MariaDB server on a free port with its own data directory, and a
/// user `herald` with a password (so authentication is real) owning `soketi`.
struct Mariadb {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Mariadb {
    fn start() -> Mariadb {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("herald-mariadb-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        // Its own temporary directory too: two servers bootstrapping at once in
        // /tmp can collide on their temporary tables.
        std::fs::create_dir_all(dir.join("tmp")).unwrap();
        let as_root: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        let install = Command::new("mariadb-install-db")
            .args(["--no-defaults", "--skip-test-db"])
            .args(["--auth-root-authentication-method=normal"])
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .args(as_root)
            .output()
            .expect("MariaDB is installed (make test installs it)");
        let why = String::from_utf8_lossy(&install.stderr);
        assert!(install.status.success(), "mariadb-install-db failed: {why}");
        let child = Mariadb::serve(&dir, port);
        let db = Mariadb { dir, port, child };
        db.wait_ready();
        db.sql(
            "mysql",
            &format!(
                "CREATE DATABASE soketi; CREATE USER '{USER}'@'127.0.0.1' IDENTIFIED BY '{PASSWORD}';
                 GRANT ALL ON soketi.* TO '{USER}'@'127.0.0.1';"
            ),
        );
        db
    }

    fn serve(dir: &Path, port: u16) -> Child {
        let as_root: &[&str] = if is_root() { &["--user=root"] } else { &[] };
        Command::new("mariadbd")
            .arg("--no-defaults")
            .arg(format!("--datadir={}", dir.join("data").display()))
            .arg(format!("--socket={}", dir.join("sock").display()))
            .arg(format!("--port={port}"))
            .arg(format!("--tmpdir={}", dir.join("tmp").display()))
            .args(["--bind-address=127.0.0.1", "--skip-networking=0"])
            .args(["--skip-log-bin", "--innodb-buffer-pool-size=16M"])
            .arg(format!("--log-error={}", dir.join("error.log").display()))
            .args(as_root)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    fn wait_ready(&self) {
        for _ in 0..100 {
            if self.try_sql("mysql", "SELECT 1") {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("MariaDB did not start");
    }

    /// Start the server again on its port and data after [`Mariadb::stop`].
    fn restart(&mut self) {
        self.child = Mariadb::serve(&self.dir, self.port);
        self.wait_ready();
    }

    /// Run SQL as root over the server's own socket.
    fn try_sql(&self, database: &str, sql: &str) -> bool {
        Command::new("mariadb")
            .arg("--no-defaults")
            .arg(format!("--socket={}", self.dir.join("sock").display()))
            .args(["-uroot", database, "-e", sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn sql(&self, database: &str, sql: &str) {
        assert!(self.try_sql(database, sql), "SQL failed: {sql}");
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Mariadb {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Soketi's MySQL fixture schema (tests/fixtures/mysql_schema.sql), as it is.
const SOKETI_SCHEMA: &str = "CREATE TABLE IF NOT EXISTS `apps` (
    `id` varchar(255) NOT NULL, `key` varchar(255) NOT NULL, `secret` varchar(255) NOT NULL,
    `max_connections` integer(10) NOT NULL, `enabled` tinyint(1) NOT NULL,
    `enable_client_messages` tinyint(1) NOT NULL, `max_backend_events_per_sec` integer(10) NOT NULL,
    `max_client_events_per_sec` integer(10) NOT NULL, `max_read_req_per_sec` integer(10) NOT NULL,
    `webhooks` json, `max_presence_members_per_channel` tinyint(1) NULL,
    `max_presence_member_size_in_kb` tinyint(1) NULL, `max_channel_name_length` tinyint(1) NULL,
    `max_event_channels_at_once` tinyint(1) NULL, `max_event_name_length` tinyint(1) NULL,
    `max_event_payload_in_kb` tinyint(1) NULL, `max_event_batch_size` tinyint(1) NULL,
    `enable_user_authentication` tinyint(1) NOT NULL, PRIMARY KEY (`id`))";

const SOKETI_COLUMNS: &str =
    "id, `key`, secret, max_connections, `enabled`, enable_client_messages,
    max_backend_events_per_sec, max_client_events_per_sec, max_read_req_per_sec, webhooks,
    enable_user_authentication";

/// The same columns with the other types people give them, plus Laravel's timestamps.
const TYPED_SCHEMA: &str = "CREATE TABLE typed_apps (
    id INT PRIMARY KEY, `key` VARCHAR(64) NOT NULL, secret TEXT NOT NULL,
    max_connections VARCHAR(10) NOT NULL, enabled BIT(1) NOT NULL,
    enable_client_messages BOOLEAN NOT NULL, enable_user_authentication TINYINT NOT NULL DEFAULT 0,
    max_backend_events_per_sec BIGINT NOT NULL DEFAULT -1, max_client_events_per_sec SMALLINT NOT NULL DEFAULT -1,
    max_read_req_per_sec MEDIUMINT NOT NULL DEFAULT -1, webhooks TEXT,
    max_event_payload_in_kb DECIMAL(6,2) NULL, max_event_channels_at_once BIGINT UNSIGNED NULL,
    max_presence_members_per_channel INT NULL, max_presence_member_size_in_kb DOUBLE NULL,
    max_channel_name_length INT NULL, max_event_name_length INT NULL, max_event_batch_size INT NULL,
    created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP, updated_at DATETIME NULL)";

fn herald_on(db_port: u16, port: u16, extra: &[(&str, String)]) -> Child {
    let mut vars = vec![
        ("SOKETI_APP_MANAGER_DRIVER", "mysql".to_string()),
        ("SOKETI_DB_MYSQL_HOST", "127.0.0.1".to_string()),
        ("SOKETI_DB_MYSQL_PORT", db_port.to_string()),
        ("SOKETI_DB_MYSQL_USERNAME", USER.to_string()),
        ("SOKETI_DB_MYSQL_PASSWORD", PASSWORD.to_string()),
        ("SOKETI_DB_MYSQL_DATABASE", "soketi".to_string()),
        ("SOKETI_APP_MANAGER_MYSQL_VERSION", "8.0".to_string()),
        ("SOKETI_APP_MANAGER_MYSQL_USE_V2", "true".to_string()),
    ];
    vars.extend(extra.iter().cloned());
    herald_with(port, &vars)
}

async fn serve(db: &Mariadb, extra: &[(&str, String)]) -> (Child, Server) {
    let port = free_port();
    let child = herald_on(db.port, port, extra);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    (child, Server::external(addr))
}

/// A webhook endpoint on a free port: every request body it gets, in order.
async fn hook_receiver() -> (String, mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/pusher", listener.local_addr().unwrap());
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            // Webhook bodies are small: read until the body is all there.
            while let Ok(n @ 1..) = stream.read(&mut buf).await {
                seen.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&seen);
                if let Some((head, body)) = text.split_once("\r\n\r\n") {
                    let length = head
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                        })
                        .unwrap_or(0);
                    if body.len() >= length {
                        let _ = tx.send(body.to_string());
                        break;
                    }
                }
            }
            let reply = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
            let _ = stream.write_all(reply).await;
        }
    });
    (url, rx)
}

async fn next_hook(hooks: &mut mpsc::UnboundedReceiver<String>) -> serde_json::Value {
    let body = tokio::time::timeout(Duration::from_secs(10), hooks.recv())
        .await
        .expect("a webhook within 10 s")
        .unwrap();
    serde_json::from_str(&body).unwrap()
}

/// Retry `probe` for up to 5 s (the table is read every second here).
async fn within_refresh<F, Fut>(what: &str, mut probe: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..50 {
        if probe().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} never happened");
}

fn event(channels: &[&str], data_len: usize) -> String {
    json!({"name": "e", "channels": channels, "data": "x".repeat(data_len)}).to_string()
}

#[tokio::test]
async fn apps_come_from_soketis_mysql_table_and_follow_its_changes() {
    let mut db = Mariadb::start();
    let (url, mut hooks) = hook_receiver().await;
    db.sql("soketi", SOKETI_SCHEMA);
    let webhooks = json!([{"url": url, "event_types": ["channel_occupied"]}]).to_string();
    db.sql(
        "soketi",
        &format!(
            "INSERT INTO apps ({SOKETI_COLUMNS}) VALUES
             ('{APP_ID}', '{KEY}', '{SECRET}', 200, 1, 1, -1, -1, -1, '{webhooks}', 0),
             ('off', 'off-key', 'x', -1, 0, 0, -1, -1, -1, '[]', 0),
             ('one', 'one-key', 'x', 1, 1, 0, -1, -1, -1, NULL, 0)"
        ),
    );
    let (mut child, server) = serve(&db, &[("HERALD_LOG", "herald=info".into())]).await;
    // The row's app: its key connects, its flag allows client events, its
    // secret signs, its webhooks (a JSON column) are called.
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_private("private-db").await;
    let hook = next_hook(&mut hooks).await;
    assert_eq!(hook["events"][0]["name"], "channel_occupied");
    assert_eq!(hook["events"][0]["channel"], "private-db");
    b.subscribe_private("private-db").await;
    a.send(json!({"event":"client-x","channel":"private-db","data":{}}))
        .await;
    assert_eq!(b.next().await["event"], "client-x");
    let events = format!("/apps/{APP_ID}/events");
    // NULL limits are the defaults: 2 KB of data and three channels are fine.
    let three = ["private-db", "c2", "c3"];
    assert_eq!(
        server
            .api("POST", &events, &[], &event(&three, 2048))
            .await
            .0,
        200
    );
    assert_eq!(a.next().await["event"], "e");
    // A disabled row refuses, an unknown key is unknown, max_connections counts.
    assert_eq!(
        server.raw_client("off-key").await.closed().await,
        Some(4003)
    );
    assert_eq!(
        server.raw_client("new-key").await.closed().await,
        Some(4001)
    );
    let _first = server.client_for("one-key").await;
    assert_eq!(
        server.raw_client("one-key").await.closed().await,
        Some(4004)
    );
    // Rows added, changed and removed while serving take effect within the refresh.
    db.sql(
        "soketi",
        &format!(
            "INSERT INTO apps ({SOKETI_COLUMNS}) VALUES ('new', 'new-key', 's', -1, 1, 0, -1, -1, -1, '[]', 0);
             UPDATE apps SET max_event_payload_in_kb = 1, max_event_channels_at_once = 2 WHERE id = '{APP_ID}';
             DELETE FROM apps WHERE id = 'off'"
        ),
    );
    within_refresh("the new row becoming an app", || async {
        let mut c = server.raw_client("new-key").await;
        c.next().await["event"] == "pusher:connection_established"
    })
    .await;
    within_refresh("the new payload limit", || async {
        server
            .api("POST", &events, &[], &event(&["c1"], 2048))
            .await
            .0
            == 413
    })
    .await;
    let (status, _) = server.api("POST", &events, &[], &event(&three, 10)).await;
    assert_eq!(status, 400, "max_event_channels_at_once = 2");
    assert_eq!(
        server.raw_client("off-key").await.closed().await,
        Some(4001)
    );
    // The database going away keeps the apps read before.
    db.stop();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut c = server.client().await;
    c.subscribe("still-here").await;
    assert_eq!(
        server
            .api("POST", &events, &[], &event(&["still-here"], 10))
            .await
            .0,
        200
    );
    assert_eq!(c.next().await["event"], "e");
    // Back again, its changes apply again.
    db.restart();
    db.sql("soketi", "UPDATE apps SET enabled = 0 WHERE id = 'new'");
    within_refresh("the app disabled after the outage", || async {
        let frame = server.raw_client("new-key").await.next().await;
        frame["event"] == "pusher:error" && frame["data"]["code"] == 4003
    })
    .await;
    child.kill().unwrap();
    let out = child.wait_with_output().unwrap();
    let logs = String::from_utf8_lossy(&out.stdout);
    // The outage is said once, and its end; every Soketi variable given was read.
    assert_eq!(
        logs.matches("keeping the apps read before").count(),
        1,
        "{logs}"
    );
    assert!(logs.contains("apps table readable again"), "{logs}");
    assert!(!logs.contains("is ignored"), "{logs}");
}

#[tokio::test]
async fn other_column_types_and_table_names_are_read_too() {
    let db = Mariadb::start();
    let (url, mut hooks) = hook_receiver().await;
    db.sql("soketi", TYPED_SCHEMA);
    let webhooks = json!([{"url": url, "event_types": ["channel_occupied"]}]).to_string();
    db.sql(
        "soketi",
        &format!(
            "INSERT INTO typed_apps (id, `key`, secret, max_connections, enabled, enable_client_messages,
               webhooks, max_event_payload_in_kb, max_event_channels_at_once) VALUES
             (42, '{KEY}', '{SECRET}', '2', b'1', TRUE, '{webhooks}', 1.00, 2),
             (43, 'bit-off', 'x', '-1', b'0', FALSE, NULL, NULL, NULL),
             (44, 'bad-key', 'x', 'lots', b'1', FALSE, NULL, NULL, NULL)"
        ),
    );
    let table = [("SOKETI_APP_MANAGER_MYSQL_TABLE", "typed_apps".to_string())];
    let (mut child, server) = serve(&db, &table).await;
    let mut a = server.client().await;
    a.subscribe_private("private-typed").await;
    let hook = next_hook(&mut hooks).await; // webhooks from a TEXT column
    assert_eq!(hook["events"][0]["channel"], "private-typed");
    let mut b = server.client().await; // BOOLEAN client events
    b.subscribe_private("private-typed").await;
    b.send(json!({"event":"client-y","channel":"private-typed","data":{}}))
        .await;
    assert_eq!(a.next().await["event"], "client-y");
    // max_connections '2' as text: a third socket is refused.
    assert_eq!(server.raw_client(KEY).await.closed().await, Some(4004));
    // The INT id signs; DECIMAL and BIGINT UNSIGNED limits apply; BIT(1) 0 is disabled.
    let events = "/apps/42/events";
    assert_eq!(
        server.api("POST", events, &[], &event(&["p"], 10)).await.0,
        200
    );
    assert_eq!(
        server
            .api("POST", events, &[], &event(&["p"], 2048))
            .await
            .0,
        413
    );
    let three = ["p1", "p2", "p3"];
    assert_eq!(
        server.api("POST", events, &[], &event(&three, 10)).await.0,
        400
    );
    assert_eq!(
        server.raw_client("bit-off").await.closed().await,
        Some(4003)
    );
    // A row that is no app is skipped, with a warning naming it and its column.
    assert_eq!(
        server.raw_client("bad-key").await.closed().await,
        Some(4001)
    );
    child.kill().unwrap();
    let logs = String::from_utf8_lossy(&child.wait_with_output().unwrap().stdout).into_owned();
    let skipped = logs.lines().find(|l| l.contains("apps table row skipped"));
    let skipped = skipped.unwrap_or_else(|| panic!("no warning in {logs}"));
    assert!(
        skipped.contains("44") && skipped.contains("max_connections"),
        "{skipped}"
    );
    // A wrong password stops the start with one line naming the database.
    let wrong = [("SOKETI_DB_MYSQL_PASSWORD", "not-it".to_string())];
    let text = refused_start(db.port, &wrong);
    assert!(text.contains("Access denied"), "{text}");
}

/// herald's one line on stderr when it cannot start (exit 2) for want of the table.
fn refused_start(db_port: u16, extra: &[(&str, String)]) -> String {
    let out = herald_on(db_port, free_port(), extra)
        .wait_with_output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(
        text.starts_with("herald: cannot read apps from MySQL 127.0.0.1:"),
        "{text}"
    );
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    text
}

#[tokio::test]
async fn an_unreachable_mysql_stops_the_start_with_one_line() {
    let text = refused_start(free_port(), &[]);
    assert!(text.contains("table apps"), "{text}");
}

/// A rotated secret and changed webhooks in the row apply to webhooks within
/// the refresh, jobs waiting in the Redis queue (`queue_driver = "redis"`) included.
#[tokio::test]
async fn webhooks_on_the_redis_queue_follow_a_rotated_secret_and_changed_urls() {
    use crate::db_hooks::{herald_with_file, HookCase, NEW_SECRET, OLD_SECRET};
    let db = Mariadb::start();
    let redis = crate::cluster::Redis::start().await;
    db.sql("soketi", SOKETI_SCHEMA);
    let case = HookCase::new().await;
    db.sql(
        "soketi",
        &format!(
            "INSERT INTO apps ({SOKETI_COLUMNS}) VALUES
             ('maria-hooks', '{KEY}', '{OLD_SECRET}', -1, 1, 0, -1, -1, -1, '{}', 0)",
            case.before()
        ),
    );
    let vars = [
        ("SOKETI_APP_MANAGER_DRIVER", "mysql".to_string()),
        ("SOKETI_DB_MYSQL_HOST", "127.0.0.1".to_string()),
        ("SOKETI_DB_MYSQL_PORT", db.port.to_string()),
        ("SOKETI_DB_MYSQL_USERNAME", USER.to_string()),
        ("SOKETI_DB_MYSQL_PASSWORD", PASSWORD.to_string()),
        ("SOKETI_DB_MYSQL_DATABASE", "soketi".to_string()),
    ];
    let queue = format!(
        "redis_url = '{}'\nredis_prefix = 'maria-hooks'\nqueue_driver = 'redis'",
        redis.url()
    );
    let (_child, server) = herald_with_file(&vars, &queue).await;
    let after = case.after();
    case.check(&server, || {
        db.sql(
            "soketi",
            &format!("UPDATE apps SET secret = '{NEW_SECRET}', webhooks = '{after}' WHERE id = 'maria-hooks'"),
        )
    })
    .await;
}
