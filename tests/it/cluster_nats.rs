//! Several nodes joined through a real `nats-server -js` started on a free port
//! with its own JetStream store directory.

use crate::cluster::{eventually, start_of_a_second, wait_ready};
use crate::counts::{count_until, next_count};
use crate::support::*;
use crate::watchlist::{offline, online, watch_events};
use serde_json::json;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `nats-server` with JetStream on a free port, killed on drop.
pub struct Nats {
    pub port: u16,
    store: PathBuf,
    child: Option<Child>,
}

impl Nats {
    pub async fn start() -> Nats {
        let port = free_port();
        let store = std::env::temp_dir().join(format!("herald-nats-{port}-{}", std::process::id()));
        let mut n = Nats {
            port,
            store,
            child: None,
        };
        n.restart(true).await;
        n
    }

    pub fn server(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again; `keep_store`: with the JetStream store as it was, else empty.
    pub async fn restart(&mut self, keep_store: bool) {
        self.stop();
        if !keep_store {
            let _ = std::fs::remove_dir_all(&self.store);
        }
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &self.port.to_string()])
            .arg("-sd")
            .arg(&self.store)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server must be installed (make test installs it)");
        self.child = Some(child);
        for _ in 0..500 {
            if tokio::net::TcpStream::connect(("127.0.0.1", self.port))
                .await
                .is_ok()
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("nats-server did not start");
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

fn nats_toml(nats: &Nats, prefix: &str, app: &str, port: u16) -> String {
    format!(
        "[server]\nhost='127.0.0.1'\nport={port}\nadapter='nats'\nnats_servers=['{}']\nnats_prefix='{prefix}'\n\
         [[apps]]\nid='{APP_ID}'\nkey='{KEY}'\nsecret='{SECRET}'\nenable_client_messages=true\n{app}\n",
        nats.server()
    )
}

async fn node(nats: &Nats, prefix: &str, app: &str) -> Server {
    let server = Server::from_toml(&nats_toml(nats, prefix, app, 0)).await;
    wait_ready(&server, true).await;
    server
}

async fn pair(nats: &Nats, prefix: &str, app: &str) -> (Server, Server) {
    (node(nats, prefix, app).await, node(nats, prefix, app).await)
}

/// A herald process configured only through Soketi's variables, as a Soketi user would.
fn soketi_process(nats: &Nats, prefix: &str, port: u16) -> Child {
    soketi_command(nats, prefix, port).spawn().unwrap()
}

fn soketi_command(nats: &Nats, prefix: &str, port: u16) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_herald"));
    command
        .env("SOKETI_PORT", port.to_string())
        .env("SOKETI_HOST", "127.0.0.1")
        .env("SOKETI_ADAPTER_DRIVER", "nats")
        .env(
            "SOKETI_ADAPTER_NATS_SERVERS",
            format!("[\"{}\"]", nats.server()),
        )
        .env("SOKETI_ADAPTER_NATS_PREFIX", prefix)
        .env("SOKETI_DEFAULT_APP_ID", APP_ID)
        .env("SOKETI_DEFAULT_APP_KEY", KEY)
        .env("SOKETI_DEFAULT_APP_SECRET", SECRET)
        .env("HERALD_LOG", "error")
        .stdout(Stdio::null());
    command
}

#[tokio::test]
async fn nats_events_cross_nodes_in_order_excluding_socket_id() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n1", "").await;
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    on_a.subscribe_private("private-room").await;
    // Published right after subscription_succeeded on the other node: must arrive.
    on_b.subscribe_private("private-room").await;
    for i in 0..20 {
        a.publish("private-room", "seq", &i.to_string()).await;
    }
    for i in 0..20 {
        assert_eq!(
            on_b.next().await["data"],
            i.to_string(),
            "order on the remote node"
        );
        assert_eq!(on_a.next().await["data"], i.to_string());
    }
    let body = json!({"name":"e","data":"x","channel":"private-room","socket_id":on_b.socket_id})
        .to_string();
    let events = format!("/apps/{APP_ID}/events");
    assert_eq!(a.api("POST", &events, &[], &body).await.0, 200);
    assert_eq!(on_a.next().await["event"], "e");
    on_b.silent(300).await;
    on_a.send(json!({"event":"client-typing","channel":"private-room","data":{"x":1}}))
        .await;
    assert_eq!(on_b.next().await["event"], "client-typing");
    on_a.silent(200).await;
}

/// A node's subscription to a channel's subject ends with its last subscriber
/// and starts again with the next one, which then gets every event published
/// after its `subscription_succeeded`, exactly once.
#[tokio::test]
async fn nats_channel_churn_neither_loses_nor_duplicates() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n2", "").await;
    for round in 0..5 {
        let mut on_b = b.client().await;
        on_b.subscribe("churn").await;
        a.publish("churn", "e", &round.to_string()).await;
        assert_eq!(on_b.next().await["data"], round.to_string());
        on_b.silent(100).await;
        on_b.send(json!({"event":"pusher:unsubscribe","data":{"channel":"churn"}}))
            .await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        a.publish("churn", "e", "after-leaving").await;
        on_b.silent(150).await;
    }
}

#[tokio::test]
async fn nats_presence_is_one_member_list_for_the_cluster() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n3", "").await;
    let mut watcher = a.client().await;
    let ok = watcher
        .subscribe_presence("presence-room", r#"{"user_id":"w"}"#)
        .await;
    assert_eq!(data(&ok)["presence"]["count"], 1);
    let mut tab1 = b.client().await;
    let u = r#"{"user_id":"u","user_info":{"n":1}}"#;
    let ok = tab1.subscribe_presence("presence-room", u).await;
    assert_eq!(data(&ok)["presence"]["count"], 2, "{ok}");
    let added = watcher.expect("pusher_internal:member_added").await;
    assert_eq!(data(&added), json!({"user_id":"u","user_info":{"n":1}}));
    let mut tab2 = a.client().await;
    let ok = tab2.subscribe_presence("presence-room", u).await;
    assert_eq!(data(&ok)["presence"]["count"], 2);
    watcher.silent(300).await;
    let users = format!("/apps/{APP_ID}/channels/presence-room/users");
    for n in [&a, &b] {
        let (_, body) = n.api("GET", &users, &[], "").await;
        assert_eq!(body["users"].as_array().unwrap().len(), 2, "{body}");
    }
    let info = format!("/apps/{APP_ID}/channels/presence-room");
    let want = json!({"occupied":true,"user_count":2,"subscription_count":3});
    eventually(|| async {
        let q = [("info", "user_count,subscription_count")];
        b.api("GET", &info, &q, "").await.1 == want
    })
    .await;
    drop(tab1);
    watcher.silent(400).await;
    drop(tab2);
    let removed = watcher.expect("pusher_internal:member_removed").await;
    assert_eq!(data(&removed), json!({"user_id":"u"}));
}

/// Many users join one presence channel at once over two nodes: each socket
/// learns every member exactly once (from its list or from `member_added`).
#[tokio::test]
async fn nats_simultaneous_presence_joins_are_announced_once_to_each_socket() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n4", "").await;
    let channel = "presence-storm";
    let mut clients = Vec::new();
    for i in 0..30 {
        clients.push(if i % 2 == 0 {
            a.client().await
        } else {
            b.client().await
        });
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let data = format!(r#"{{"user_id":"u{i}"}}"#);
        let auth = channel_auth(&c.socket_id, channel, Some(&data));
        c.send(json!({"event":"pusher:subscribe","data":{"auth":auth,"channel":channel,"channel_data":data}}))
            .await;
    }
    let everyone: std::collections::BTreeSet<String> = (0..30).map(|i| format!("u{i}")).collect();
    tokio::time::sleep(Duration::from_millis(3000)).await;
    for (i, c) in clients.iter_mut().enumerate() {
        let mut known = std::collections::BTreeSet::new();
        while let Seen::Frame(f) = c.next_within(200).await {
            let d = data(&f);
            match f["event"].as_str().unwrap() {
                "pusher_internal:subscription_succeeded" => {
                    for id in d["presence"]["ids"].as_array().unwrap() {
                        known.insert(id.as_str().unwrap().to_string());
                    }
                }
                "pusher_internal:member_added" => {
                    let id = d["user_id"].as_str().unwrap().to_string();
                    assert!(known.insert(id.clone()), "u{i} was told twice about {id}");
                }
                "pusher:ping" => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(known, everyone, "u{i} does not know every member");
    }
}

#[tokio::test]
async fn nats_queries_users_cache_and_quota_are_cluster_wide() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n5", "max_connections = 2").await;
    let mut on_b = b.client().await;
    on_b.subscribe("news").await;
    let channels = format!("/apps/{APP_ID}/channels");
    eventually(|| async {
        let (_, body) = a
            .api("GET", &channels, &[("info", "subscription_count")], "")
            .await;
        body == json!({"channels":{"news":{"subscription_count":1}}})
    })
    .await;
    on_b.sign_in(r#"{"id":"7"}"#).await;
    a.publish("#server-to-user-7", "dm", "\"hi\"").await;
    assert_eq!(on_b.next().await["event"], "dm");
    a.publish("cache-board", "score", "\"3\"").await;
    let mut reader = b.client().await;
    reader.subscribe("cache-board").await;
    assert_eq!(reader.next().await["data"], "\"3\"");
    // Two sockets exist on b: once a has seen b's heartbeat, a refuses a third.
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut refused = a.raw_client(KEY).await;
    assert_eq!(refused.expect("pusher:error").await["data"]["code"], 4004);
    let terminate = format!("/apps/{APP_ID}/users/7/terminate_connections");
    assert_eq!(a.api("POST", &terminate, &[], "{}").await.0, 200);
    assert_eq!(on_b.closed().await, Some(4009));
}

#[tokio::test]
async fn nats_prefixes_isolate_clusters_sharing_a_server() {
    let nats = Nats::start().await;
    let (a, b) = (
        node(&nats, "site-a", "").await,
        node(&nats, "site-b", "").await,
    );
    let mut on_b = b.client().await;
    on_b.subscribe("shared-name").await;
    a.publish("shared-name", "e", "1").await;
    on_b.silent(300).await;
}

#[tokio::test]
async fn nats_graceful_shutdown_removes_members_at_once() {
    let nats = Nats::start().await;
    let (a, mut b) = pair(&nats, "n6", "").await;
    let mut watcher = a.client().await;
    watcher
        .subscribe_presence("presence-x", r#"{"user_id":"w"}"#)
        .await;
    let mut leaving = b.client().await;
    leaving
        .subscribe_presence("presence-x", r#"{"user_id":"l"}"#)
        .await;
    watcher.expect("pusher_internal:member_added").await;
    let t = Instant::now();
    b.stop();
    let removed = watcher.expect("pusher_internal:member_removed").await;
    assert_eq!(data(&removed), json!({"user_id":"l"}));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

/// A node started from Soketi's variables alone joins the cluster; killed with
/// SIGKILL, its members are removed and announced within 10 s.
#[tokio::test]
async fn nats_a_killed_soketi_configured_node_has_its_members_removed() {
    let nats = Nats::start().await;
    let a = node(&nats, "n7", "").await;
    let port = free_port();
    let mut child = soketi_process(&nats, "n7", port);
    let b = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
    wait_ready(&b, true).await;
    let mut watcher = a.client().await;
    watcher
        .subscribe_presence("presence-k", r#"{"user_id":"w"}"#)
        .await;
    let mut doomed = b.client().await;
    doomed
        .subscribe_presence("presence-k", r#"{"user_id":"d"}"#)
        .await;
    watcher.expect("pusher_internal:member_added").await;
    a.publish("presence-k", "hello", "1").await;
    assert_eq!(doomed.expect("hello").await["data"], "1");
    let t = Instant::now();
    child.kill().unwrap();
    child.wait().unwrap();
    let removed = loop {
        match watcher.next_within(12_000).await {
            Seen::Frame(f) if f["event"] == "pusher_internal:member_removed" => break f,
            Seen::Frame(_) => continue,
            other => panic!("no member_removed after kill: {other:?}"),
        }
    };
    assert_eq!(data(&removed), json!({"user_id":"d"}));
    let elapsed = t.elapsed();
    eprintln!("killed node cleaned up after {elapsed:?}");
    assert!(elapsed < Duration::from_secs(10));
    let users = format!("/apps/{APP_ID}/channels/presence-k/users");
    assert_eq!(
        a.api("GET", &users, &[], "").await.1["users"],
        json!([{"id":"w"}])
    );
}

/// A NATS restart, with its JetStream store kept and then with it lost: nodes
/// report not ready meanwhile, recover by themselves, and the member list is
/// rebuilt without announcing anyone twice.
#[tokio::test]
async fn nats_outage_is_loud_and_recovers_by_itself() {
    let mut nats = Nats::start().await;
    let (a, b) = pair(&nats, "n8", "").await;
    let mut one = a.client().await;
    let mut two = a.client().await;
    one.subscribe_private("private-local").await;
    two.subscribe_private("private-local").await;
    let mut member_a = a.client().await;
    member_a
        .subscribe_presence("presence-stay", r#"{"user_id":"a"}"#)
        .await;
    let mut member_b = b.client().await;
    member_b
        .subscribe_presence("presence-stay", r#"{"user_id":"b"}"#)
        .await;
    member_a.expect("pusher_internal:member_added").await;
    member_b.silent(300).await;
    for keep_store in [true, false] {
        nats.stop();
        wait_ready(&a, false).await;
        let (status, body) = a.publish("private-local", "e", "1").await;
        assert_eq!(status, 503, "{body}");
        one.send(json!({"event":"client-x","channel":"private-local","data":{}}))
            .await;
        assert_eq!(
            two.next().await["event"],
            "client-x",
            "local sockets keep working"
        );
        nats.restart(keep_store).await;
        wait_ready(&a, true).await;
        wait_ready(&b, true).await;
        member_a.silent(500).await;
        member_b.silent(50).await;
        let users = format!("/apps/{APP_ID}/channels/presence-stay/users");
        let (_, body) = b.api("GET", &users, &[], "").await;
        assert_eq!(
            body["users"].as_array().unwrap().len(),
            2,
            "store kept: {keep_store}: {body}"
        );
        let mut on_b = b.client().await;
        on_b.subscribe("after").await;
        assert_eq!(a.publish("after", "back", "1").await.0, 200);
        assert_eq!(
            on_b.next().await["event"],
            "back",
            "store kept: {keep_store}"
        );
        // The channel subscribed before the outage delivers again too.
        let mut remote = b.client().await;
        remote.subscribe_private("private-local").await;
        assert_eq!(a.publish("private-local", "again", "1").await.0, 200);
        assert_eq!(remote.next().await["event"], "again");
        assert_eq!(one.next().await["event"], "again");
        assert_eq!(two.next().await["event"], "again");
    }
    // A member who leaves while NATS is away is announced once it is back.
    nats.stop();
    wait_ready(&b, false).await;
    drop(member_b);
    nats.restart(true).await;
    wait_ready(&b, true).await;
    let removed = loop {
        match member_a.next_within(8000).await {
            Seen::Frame(f) if f["event"] == "pusher_internal:member_removed" => break f,
            Seen::Frame(_) => continue,
            other => panic!("no member_removed after the outage: {other:?}"),
        }
    };
    assert_eq!(data(&removed), json!({"user_id":"b"}));
}

/// `occupied` and `vacated` (what occupancy webhooks fire from) are cluster-wide transitions.
#[tokio::test]
async fn nats_occupancy_transitions_are_cluster_wide() {
    use herald::socket::{Liveness, Sink, SocketId};
    let nats = Nats::start().await;
    let mk = || {
        let text = nats_toml(&nats, "n9", "", 0);
        let cfg = herald::config::RawConfig::parse_toml("t", &text)
            .unwrap()
            .build()
            .unwrap();
        herald::node::Node::new(cfg).unwrap()
    };
    let (a, b) = (mk(), mk());
    for n in [&a, &b] {
        eventually(|| async { n.is_ready() }).await;
    }
    let (app_a, app_b) = (
        a.adapter.app(APP_ID).unwrap(),
        b.adapter.app(APP_ID).unwrap(),
    );
    let s1 = Sink::new(SocketId::new(1, 1), 8, Liveness::new(None));
    let s2 = Sink::new(SocketId::new(2, 2), 8, Liveness::new(None));
    let first = a
        .adapter
        .subscribe(&app_a, "room", &s1, None)
        .await
        .unwrap();
    assert!(first.occupied, "first subscriber in the cluster");
    let second = b
        .adapter
        .subscribe(&app_b, "room", &s2, None)
        .await
        .unwrap();
    assert!(!second.occupied, "already occupied on another node");
    let left = a.adapter.unsubscribe(&app_a, "room", 1).await.unwrap();
    assert!(!left.vacated, "still a subscriber on node b");
    let left = b.adapter.unsubscribe(&app_b, "room", 2).await.unwrap();
    assert!(left.vacated, "last subscriber in the cluster");
}

#[tokio::test]
async fn nats_api_rate_limits_are_shared_by_the_cluster() {
    let nats = Nats::start().await;
    let limits = "max_backend_events_per_sec = 3\nmax_read_req_per_sec = 2";
    let (a, b) = pair(&nats, "n10", limits).await;
    let events = format!("/apps/{APP_ID}/events");
    let body = r#"{"name":"e","channels":["one","two"],"data":"{}"}"#;
    start_of_a_second().await;
    assert_eq!(
        a.api("POST", &events, &[], body).await.0,
        200,
        "2 of 3 points"
    );
    let (status, answer) = b.api("POST", &events, &[], body).await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(
        b.publish("one", "e", "{}").await.0,
        200,
        "the last point, through B"
    );
    let channels = format!("/apps/{APP_ID}/channels");
    assert_eq!(a.api("GET", &channels, &[], "").await.0, 200);
    assert_eq!(b.api("GET", &channels, &[], "").await.0, 200);
    assert_eq!(a.api("GET", &channels, &[], "").await.0, 429);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(a.publish("one", "e", "{}").await.0, 200, "a new second");
}

#[tokio::test]
async fn nats_the_subscription_count_is_the_clusters() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n10", crate::counts::ON).await;
    let mut on_a = a.client().await;
    on_a.subscribe("room").await;
    assert_eq!(next_count(&mut on_a).await, 1);
    let mut on_b = b.client().await;
    on_b.subscribe("room").await;
    assert_eq!(count_until(&mut on_b, 2).await, 1, "b's first count is 2");
    assert_eq!(next_count(&mut on_a).await, 2);
    let mut on_b2 = b.client().await;
    on_b2.subscribe("room").await;
    assert_eq!(next_count(&mut on_a).await, 3);
    assert_eq!(next_count(&mut on_b).await, 3);
    on_b2
        .send(json!({"event":"pusher:unsubscribe","data":{"channel":"room"}}))
        .await;
    assert_eq!(next_count(&mut on_a).await, 2);
    assert_eq!(next_count(&mut on_b).await, 2);
    drop(on_b);
    let frames = count_until(&mut on_a, 1).await;
    assert!(frames <= 2, "{frames} frames from 3 to 1");
    on_a.silent(500).await;
}

#[tokio::test]
async fn nats_watchlist_online_and_offline_are_the_clusters() {
    let nats = Nats::start().await;
    let (a, b) = pair(&nats, "n11", crate::watchlist::ON).await;
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

/// A child process killed on drop (also when an assertion fails first).
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A node killed without goodbye: its signed-in user goes offline for the
/// watchers elsewhere once the node is purged.
#[tokio::test]
async fn nats_a_killed_nodes_users_go_offline() {
    let nats = Nats::start().await;
    let a = node(&nats, "n12", crate::watchlist::ON).await;
    let port = free_port();
    let mut command = soketi_command(&nats, "n12", port);
    command.env("SOKETI_DEFAULT_APP_ENABLE_WATCHLIST_EVENTS", "true");
    let mut child = Killed(command.spawn().unwrap());
    let b = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
    wait_ready(&b, true).await;
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

/// A join on B while NATS is down reaches A's count once NATS is back.
#[tokio::test]
async fn nats_counts_converge_after_an_outage() {
    let mut nats = Nats::start().await;
    let (a, b) = pair(&nats, "n13", crate::counts::ON).await;
    let mut on_a = a.client().await;
    on_a.subscribe("room").await;
    let mut on_b = b.client().await;
    on_b.subscribe("room").await;
    count_until(&mut on_a, 2).await;
    nats.stop();
    wait_ready(&b, false).await;
    let mut late = b.client().await;
    late.subscribe("room").await;
    nats.restart(false).await;
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    count_until(&mut on_a, 3).await;
    count_until(&mut late, 3).await;
}

/// NATS restarts with an empty store: each node registers its signed-in users
/// again, so a user online through the outage still goes offline when it leaves.
#[tokio::test]
async fn nats_the_online_state_survives_a_restart() {
    let mut nats = Nats::start().await;
    let (a, b) = pair(&nats, "n14", crate::watchlist::ON).await;
    let mut y = b.client().await;
    y.sign_in(r#"{"id":"y"}"#).await;
    let mut watcher = a.client().await;
    watcher.sign_in(r#"{"id":"w","watchlist":["x","y"]}"#).await;
    assert_eq!(watch_events(&mut watcher).await[0], online(&["y"])[0]);
    nats.stop();
    wait_ready(&a, false).await;
    nats.restart(false).await;
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    watcher.silent(300).await;
    let mut x = b.client().await;
    x.sign_in(r#"{"id":"x"}"#).await;
    assert_eq!(watch_events(&mut watcher).await, online(&["x"]));
    drop(y);
    assert_eq!(watch_events(&mut watcher).await, offline(&["y"]));
}
