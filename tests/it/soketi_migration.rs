//! Moving over from Soketi: its cluster adapter (PM2 processes on one host), and
//! README's table of every Soketi variable checked against the reference and the code.

use crate::support::*;
use herald::config::settings::Kind;
use std::io::Read;

/// Soketi's cluster mode with its discovery settings, from the environment only:
/// herald says in one log line that its one process already is that cluster, warns
/// about nothing, and serves.
#[tokio::test]
async fn soketi_cluster_adapter_runs_as_one_process() {
    let port = free_port();
    let vars = [
        ("SOKETI_ADAPTER_DRIVER", "cluster".to_string()),
        ("SOKETI_ADAPTER_CLUSTER_REQUESTS_TIMEOUT", "5000".into()),
        ("SOKETI_CLUSTER_PORT", "11002".into()),
        ("SOKETI_CLUSTER_KEEPALIVE_INTERVAL", "500".into()),
        ("SOKETI_CLUSTER_NODE_TIMEOUT", "2000".into()),
        (
            "SOKETI_CLUSTER_UNICAST_ADDRESSES",
            r#"["127.0.0.1"]"#.into(),
        ),
        ("HERALD_LOG", "info".into()),
    ];
    let mut child = crate::cluster::Killed(crate::db::herald_with(port, &vars));
    let server = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
    crate::cluster::wait_ready(&server, true).await;
    let (mut one, mut two) = (server.client().await, server.client().await);
    one.subscribe("room").await;
    two.subscribe("room").await;
    assert_eq!(server.publish("room", "e", "1").await.0, 200);
    assert_eq!(one.next().await["event"], "e");
    assert_eq!(two.next().await["event"], "e");
    let _ = (child.0.kill(), child.0.wait());
    let mut logs = String::new();
    let stdout = child.0.stdout.as_mut().unwrap();
    stdout.read_to_string(&mut logs).unwrap();
    assert!(
        logs.contains(r#"adapter "cluster" runs as "local": herald is one multi-threaded process"#),
        "{logs}"
    );
    assert!(!logs.contains("WARN"), "{logs}");
}

/// Discovery settings that name other hosts cannot be honoured without a bus:
/// the start is refused, naming the variable and what to use instead.
#[test]
fn soketi_cluster_peers_on_other_hosts_are_refused() {
    let cases = [
        (
            "SOKETI_CLUSTER_UNICAST_ADDRESSES",
            r#"["127.0.0.1","10.0.0.7"]"#,
        ),
        ("SOKETI_CLUSTER_MULTICAST_ADDRESS", "239.1.2.3"),
    ];
    for (name, value) in cases {
        let vars = [
            ("SOKETI_ADAPTER_DRIVER", "cluster".to_string()),
            (name, value.to_string()),
        ];
        let out = crate::db::herald_with(free_port(), &vars)
            .wait_with_output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains(name), "{stderr}");
        assert!(stderr.contains("redis or nats"), "{stderr}");
    }
}

/// The rows of README's table of Soketi variables: (variable, status).
fn readme_rows() -> Vec<(String, String)> {
    let readme = include_str!("../../README.md");
    let section = readme.split("## Migrating from Soketi").nth(1).unwrap();
    let section = section.split("\n## ").next().unwrap();
    let row = |line: &str| {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        Some((
            cells.get(1)?.trim_matches('`').to_string(),
            cells.get(2)?.to_string(),
        ))
    };
    let rows = section.lines().filter(|l| l.starts_with("| `SOKETI_"));
    rows.filter_map(row).collect()
}

/// `herald config check` with nothing but `vars`, in an empty directory: (exit code, stdout).
fn config_check(vars: &[(&str, &str)]) -> (Option<i32>, String) {
    let (code, stdout, _) = crate::support::config_check(&std::env::temp_dir(), &[], vars);
    (code, stdout)
}

/// Every Soketi 1.6 variable has one row, with a status, and no row names a variable Soketi lacks.
#[test]
fn readme_lists_every_soketi_variable_once() {
    let reference = include_str!("../fixtures/soketi-1.6-variables.txt");
    let reference: Vec<&str> = reference.lines().filter(|l| !l.starts_with('#')).collect();
    let rows = readme_rows();
    for name in &reference {
        let found: Vec<_> = rows.iter().filter(|(n, _)| n == name).collect();
        assert_eq!(found.len(), 1, "{name}: {found:?}");
    }
    // The names Soketi's docs give instead of the ones its code reads.
    let aliases = [
        "SOKETI_HTTP_MAX_REQUEST_SIZE",
        "SOKETI_CHANNEL_MAX_NAME_LENGTH",
    ];
    for (name, status) in &rows {
        let known = reference.contains(&name.as_str()) || aliases.contains(&name.as_str());
        assert!(known, "{name} is not a Soketi variable");
        assert!(
            ["supported", "unneeded", "refused"].contains(&status.as_str()),
            "{name}: {status}"
        );
    }
}

/// A row marked supported is read: set alone (to one of a few values, the first
/// its setting takes), it changes what `config check` shows. A row marked
/// unneeded is accepted (exit 0) and changes nothing.
#[test]
fn readme_statuses_match_what_the_config_reads() {
    // Values some setting takes (a webhook for `SOKETI_DEFAULT_APP_WEBHOOKS`).
    let hook = r#"[{"url":"http://h/"}]"#;
    let values = [
        "1",
        "0",
        "true",
        "127.0.0.1:1",
        "[]",
        "mysql",
        "full",
        "redis",
        "x",
        hook,
    ];
    // The TLS files are read by `config check`, and secrets are shown as `****`
    // whatever they are: these are checked against the rows of the settings table.
    let files = ["SOKETI_SSL_CERT", "SOKETI_SSL_KEY"];
    let row = |name: &str| herald::config::settings::rows().find(|r| r.env.contains(&name));
    let secret = |name: &str| row(name).is_some_and(|r| r.kind == Kind::Secret);
    for (name, status) in readme_rows() {
        let context = match name.as_str() {
            "SOKETI_DB_REDIS_CLUSTER_NODES" => ("SOKETI_ADAPTER_REDIS_CLUSTER_MODE", "true"),
            _ => ("SOKETI_UNUSED_IN_THIS_TEST", ""),
        };
        let read = |value: &str| {
            let (code, out) = config_check(&[(name.as_str(), value), context]);
            code == Some(0) && out != config_check(&[context]).1
        };
        match status.as_str() {
            "supported" if files.contains(&name.as_str()) || secret(&name) => {
                assert!(row(&name).is_some(), "{name}")
            }
            "supported" => assert!(values.iter().any(|v| read(v)), "{name} is not read"),
            "unneeded" => {
                let (code, out) = config_check(&[(name.as_str(), "x")]);
                assert_eq!(code, Some(0), "{name}");
                assert_eq!(out, config_check(&[]).1, "{name} sets something");
            }
            _ => {}
        }
    }
}

/// Soketi's JSON config names the sentinels as objects; the master's name is
/// Soketi's `mymaster` unless given; `config check` names where each came from.
#[test]
fn soketi_json_sentinel_options_are_read() {
    let dir = std::env::temp_dir().join(format!("herald-sentinel-json-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.json");
    let json = r#"{"adapter": {"driver": "redis"}, "database": {"redis": {"password": "pw",
        "sentinels": [{"host": "10.0.0.1", "port": 26380}, {"host": "10.0.0.2"}],
        "sentinelPassword": "spw"}}}"#;
    std::fs::write(&path, json).unwrap();
    let args = ["--config", path.to_str().unwrap()];
    let (code, stdout, stderr) = crate::support::config_check(&dir, &args, &[]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.is_empty(), "no warning: {stderr}");
    let adapter = r#"adapter = redis sentinel 10.0.0.1:26380,10.0.0.2 master "mymaster""#;
    assert!(stdout.contains(adapter), "{stdout}");
    assert!(stdout.contains("database.redis.sentinels"), "{stdout}");
    let secret = r#"redis_sentinel_password = "****"  # config file"#;
    assert!(stdout.contains(secret), "{stdout}");
    assert!(!stdout.contains("spw"), "{stdout}");
}
