//! Watchlist events for apps with `enable_watchlist_events`.

use crate::cluster::{node, node_process, wait_ready, Bus};
use crate::support::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

pub const ON: &str = "enable_watchlist_events = true";

/// The `data.events` of the next watchlist frame (other frames are skipped).
pub async fn watch_events(c: &mut Client) -> Value {
    c.expect("pusher_internal:watchlist_events").await["data"]["events"].clone()
}

pub fn online(ids: &[&str]) -> Value {
    json!([{"name":"online","user_ids":ids}])
}

pub fn offline(ids: &[&str]) -> Value {
    json!([{"name":"offline","user_ids":ids}])
}

#[tokio::test]
async fn a_watcher_hears_the_status_now_then_each_change_on_one_node() {
    let server = Server::start("", ON).await;
    let mut three = server.client().await;
    three.sign_in(r#"{"id":"3"}"#).await;
    let mut watcher = server.client().await;
    let ok = watcher.sign_in(r#"{"id":"1","watchlist":["2","3"]}"#).await;
    assert_eq!(ok["event"], "pusher:signin_success");
    assert_eq!(
        watcher.next().await,
        json!({"event":"pusher_internal:watchlist_events","data":{"events":[
            {"name":"online","user_ids":["3"]},{"name":"offline","user_ids":["2"]}]}})
    );
    let mut tab1 = server.client().await;
    tab1.sign_in(r#"{"id":"2"}"#).await;
    assert_eq!(watch_events(&mut watcher).await, online(&["2"]));
    let mut tab2 = server.client().await;
    tab2.sign_in(r#"{"id":"2"}"#).await;
    watcher.silent(200).await;
    drop(tab1);
    watcher.silent(300).await;
    drop(tab2);
    assert_eq!(watch_events(&mut watcher).await, offline(&["2"]));
    let mut stranger = server.client().await;
    stranger.sign_in(r#"{"id":"9"}"#).await;
    watcher.silent(200).await;
    // Signed in as someone else: the socket leaves user 3's online state.
    three.sign_in(r#"{"id":"4"}"#).await;
    assert_eq!(watch_events(&mut watcher).await, offline(&["3"]));
}

#[tokio::test]
async fn more_than_100_ids_keep_the_first_100_with_error_4302() {
    let server = Server::start("", ON).await;
    let mut last = server.client().await;
    last.sign_in(r#"{"id":"u100"}"#).await;
    let mut first = server.client().await;
    first.sign_in(r#"{"id":"u0"}"#).await;
    let ids: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let user_data = json!({"id":"w","watchlist":ids}).to_string();
    let mut watcher = server.client().await;
    assert_eq!(
        watcher.sign_in(&user_data).await["event"],
        "pusher:signin_success"
    );
    assert_eq!(
        watcher.next().await,
        json!({"event":"pusher:error","data":{"code":4302,"message":"Watchlist limit exceeded. Only the first 100 user IDs are accepted."}})
    );
    assert!(herald::metrics::refusals("watchlist_limit") >= 1);
    let events = watch_events(&mut watcher).await;
    assert_eq!(events[0], json!({"name":"online","user_ids":["u0"]}));
    assert_eq!(events[1]["user_ids"].as_array().unwrap().len(), 99);
    drop(last);
    watcher.silent(300).await;
    drop(first);
    assert_eq!(watch_events(&mut watcher).await, offline(&["u0"]));
}

#[tokio::test]
async fn no_watchlist_events_without_the_flag() {
    let server = Server::start("", "").await;
    let mut watcher = server.client().await;
    watcher.sign_in(r#"{"id":"1","watchlist":["2"]}"#).await;
    let mut two = server.client().await;
    two.sign_in(r#"{"id":"2"}"#).await;
    watcher.silent(300).await;
}

/// Two nodes on `bus` (run on each bus by `on_redis`, `on_cluster`, `on_nats`).
pub async fn online_and_offline_are_the_clusters(bus: &mut impl Bus) {
    let a = node(&*bus, "wl1", ON).await;
    let b = node(&*bus, "wl1", ON).await;
    let mut early = b.client().await;
    early.sign_in(r#"{"id":"e"}"#).await;
    let mut watcher = a.client().await;
    watcher.sign_in(r#"{"id":"w","watchlist":["e","x"]}"#).await;
    assert_eq!(
        watch_events(&mut watcher).await,
        json!([{"name":"online","user_ids":["e"]},{"name":"offline","user_ids":["x"]}])
    );
    let mut x_on_b = b.client().await;
    x_on_b.sign_in(r#"{"id":"x"}"#).await;
    assert_eq!(watch_events(&mut watcher).await, online(&["x"]));
    let mut x_on_a = a.client().await;
    x_on_a.sign_in(r#"{"id":"x"}"#).await;
    watcher.silent(300).await;
    drop(x_on_b);
    watcher.silent(300).await;
    drop(x_on_a);
    assert_eq!(watch_events(&mut watcher).await, offline(&["x"]));
    drop(early);
    assert_eq!(watch_events(&mut watcher).await, offline(&["e"]));
}

/// The bus restarts empty: each node registers its signed-in users again, so a
/// user who was online through the outage still goes offline when it leaves.
pub async fn the_online_state_survives_a_restart(redis: &mut impl Bus) {
    let a = node(&*redis, "wl2", ON).await;
    let b = node(&*redis, "wl2", ON).await;
    let mut y = b.client().await;
    y.sign_in(r#"{"id":"y"}"#).await;
    let mut watcher = a.client().await;
    watcher.sign_in(r#"{"id":"w","watchlist":["x","y"]}"#).await;
    assert_eq!(watch_events(&mut watcher).await[0], online(&["y"])[0]);
    redis.stop();
    wait_ready(&a, false).await;
    redis.restart().await;
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    watcher.silent(300).await;
    let mut x = b.client().await;
    x.sign_in(r#"{"id":"x"}"#).await;
    assert_eq!(watch_events(&mut watcher).await, online(&["x"]));
    drop(y);
    assert_eq!(watch_events(&mut watcher).await, offline(&["y"]));
}

/// A node killed without goodbye: its signed-in user goes offline for the
/// watchers elsewhere once the node is purged.
pub async fn a_killed_nodes_users_go_offline(bus: &mut impl Bus) {
    let a = node(&*bus, "wl3", ON).await;
    let (mut child, b) = node_process(&*bus, "wl3", ON).await;
    let mut doomed = b.client().await;
    doomed.sign_in(r#"{"id":"d"}"#).await;
    let mut watcher = a.client().await;
    watcher.sign_in(r#"{"id":"w","watchlist":["d"]}"#).await;
    assert_eq!(watch_events(&mut watcher).await, online(&["d"]));
    let t = Instant::now();
    child.0.kill().unwrap();
    child.0.wait().unwrap();
    let events = loop {
        match watcher.next_within(12_000).await {
            // B's own announcement of d's sign-in may reach A after the
            // watcher's list already said online (a repeat, seen under load).
            Seen::Frame(f) if f["data"]["events"] == online(&["d"]) => continue,
            Seen::Frame(f) if f["event"] == "pusher_internal:watchlist_events" => {
                break f["data"]["events"].clone()
            }
            Seen::Frame(_) => continue,
            other => panic!("no offline after kill: {other:?}"),
        }
    };
    assert_eq!(events, offline(&["d"]));
    assert!(t.elapsed() < Duration::from_secs(10));
}
