//! Apps from a real PostgreSQL server with Soketi's apps table.

use crate::db::{herald_with, is_root, wait_listening};
use crate::support::*;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A throwaway PostgreSQL cluster on a free port (run as `postgres` when we are root).
struct Pg {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    child: Child,
}

fn pg_bin() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (make test installs it)")
        .filter_map(|e| Some(e.ok()?.path().join("bin")))
        .filter(|p| p.join("postgres").exists())
        .collect();
    versions.sort();
    versions.pop().expect("a PostgreSQL server binary")
}

fn as_postgres(bin: &Path, tool: &str) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(bin.join(tool));
        c
    } else {
        Command::new(bin.join(tool))
    }
}

impl Pg {
    fn start() -> Pg {
        let bin = pg_bin();
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("herald-pg-{port}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let ok = Command::new("chown").arg("postgres").arg(&dir).status();
            assert!(ok.unwrap().success());
        }
        let data = dir.join("data");
        let init = as_postgres(&bin, "initdb")
            .args(["-A", "trust", "-U", "postgres", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(init.success(), "initdb failed");
        let child = as_postgres(&bin, "postgres")
            .arg("-D")
            .arg(&data)
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "fsync=off", "-k"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pg = Pg {
            bin,
            dir,
            port,
            child,
        };
        for _ in 0..100 {
            if pg.try_sql("SELECT 1") {
                return pg;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("PostgreSQL did not start");
    }

    fn try_sql(&self, sql: &str) -> bool {
        Command::new(self.bin.join("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
            ])
            .args(["-d", "postgres", "-v", "ON_ERROR_STOP=1", "-q", "-c", sql])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    }

    fn sql(&self, sql: &str) {
        assert!(self.try_sql(sql), "SQL failed: {sql}");
    }
}

impl Drop for Pg {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Soketi's apps table for Postgres (flags as smallint, as its migrations make them).
const SCHEMA: &str = "CREATE TABLE apps (
    id varchar(255) PRIMARY KEY, key varchar(255) NOT NULL, secret varchar(255) NOT NULL,
    max_connections integer NOT NULL DEFAULT -1, enable_client_messages smallint NOT NULL,
    enabled smallint NOT NULL, max_backend_events_per_sec integer NOT NULL DEFAULT -1,
    max_client_events_per_sec integer NOT NULL DEFAULT -1,
    max_read_req_per_sec integer NOT NULL DEFAULT -1, webhooks json,
    max_presence_members_per_channel smallint, max_presence_member_size_in_kb smallint,
    max_channel_name_length smallint, max_event_channels_at_once smallint,
    max_event_name_length smallint, max_event_payload_in_kb smallint,
    max_event_batch_size smallint, enable_user_authentication smallint NOT NULL DEFAULT 0,
    enable_watchlist_events smallint)";

fn herald_on(pg_port: u16, port: u16) -> Child {
    let vars = [
        ("SOKETI_APP_MANAGER_DRIVER", "postgres".to_string()),
        ("SOKETI_DB_POSTGRES_HOST", "127.0.0.1".to_string()),
        ("SOKETI_DB_POSTGRES_PORT", pg_port.to_string()),
        ("SOKETI_DB_POSTGRES_DATABASE", "postgres".to_string()),
    ];
    herald_with(port, &vars)
}

#[tokio::test]
async fn apps_come_from_soketis_postgres_table_and_follow_its_changes() {
    let pg = Pg::start();
    pg.sql(SCHEMA);
    pg.sql(&format!(
        "INSERT INTO apps (id, key, secret, enable_client_messages, enabled, webhooks, enable_watchlist_events)
         VALUES ('pg-app', '{KEY}', '{SECRET}', 1, 1, NULL, 1), ('off', 'off-key', 'x', 0, 0, '[]', NULL)"
    ));
    let port = free_port();
    let mut child = herald_on(pg.port, port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    let server = Server::external(addr);
    // The row's app: its key connects, its secret signs, its flag allows whispers.
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_private("private-db").await;
    b.subscribe_private("private-db").await;
    a.send(serde_json::json!({"event":"client-x","channel":"private-db","data":{}}))
        .await;
    assert_eq!(b.next().await["event"], "client-x");
    let body = r#"{"name":"from-db","channel":"private-db","data":"{}"}"#;
    assert_eq!(
        server.api("POST", "/apps/pg-app/events", &[], body).await.0,
        200
    );
    assert_eq!(a.next().await["event"], "from-db");
    // The row's optional watchlist column is on: a watchlist gets its status.
    a.sign_in(r#"{"id":"1","watchlist":["2"]}"#).await;
    assert_eq!(
        a.next().await["data"]["events"],
        serde_json::json!([{"name":"offline","user_ids":["2"]}])
    );
    // A disabled row refuses; an unknown key is unknown.
    let mut off = server.raw_client("off-key").await;
    assert_eq!(off.closed().await, Some(4003));
    let mut nobody = server.raw_client("new-key").await;
    assert_eq!(nobody.closed().await, Some(4001));
    // A row added while serving is picked up within the refresh (1 s here).
    pg.sql("INSERT INTO apps (id, key, secret, enable_client_messages, enabled) VALUES ('new', 'new-key', 's', 0, 1)");
    assert!(
        becomes_an_app(&server, "new-key").await,
        "the new row never became an app"
    );
    // The database going away keeps the apps read before.
    drop(pg);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut c = server.client().await;
    c.subscribe("still-here").await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn an_unreachable_database_stops_the_start_with_one_line() {
    let port = free_port();
    let out = herald_on(free_port(), port).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.starts_with("herald: cannot read apps from PostgreSQL 127.0.0.1:"),
        "{text}"
    );
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
}

/// A rotated secret and changed webhooks in the row apply to webhooks within
/// the refresh, requests made before the change included.
#[tokio::test]
async fn webhooks_follow_a_rotated_secret_and_changed_urls_in_the_row() {
    use crate::db_hooks::{herald_with_file, HookCase, NEW_SECRET, OLD_SECRET};
    let pg = Pg::start();
    pg.sql(SCHEMA);
    let case = HookCase::new().await;
    pg.sql(&format!(
        "INSERT INTO apps (id, key, secret, enable_client_messages, enabled, webhooks)
         VALUES ('pg-hooks', '{KEY}', '{OLD_SECRET}', 0, 1, '{}')",
        case.before()
    ));
    let vars = [
        ("SOKETI_APP_MANAGER_DRIVER", "postgres".to_string()),
        ("SOKETI_DB_POSTGRES_HOST", "127.0.0.1".to_string()),
        ("SOKETI_DB_POSTGRES_PORT", pg.port.to_string()),
        ("SOKETI_DB_POSTGRES_DATABASE", "postgres".to_string()),
    ];
    let (_child, server) = herald_with_file(&vars, "").await;
    let after = case.after();
    case.check(&server, || {
        pg.sql(&format!(
            "UPDATE apps SET secret = '{NEW_SECRET}', webhooks = '{after}' WHERE id = 'pg-hooks'"
        ))
    })
    .await;
}
