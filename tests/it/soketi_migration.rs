//! Moving over from Soketi: its cluster adapter (PM2 processes on one host), and
//! README's table of every Soketi variable checked against the reference and the code.

use crate::support::*;
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
