//! Several nodes joined through a real bus started on free ports. Each scenario
//! is a function over a [`Bus`]; `on_redis` runs them against one `redis-server`,
//! `redis_cluster::on_cluster` against a three-master Redis Cluster,
//! `cluster_nats::on_nats` against a `nats-server -js`.

use crate::support::*;
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` on a free port with its own directory, killed on drop.
pub struct Redis {
    pub port: u16,
    child: Option<Child>,
    dir: std::path::PathBuf,
}

impl Redis {
    pub async fn start() -> Redis {
        let port = free_port();
        let dir = std::env::temp_dir().join(format!("herald-redis-{port}"));
        std::fs::create_dir_all(&dir).unwrap();
        let mut r = Redis {
            port,
            child: None,
            dir,
        };
        r.restart().await;
        r
    }

    /// Save the data, then stop (as a graceful shutdown of a stock redis-server does).
    pub fn stop_saving(&mut self) {
        let _ = Command::new("redis-cli")
            .args(["-p", &self.port.to_string(), "SAVE"])
            .output();
        self.stop();
    }

    /// Start again with the data saved by [`Redis::stop_saving`].
    pub async fn start_saved(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--save", ""])
            .args(["--appendonly", "no"])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.child = Some(child);
        wait_listening(self.port, "redis-server").await;
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again, empty.
    pub async fn restart(&mut self) {
        self.stop();
        let _ = std::fs::remove_file(self.dir.join("dump.rdb"));
        self.start_saved().await;
    }
}

/// Wait for a server to listen on `port`, up to 10 s: on a loaded box
/// redis-server once took more than 2 s to listen.
pub async fn wait_listening(port: u16, server: &str) {
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{server} on {port} did not start");
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A bus the nodes join: what their `[server]` table says, and an outage.
#[allow(async_fn_in_trait)]
pub trait Bus {
    /// The `[server]` lines that point a node at this bus.
    fn server_toml(&self) -> String;
    /// Take the whole bus down.
    fn stop(&mut self);
    /// Bring it back (empty, as after a restart without persistence).
    async fn restart(&mut self);
    /// Take the whole bus down with its data saved.
    fn stop_keeping_data(&mut self);
    /// Bring it back with the data saved by [`Bus::stop_keeping_data`].
    async fn restart_with_data(&mut self);
    /// How many connections listen to a pub/sub subject (what an operator sees in
    /// `PUBSUB NUMSUB`, or `PUBSUB SHARDNUMSUB` on a cluster).
    fn listeners(&self, subject: &str) -> usize;
    /// The `[server]` line naming the cluster prefix.
    fn prefix_toml(&self, prefix: &str) -> String {
        format!("redis_prefix='{prefix}'\n")
    }
    /// The subject a channel's deliveries go to.
    fn channel_subject(&self, prefix: &str, app: &str, channel: &str) -> String {
        format!("{prefix}#{app}#{channel}")
    }
    /// The node-wide subject every node listens to.
    fn node_subject(&self, prefix: &str) -> String {
        format!("{prefix}#bus")
    }
    /// Whether a member's own announcement may reach a socket that joins right
    /// after it, past that socket's member list (a known race on Redis, see the
    /// adapter's module doc).
    fn may_announce_after_the_list(&self) -> bool {
        true
    }
    /// A relay on one node's way to this bus, the others keeping theirs
    /// (`partition`); nodes started before it may be on the old way.
    async fn cut_off_link(&mut self) -> crate::partition::Link;
    /// How long `partition` keeps that link frozen.
    fn partition_secs(&self) -> u64 {
        9
    }
    /// The bus's name in the tests' logs.
    fn name(&self) -> &'static str;
}

/// The count in a `PUBSUB NUMSUB`-style answer (`subject\ncount`) from `redis-cli`.
pub fn numsub(port: u16, command: &str, subject: &str) -> usize {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string(), "PUBSUB", command, subject])
        .output()
        .expect("redis-cli must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .nth(1)
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

impl Bus for Redis {
    fn server_toml(&self) -> String {
        format!("adapter='redis'\nredis_url='{}'\n", self.url())
    }
    fn stop(&mut self) {
        Redis::stop(self)
    }
    async fn restart(&mut self) {
        Redis::restart(self).await
    }
    fn stop_keeping_data(&mut self) {
        self.stop_saving()
    }
    async fn restart_with_data(&mut self) {
        self.start_saved().await
    }
    fn listeners(&self, subject: &str) -> usize {
        numsub(self.port, "NUMSUB", subject)
    }
    async fn cut_off_link(&mut self) -> crate::partition::Link {
        crate::partition::Link::to_port(
            self.port,
            "adapter='redis'\nredis_url='redis://{addr}/0'\n",
        )
        .await
    }
    /// The issue's 20 s partition is kept on this bus.
    fn partition_secs(&self) -> u64 {
        20
    }
    fn name(&self) -> &'static str {
        "redis"
    }
}

pub fn cluster_toml(bus: &impl Bus, prefix: &str, server: &str, app: &str, port: u16) -> String {
    format!(
        "[server]\nhost='127.0.0.1'\nport={port}\n{}{}{server}\n\
         [[apps]]\nid='{APP_ID}'\nkey='{KEY}'\nsecret='{SECRET}'\nenable_client_messages=true\n{app}\n",
        bus.server_toml(),
        bus.prefix_toml(prefix)
    )
}

pub async fn node(bus: &impl Bus, prefix: &str, app: &str) -> Server {
    let server = Server::from_toml(&cluster_toml(bus, prefix, "", app, 0)).await;
    wait_ready(&server, true).await;
    server
}

pub async fn wait_ready(server: &Server, ready: bool) {
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(server.addr).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let want = if ready { 200 } else { 503 };
    for _ in 0..200 {
        if server.http_text("GET", "/ready", "").await.0 == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!(
        "node never became {}",
        if ready { "ready" } else { "unready" }
    );
}

/// Retry an assertion while cluster state propagates (counts flush every 20 ms).
pub async fn eventually<F, Fut>(mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..100 {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(30)).await;
    }
    panic!("condition never held");
}

pub async fn events_and_client_events_cross_nodes_excluding_socket_id(redis: &mut impl Bus) {
    let (a, b) = (node(&*redis, "t1", "").await, node(&*redis, "t1", "").await);
    let mut on_a = a.client().await;
    let mut on_b = b.client().await;
    on_a.subscribe_private("private-room").await;
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
    assert_eq!(
        a.api("POST", &format!("/apps/{APP_ID}/events"), &[], &body)
            .await
            .0,
        200
    );
    assert_eq!(on_a.next().await["event"], "e");
    on_b.silent(300).await;
    on_a.send(json!({"event":"client-typing","channel":"private-room","data":{"x":1}}))
        .await;
    assert_eq!(on_b.next().await["event"], "client-typing");
    on_a.silent(200).await;
}

pub async fn presence_is_one_member_list_for_the_cluster(redis: &mut impl Bus) {
    let (a, b) = (node(&*redis, "t2", "").await, node(&*redis, "t2", "").await);
    let mut watcher = a.client().await;
    let ok = watcher
        .subscribe_presence("presence-room", r#"{"user_id":"w"}"#)
        .await;
    assert_eq!(data(&ok)["presence"]["count"], 1);
    let mut tab1 = b.client().await;
    let ok = tab1
        .subscribe_presence("presence-room", r#"{"user_id":"u","user_info":{"n":1}}"#)
        .await;
    assert_eq!(data(&ok)["presence"]["count"], 2, "{ok}");
    assert_eq!(data(&ok)["presence"]["hash"]["w"], serde_json::Value::Null);
    let added = watcher.expect("pusher_internal:member_added").await;
    assert_eq!(data(&added), json!({"user_id":"u","user_info":{"n":1}}));
    let mut tab2 = a.client().await;
    let ok = tab2
        .subscribe_presence("presence-room", r#"{"user_id":"u","user_info":{"n":1}}"#)
        .await;
    assert_eq!(data(&ok)["presence"]["count"], 2);
    watcher.silent(300).await;
    let users = format!("/apps/{APP_ID}/channels/presence-room/users");
    for n in [&a, &b] {
        let (_, body) = n.api("GET", &users, &[], "").await;
        assert_eq!(body["users"].as_array().unwrap().len(), 2, "{body}");
    }
    let info = format!("/apps/{APP_ID}/channels/presence-room");
    eventually(|| async {
        let (_, body) = b
            .api(
                "GET",
                &info,
                &[("info", "user_count,subscription_count")],
                "",
            )
            .await;
        body == json!({"occupied":true,"user_count":2,"subscription_count":3})
    })
    .await;
    drop(tab1);
    watcher.silent(400).await;
    drop(tab2);
    let removed = watcher.expect("pusher_internal:member_removed").await;
    assert_eq!(data(&removed), json!({"user_id":"u"}));
}

/// Many users join one presence channel at once, spread over two nodes: each
/// socket learns every member exactly once, from its `subscription_succeeded`
/// list or from a later `member_added`, never both.
pub async fn simultaneous_presence_joins_are_announced_once_to_each_socket(redis: &mut impl Bus) {
    let (a, b) = (node(&*redis, "t8", "").await, node(&*redis, "t8", "").await);
    let channel = "presence-storm";
    let mut clients = Vec::new();
    for i in 0..40 {
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
    let everyone: std::collections::BTreeSet<String> = (0..40).map(|i| format!("u{i}")).collect();
    // Let every join and announcement settle, then read what each socket got.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for (i, c) in clients.iter_mut().enumerate() {
        let mut known = std::collections::BTreeSet::new();
        while let Seen::Frame(f) = c.next_within(200).await {
            if f["event"] == "pusher:ping" {
                continue;
            }
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
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(known, everyone, "u{i} does not know every member");
    }
}

pub async fn queries_users_cache_and_quota_are_cluster_wide(redis: &mut impl Bus) {
    let (a, b) = (
        node(&*redis, "t3", "max_connections = 2").await,
        node(&*redis, "t3", "max_connections = 2").await,
    );
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
    // sendToUser and terminate reach a socket on the other node.
    on_b.sign_in(r#"{"id":"7"}"#).await;
    a.publish("#server-to-user-7", "dm", "\"hi\"").await;
    assert_eq!(on_b.next().await["event"], "dm");
    // Cache written through one node, read through the other.
    a.publish("cache-board", "score", "\"3\"").await;
    let mut reader = b.client().await;
    reader.subscribe("cache-board").await;
    assert_eq!(reader.next().await["data"], "\"3\"");
    // Two sockets exist (on_b, reader): the quota of 2 holds on node a too, once both
    // nodes have heartbeated (counts are exchanged every second).
    tokio::time::sleep(Duration::from_millis(2200)).await;
    let mut refused = a.raw_client(KEY).await;
    assert_eq!(refused.expect("pusher:error").await["data"]["code"], 4004);
    let terminate = format!("/apps/{APP_ID}/users/7/terminate_connections");
    assert_eq!(a.api("POST", &terminate, &[], "{}").await.0, 200);
    assert_eq!(on_b.closed().await, Some(4009));
}

pub async fn prefixes_isolate_clusters_sharing_a_redis(redis: &mut impl Bus) {
    let (a, b) = (
        node(&*redis, "site-a", "").await,
        node(&*redis, "site-b", "").await,
    );
    let mut on_b = b.client().await;
    on_b.subscribe("shared-name").await;
    a.publish("shared-name", "e", "1").await;
    on_b.silent(300).await;
}

pub async fn graceful_shutdown_removes_members_at_once(redis: &mut impl Bus) {
    let a = node(&*redis, "t5", "").await;
    let mut b = node(&*redis, "t5", "").await;
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

/// A child process killed on drop (also when an assertion fails first).
pub struct Killed(pub Child);

impl Killed {
    /// A herald process started on `port`, once it answers ready.
    pub async fn when_ready(child: Child, port: u16) -> (Killed, Server) {
        let server = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
        let child = Killed(child);
        wait_ready(&server, true).await;
        (child, server)
    }
}

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A herald process on `bus` (so it can be killed without goodbye), ready.
pub async fn node_process(bus: &impl Bus, prefix: &str, app: &str) -> (Killed, Server) {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("herald-kill-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("node.toml");
    std::fs::write(&cfg, cluster_toml(bus, prefix, "", app, port)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", cfg.to_str().unwrap()])
        .env("HERALD_LOG", "error")
        .spawn()
        .unwrap();
    Killed::when_ready(child, port).await
}

/// The next `member_removed` within `ms` (other frames are skipped).
pub async fn member_removed_within(c: &mut Client, ms: u64) -> serde_json::Value {
    loop {
        match c.next_within(ms).await {
            Seen::Frame(f) if f["event"] == "pusher_internal:member_removed" => return f,
            Seen::Frame(_) => continue,
            other => panic!("no member_removed: {other:?}"),
        }
    }
}

pub async fn a_killed_node_has_its_members_removed(redis: &mut impl Bus) {
    let a = node(&*redis, "t6", "").await;
    let (mut child, b) = node_process(&*redis, "t6", "").await;
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
    child.0.kill().unwrap(); // SIGKILL: no goodbye
    child.0.wait().unwrap();
    let removed = member_removed_within(&mut watcher, 12_000).await;
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

/// A node's subscription to a channel's subject ends with its last subscriber
/// and starts again with the next one, which then gets every event published
/// after its `subscription_succeeded`, exactly once.
pub async fn channel_churn_neither_loses_nor_duplicates(bus: &mut impl Bus) {
    let (a, b) = (node(&*bus, "t13", "").await, node(&*bus, "t13", "").await);
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

pub async fn redis_outage_is_loud_and_recovers_by_itself(redis: &mut impl Bus) {
    let (a, b) = (node(&*redis, "t7", "").await, node(&*redis, "t7", "").await);
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
    // Known race (see the adapter's module doc): `a`'s own announcement may still be
    // on the bus when `b` joins, and then reaches `b` after its member list.
    if !redis.may_announce_after_the_list() {
        member_b.silent(300).await;
    }
    while let Seen::Frame(f) = member_b.next_within(300).await {
        assert_eq!(f["event"], "pusher_internal:member_added", "{f}");
        assert_eq!(data(&f)["user_id"], "a", "{f}");
    }
    redis.stop();
    wait_ready(&a, false).await;
    let (status, body) = a.publish("private-local", "e", "1").await;
    assert_eq!(status, 503, "{body}");
    // Local sockets keep working.
    one.send(json!({"event":"client-x","channel":"private-local","data":{}}))
        .await;
    assert_eq!(two.next().await["event"], "client-x");
    redis.restart().await;
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    // Members who stayed connected are not announced again, and the list is rebuilt.
    member_a.silent(500).await;
    member_b.silent(50).await;
    let users = format!("/apps/{APP_ID}/channels/presence-stay/users");
    let (_, body) = b.api("GET", &users, &[], "").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 2, "{body}");
    let mut on_b = b.client().await;
    on_b.subscribe("after").await;
    assert_eq!(a.publish("after", "back", "1").await.0, 200);
    assert_eq!(on_b.next().await["event"], "back");
    // The channel subscribed before the outage delivers again too.
    let mut remote = b.client().await;
    remote.subscribe_private("private-local").await;
    assert_eq!(a.publish("private-local", "again", "1").await.0, 200);
    assert_eq!(remote.next().await["event"], "again");
    assert_eq!(one.next().await["event"], "again");
    assert_eq!(two.next().await["event"], "again");
}

/// A member who leaves while the bus is away is announced once it is back.
pub async fn a_member_leaving_during_an_outage_is_announced_after(bus: &mut impl Bus) {
    let (a, b) = (node(&*bus, "t14", "").await, node(&*bus, "t14", "").await);
    let mut member_a = a.client().await;
    member_a
        .subscribe_presence("presence-gone", r#"{"user_id":"a"}"#)
        .await;
    let mut member_b = b.client().await;
    member_b
        .subscribe_presence("presence-gone", r#"{"user_id":"b"}"#)
        .await;
    member_a.expect("pusher_internal:member_added").await;
    bus.stop();
    wait_ready(&b, false).await;
    drop(member_b);
    bus.restart().await;
    wait_ready(&b, true).await;
    let removed = member_removed_within(&mut member_a, 8000).await;
    assert_eq!(data(&removed), json!({"user_id":"b"}));
}

/// Two ready nodes of one cluster (`prefix` on `bus`), each with its app, for tests
/// that drive the adapter itself (no sockets), e.g. to hit a race on purpose.
pub async fn adapter_nodes(bus: &impl Bus, prefix: &str) -> [AdapterNode; 2] {
    let text = cluster_toml(bus, prefix, "", "", 0);
    let config = || herald::config::RawConfig::parse_toml("t", &text).unwrap();
    let nodes = [(); 2].map(|()| herald::node::Node::new(config().build().unwrap()).unwrap());
    for n in &nodes {
        eventually(|| async { n.is_ready() }).await;
    }
    nodes.map(|n| {
        let app = n.adapter.app(APP_ID).unwrap();
        (n, app)
    })
}

/// A node and its app (see [`adapter_nodes`]).
pub type AdapterNode = (
    std::sync::Arc<herald::node::Node>,
    std::sync::Arc<herald::channel::registry::AppState>,
);

/// `occupied` and `vacated` (what occupancy webhooks fire from) are cluster-wide transitions.
pub async fn occupancy_transitions_are_cluster_wide(redis: &mut impl Bus) {
    use herald::socket::{Liveness, Sink, SocketId};
    let [(a, app_a), (b, app_b)] = adapter_nodes(&*redis, "t8").await;
    let s1 = Sink::new(SocketId::new(1, 1), 8, Liveness::new(None));
    let s2 = Sink::new(SocketId::new(2, 2), 8, Liveness::new(None));
    let first = a
        .adapter
        .subscribe(&app_a, "room", &s1, None, herald::recovery::Recovery::Off)
        .await
        .unwrap();
    assert!(first.occupied, "first subscriber in the cluster");
    let second = b
        .adapter
        .subscribe(&app_b, "room", &s2, None, herald::recovery::Recovery::Off)
        .await
        .unwrap();
    assert!(!second.occupied, "already occupied on another node");
    let left = a.adapter.unsubscribe(&app_a, "room", 1).await.unwrap();
    assert!(!left.vacated, "still a subscriber on node b");
    let left = b.adapter.unsubscribe(&app_b, "room", 2).await.unwrap();
    assert!(left.vacated, "last subscriber in the cluster");
}

/// Sleep into the first tenth of a second of Unix time, so that a handful of
/// requests share one rate-limit window.
pub(crate) async fn start_of_a_second() {
    let into = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .subsec_millis();
    tokio::time::sleep(Duration::from_millis(u64::from(1005 - into))).await;
}

pub async fn api_rate_limits_are_shared_by_the_cluster(redis: &mut impl Bus) {
    let limits = "max_backend_events_per_sec = 3\nmax_read_req_per_sec = 2";
    let (a, b) = (
        node(&*redis, "t9", limits).await,
        node(&*redis, "t9", limits).await,
    );
    let events = format!("/apps/{APP_ID}/events");
    let body = r#"{"name":"e","channels":["one","two"],"data":"{}"}"#;
    start_of_a_second().await;
    let (status, _) = a.api("POST", &events, &[], body).await;
    assert_eq!(status, 200, "2 of 3 points");
    // One more channel than is left, through the other node.
    let (status, answer) = b.api("POST", &events, &[], body).await;
    assert_eq!(status, 429, "{answer}");
    let (status, _) = b.publish("one", "e", "{}").await;
    assert_eq!(status, 200, "the last point, through B");
    let channels = format!("/apps/{APP_ID}/channels");
    assert_eq!(a.api("GET", &channels, &[], "").await.0, 200);
    assert_eq!(b.api("GET", &channels, &[], "").await.0, 200);
    assert_eq!(a.api("GET", &channels, &[], "").await.0, 429);
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(a.publish("one", "e", "{}").await.0, 200, "a new second");
}

/// A `#[tokio::test]` per named scenario of `module`, each on a bus from `start`.
macro_rules! on_bus {
    ($start:expr; $module:ident: $($name:ident),* $(,)?) => {$(
        #[tokio::test]
        async fn $name() {
            crate::$module::$name(&mut $start).await;
        }
    )*};
}
pub(crate) use on_bus;

/// Every shared scenario, one `#[tokio::test]` each, on a bus from `start`;
/// `no relay`: all but those that put a relay on one node's way to the bus
/// ([`Bus::cut_off_link`]).
macro_rules! every_scenario {
    ($start:expr) => {
        crate::cluster::every_scenario!($start; no relay);
        crate::cluster::on_bus!($start; partition:
            a_silent_partition_is_noticed_and_heals,
            a_publish_the_bus_did_not_take_is_answered_503,
            the_order_of_a_channel_holds_whichever_node_answers,
            a_full_bus_queue_answers_503,
        );
    };
    ($start:expr; no relay) => {
        crate::cluster::on_bus!($start; cluster:
            events_and_client_events_cross_nodes_excluding_socket_id,
            presence_is_one_member_list_for_the_cluster,
            simultaneous_presence_joins_are_announced_once_to_each_socket,
            queries_users_cache_and_quota_are_cluster_wide,
            prefixes_isolate_clusters_sharing_a_redis,
            graceful_shutdown_removes_members_at_once,
            a_killed_node_has_its_members_removed,
            channel_churn_neither_loses_nor_duplicates,
            redis_outage_is_loud_and_recovers_by_itself,
            occupancy_transitions_are_cluster_wide,
            api_rate_limits_are_shared_by_the_cluster,
            a_member_leaving_during_an_outage_is_announced_after,
        );
        crate::cluster::on_bus!($start; occupancy:
            occupancy_converges_after_a_refused_join_and_an_outage,
            apps_never_share_keys_whatever_their_ids,
        );
        crate::cluster::on_bus!($start; partition:
            with_the_bus_down_everywhere_each_socket_is_told_once,
        );
        crate::cluster::on_bus!($start; counts:
            the_count_is_the_clusters,
            counts_converge_after_an_outage,
        );
        crate::cluster::on_bus!($start; watchlist:
            online_and_offline_are_the_clusters,
            the_online_state_survives_a_restart,
            a_killed_nodes_users_go_offline,
        );
        crate::cluster::on_bus!($start; recovery:
            a_page_recovers_on_another_node,
            a_page_recovers_after_its_node_drains,
            a_silent_socket_on_another_node_is_found_out,
            a_live_tab_on_another_node_is_left_alone,
            a_page_whose_node_was_killed_is_told,
        );
        crate::cluster::on_bus!($start; cluster_delivery:
            deliveries_reach_only_nodes_with_subscribers,
            churn_never_loses_or_repeats_an_acknowledged_event,
            first_subscriber_hears_events_published_right_after_its_ack,
        );
    };
}
pub(crate) use every_scenario;

/// Every shared scenario against one `redis-server`.
mod on_redis {
    use super::*;

    every_scenario!(Redis::start().await);
}
