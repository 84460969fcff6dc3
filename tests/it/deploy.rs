//! Deploys without a gap: a new node binds beside the old one, the old one lets
//! go of its listener before it tells its sockets to reconnect, and behind a
//! trusted proxy the per-address cap counts the clients, not the proxy.

use crate::support::*;
use herald::config::RawConfig;
use herald::node::Node;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::sync::oneshot;

/// A node serving on `addr` (which may be shared with another node).
fn node_on(addr: SocketAddr, server: &str) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let text = format!(
        "[server]\nhost='127.0.0.1'\nport=0\n{server}\n[[apps]]\nid='{APP_ID}'\nkey='{KEY}'\nsecret='{SECRET}'\n"
    );
    let config = RawConfig::parse_toml("test", &text)
        .unwrap()
        .build()
        .unwrap();
    let listener = herald::server::bind(addr).unwrap();
    let node = Node::new(config).unwrap();
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(herald::server::run(listener, None, node, async move {
        let _ = rx.await;
    }));
    (tx, task)
}

#[tokio::test]
async fn a_new_node_binds_beside_the_old_and_takes_over_without_a_refused_connection() {
    let old = Server::start("shutdown_reconnect_window_ms = 300", "").await;
    let addr = old.addr;
    let mut on_old = old.client().await;
    on_old.subscribe("news").await;
    // The new process binds the same port while the old one still serves.
    let (new_stop, _new_task) = node_on(addr, "");
    let mut old = old;
    old.stop();
    // 4200 comes once the old listener is closed: every connection from then on
    // reaches the new node, and none is refused during the handoff.
    assert_eq!(on_old.closed().await, Some(4200));
    for _ in 0..20 {
        let mut c = Server::external(addr).client().await;
        c.subscribe("news").await;
    }
    let _ = (&mut old.task).await;
    let mut fresh = Server::external(addr).client().await;
    fresh.subscribe("news").await;
    let (status, _) = Server::external(addr).publish("news", "after", "{}").await;
    assert_eq!(status, 200);
    assert_eq!(fresh.expect("after").await["channel"], "news");
    let _ = new_stop.send(());
}

async fn first_event(c: &mut Client) -> (String, Option<i64>) {
    let v = c.next().await;
    let code = match v["event"].as_str() {
        Some("pusher:error") => v["data"]["code"].as_i64(),
        _ => None,
    };
    (v["event"].as_str().unwrap_or("").to_string(), code)
}

#[tokio::test]
async fn behind_a_trusted_proxy_the_address_cap_counts_each_client() {
    let server = Server::start(
        "max_connections_per_ip = 1\ntrusted_proxies = ['127.0.0.1']",
        "",
    )
    .await;
    let established = ("pusher:connection_established".to_string(), None);
    let mut a = client_from(&server, [127, 0, 0, 1], Some("203.0.113.1")).await;
    let mut b = client_from(&server, [127, 0, 0, 1], Some("198.51.100.7, 203.0.113.2")).await;
    assert_eq!(first_event(&mut a).await, established);
    assert_eq!(
        first_event(&mut b).await,
        established,
        "another client, same proxy"
    );
    // The same client again, whatever it writes in front of the proxy's entry.
    let mut again = client_from(&server, [127, 0, 0, 1], Some("1.1.1.1, 203.0.113.1")).await;
    assert_eq!(first_event(&mut again).await.1, Some(4100));
    // A peer that is not a trusted proxy is counted as itself: its header is ignored.
    let mut x = client_from(&server, [127, 0, 0, 9], Some("192.0.2.1")).await;
    let mut y = client_from(&server, [127, 0, 0, 9], Some("192.0.2.2")).await;
    assert_eq!(first_event(&mut x).await, established);
    assert_eq!(first_event(&mut y).await.1, Some(4100));
    // A client's share is given back when its socket closes.
    drop(a);
    for _ in 0..50 {
        let mut c = client_from(&server, [127, 0, 0, 1], Some("203.0.113.1")).await;
        if first_event(&mut c).await == established {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the client's share was not given back");
}
