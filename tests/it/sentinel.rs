//! The cluster scenarios on Redis Sentinel: a master, its replica and three
//! `redis-sentinel` processes (each on a free port, in its own directory), and
//! a failover: the master killed with SIGKILL, the replica promoted by the
//! sentinels, followed by the nodes.

use crate::cluster::{self, node, wait_listening, Bus};
use crate::support::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The master's name at the sentinels (not Soketi's default, to show it is read).
pub const MASTER: &str = "herald-main";
/// The master's and the sentinels' passwords, when [`Sentinels::start`] is asked for them.
pub const MASTER_PW: &str = "master-pw";
pub const SENTINEL_PW: &str = "sentinel-pw";

/// Two Redis servers (master, replica) and three sentinels; killed on drop.
pub struct Sentinels {
    /// The ports of the first master and its replica.
    pub redis: [u16; 2],
    pub sentinels: [u16; 3],
    auth: bool,
    dir: PathBuf,
    children: Vec<(u16, Child)>,
}

impl Sentinels {
    /// `auth`: the Redis servers and the sentinels ask for passwords.
    pub async fn start(auth: bool) -> Sentinels {
        let redis = [free_port(), free_port()];
        let sentinels = [free_port(), free_port(), free_port()];
        let dir = std::env::temp_dir().join(format!("herald-sentinel-{}", redis[0]));
        let mut s = Sentinels {
            redis,
            sentinels,
            auth,
            dir,
            children: Vec::new(),
        };
        s.restart().await;
        s
    }

    fn spawn_redis(&mut self, port: u16, master: Option<u16>) {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--repl-diskless-sync-delay", "0"])
            .arg("--dir")
            .arg(&dir);
        if let Some(m) = master {
            cmd.args(["--replicaof", "127.0.0.1", &m.to_string()]);
        }
        if self.auth {
            cmd.args(["--requirepass", MASTER_PW, "--masterauth", MASTER_PW]);
        }
        let child = cmd
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.children.push((port, child));
    }

    fn spawn_sentinel(&mut self, port: u16) {
        let dir = self.dir.join(port.to_string());
        std::fs::create_dir_all(&dir).unwrap();
        let mut conf = format!(
            "port {port}\nbind 127.0.0.1\ndir {}\n\
             sentinel monitor {MASTER} 127.0.0.1 {} 2\n\
             sentinel down-after-milliseconds {MASTER} 1000\n\
             sentinel failover-timeout {MASTER} 4000\n",
            dir.display(),
            self.redis[0]
        );
        if self.auth {
            conf +=
                &format!("requirepass {SENTINEL_PW}\nsentinel auth-pass {MASTER} {MASTER_PW}\n");
            conf += &format!("sentinel sentinel-pass {SENTINEL_PW}\n");
        }
        let path = dir.join("sentinel.conf");
        std::fs::write(&path, conf).unwrap();
        let child = Command::new("redis-sentinel")
            .arg(&path)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-sentinel must be installed (make test installs it)");
        self.children.push((port, child));
    }

    /// `sentinels = [...]` items of the `[server]` table.
    fn sentinel_list(&self) -> String {
        let items: Vec<String> = self
            .sentinels
            .iter()
            .map(|p| format!("'127.0.0.1:{p}'"))
            .collect();
        items.join(",")
    }

    /// `redis-cli` against `port` (a server or a sentinel) with its password.
    pub fn cli(&self, port: u16, args: &[&str]) -> String {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-p", &port.to_string()]);
        if self.auth {
            let pw = if self.sentinels.contains(&port) {
                SENTINEL_PW
            } else {
                MASTER_PW
            };
            cmd.args(["-a", pw, "--no-auth-warning"]);
        }
        let out = cmd
            .args(args)
            .output()
            .expect("redis-cli must be installed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The master's port as the first live sentinel names it.
    pub fn master(&self) -> Option<u16> {
        let ask = ["SENTINEL", "get-master-addr-by-name", MASTER];
        let named = self.sentinels.iter().map(|&p| self.cli(p, &ask));
        let answer = named.into_iter().find(|a| !a.trim().is_empty())?;
        answer.lines().nth(1)?.trim().parse().ok()
    }

    /// Wait until every sentinel knows the two others and the replica, and the
    /// replica is in sync: a failover can happen from then on.
    pub async fn wait_watching(&self) {
        let t = Instant::now();
        let ready = |p: u16| {
            let info = self.cli(p, &["SENTINEL", "MASTER", MASTER]);
            let field = |name: &str| {
                let mut lines = info.lines();
                lines.find(|l| l.trim() == name)?;
                lines.next().map(|v| v.trim().to_string())
            };
            field("num-other-sentinels").as_deref() == Some("2")
                && field("num-slaves").as_deref() == Some("1")
        };
        while !self.sentinels.iter().all(|&p| ready(p))
            || !self
                .cli(self.redis[1], &["INFO", "replication"])
                .contains("master_link_status:up")
        {
            assert!(t.elapsed() < Duration::from_secs(30), "sentinels never met");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// SIGKILL the process on `port`.
    pub fn kill(&mut self, port: u16) {
        if let Some(i) = self.children.iter().position(|(p, _)| *p == port) {
            let (_, mut c) = self.children.remove(i);
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Bus for Sentinels {
    fn server_toml(&self) -> String {
        let login = if self.auth {
            format!(":{MASTER_PW}@")
        } else {
            String::new()
        };
        let password = if self.auth { SENTINEL_PW } else { "" };
        format!(
            "adapter='redis'\nredis_url='redis://{login}named-by-sentinels/0'\n\
             redis_sentinels=[{}]\nredis_master_name='{MASTER}'\nredis_sentinel_password='{password}'\n",
            self.sentinel_list()
        )
    }

    fn stop(&mut self) {
        for (_, mut c) in self.children.drain(..) {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Every process again, from fresh directories: master, replica, sentinels.
    async fn restart(&mut self) {
        Bus::stop(self);
        let _ = std::fs::remove_dir_all(&self.dir);
        self.restart_with_data().await
    }

    /// Save both servers' data, then stop every process.
    fn stop_keeping_data(&mut self) {
        for port in self.redis {
            self.cli(port, &["SAVE"]);
        }
        Bus::stop(self)
    }

    /// Every process again in its directory (the servers load what they saved).
    async fn restart_with_data(&mut self) {
        let [master, replica] = self.redis;
        self.spawn_redis(master, None);
        self.spawn_redis(replica, Some(master));
        for port in self.sentinels {
            self.spawn_sentinel(port);
        }
        for port in self.redis.into_iter().chain(self.sentinels) {
            wait_listening(port, "redis-server / redis-sentinel").await;
        }
    }

    async fn cut_off_link(&mut self) -> crate::partition::Link {
        unreachable!("no relay scenario runs on Redis Sentinel (see on_sentinel)")
    }

    fn name(&self) -> &'static str {
        "sentinel"
    }

    fn listeners(&self, subject: &str) -> usize {
        let Some(master) = self.master() else {
            return 0;
        };
        let text = self.cli(master, &["PUBSUB", "NUMSUB", subject]);
        text.lines()
            .nth(1)
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Sentinels {
    fn drop(&mut self) {
        Bus::stop(self);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Every scenario of `cluster` on Redis Sentinel.
mod on_sentinel {
    use super::*;
    use crate::cluster::every_scenario;

    // No relay scenarios: a node asks the sentinels for the master's address and
    // connects to it directly, so one node's link cannot be put behind a relay
    // without the sentinels naming the relay to every node.
    every_scenario!(Sentinels::start(false).await; no relay);
}

/// The webhook queue through the sentinels: a job taken by a node killed while
/// the receiver is down is delivered by another node.
#[tokio::test]
async fn a_queued_webhook_job_of_a_killed_node_is_delivered_by_another() {
    let s = Sentinels::start(false).await;
    crate::queue::killed_node_job_is_delivered_by_another(&s.server_toml(), s.redis[0]).await;
}

/// The frames' `data` of event `e` a client got until it was silent for a second.
async fn received(c: &mut Client) -> Vec<u64> {
    let mut got = Vec::new();
    while let Seen::Frame(f) = c.next_within(1000).await {
        if f["event"] == "e" {
            got.push(f["data"].as_str().unwrap().parse().unwrap());
        }
    }
    got
}

/// The master is killed with SIGKILL; the sentinels promote its replica and
/// both nodes follow: the sockets stay subscribed, the presence members stay,
/// and every publish answered 200 (through either node, all along) reaches the
/// subscribers on both nodes.
#[tokio::test]
async fn a_sentinel_failover_is_followed_and_loses_no_acknowledged_event() {
    failover_is_followed(true).await;
}

/// A planned failover (`SENTINEL FAILOVER`): the old master answers as one for
/// seconds more, so each link leaves it once the sentinels name the new one.
/// Presence and subscriptions stay; events answered 200 once both nodes moved
/// reach every subscriber (while they move, they may sit on different masters).
#[tokio::test]
async fn a_planned_sentinel_failover_is_followed_too() {
    failover_is_followed(false).await;
}

/// `kill`: SIGKILL the master, else ask a sentinel for a failover.
async fn failover_is_followed(kill: bool) {
    let mut s = Sentinels::start(true).await;
    s.wait_watching().await;
    let (a, b) = (node(&s, "sf", "").await, node(&s, "sf", "").await);
    let (mut on_a, mut on_b) = (a.client().await, b.client().await);
    on_a.subscribe("sf-room").await;
    on_b.subscribe("sf-room").await;
    let mut watcher = a.client().await;
    watcher
        .subscribe_presence("presence-sf", r#"{"user_id":"w"}"#)
        .await;
    let mut member = b.client().await;
    member
        .subscribe_presence("presence-sf", r#"{"user_id":"m"}"#)
        .await;
    watcher.expect("pusher_internal:member_added").await;
    let [master, replica] = s.redis;
    let t = Instant::now();
    match kill {
        true => s.kill(master),
        false => {
            let answer = s.cli(s.sentinels[0], &["SENTINEL", "FAILOVER", MASTER]);
            assert_eq!(answer.trim(), "OK");
        }
    }
    let (mut acked, mut up, mut promoted, mut followed) = (Vec::new(), [false; 2], None, None);
    for i in 0u64.. {
        let n = (i % 2) as usize;
        let status = [&a, &b][n].publish("sf-room", "e", &i.to_string()).await.0;
        if status == 200 {
            acked.push((i, followed.is_some()));
        }
        up[n] = status == 200;
        if promoted.is_none() && s.master() == Some(replica) {
            promoted = Some(t.elapsed());
        }
        // Followed: both nodes publish, and both listen on the promoted replica.
        let subject = format!("sf#{APP_ID}#sf-room");
        if followed.is_none()
            && promoted.is_some()
            && up == [true, true]
            && s.listeners(&subject) == 2
        {
            followed = Some(t.elapsed());
        }
        match followed {
            Some(f) if t.elapsed() > f + Duration::from_secs(1) => break,
            _ => assert!(
                t.elapsed() < Duration::from_secs(30),
                "not followed: {up:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "replica promoted after {promoted:?}, both nodes publishing again after {followed:?}"
    );
    assert!(promoted.is_some(), "the sentinels promoted no replica");
    for (name, c) in [("a", &mut on_a), ("b", &mut on_b)] {
        let got = received(c).await;
        // A planned failover moves the nodes one by one (each link checks every
        // second): meanwhile they sit on different masters (README).
        let counted = acked.iter().filter(|(_, after)| kill || *after);
        let lost: Vec<u64> = counted
            .map(|(i, _)| *i)
            .filter(|i| !got.contains(i))
            .collect();
        assert!(
            lost.is_empty(),
            "on {name}: answered 200 but never delivered: {lost:?} (got {got:?})"
        );
    }
    while let Seen::Frame(f) = watcher.next_within(300).await {
        assert_ne!(f["event"], "pusher_internal:member_removed", "{f}");
    }
    let users = format!("/apps/{APP_ID}/channels/presence-sf/users");
    for n in [&a, &b] {
        let (_, body) = n.api("GET", &users, &[], "").await;
        assert_eq!(body["users"].as_array().unwrap().len(), 2, "{body}");
    }
}

/// Two nodes started with Soketi's environment only: the sentinels as Soketi's
/// JSON, their password, the master's password and name, and the Redis rate
/// limiter and webhook queue (cache channels follow the adapter). An event crosses the nodes, a cache channel
/// written through one is read through the other, the `channel_occupied`
/// webhook goes through the queue, and no variable is warned about.
#[tokio::test]
async fn soketi_sentinel_variables_run_the_binary() {
    let s = Sentinels::start(true).await;
    let mut receiver = crate::webhooks::Receiver::start(0).await;
    let sentinels: Vec<String> = (s.sentinels.iter())
        .map(|p| format!(r#"{{"host":"127.0.0.1","port":{p}}}"#))
        .collect();
    let webhooks = format!(
        r#"[{{"url":"{}","event_types":["channel_occupied"]}}]"#,
        receiver.url("/soketi")
    );
    let vars = [
        ("SOKETI_ADAPTER_DRIVER", "redis".to_string()),
        (
            "SOKETI_DB_REDIS_SENTINELS",
            format!("[{}]", sentinels.join(",")),
        ),
        ("SOKETI_DB_REDIS_SENTINEL_PASSWORD", SENTINEL_PW.into()),
        ("SOKETI_DB_REDIS_PASSWORD", MASTER_PW.into()),
        ("SOKETI_DB_REDIS_INSTANCE_NAME", MASTER.into()),
        ("SOKETI_RATE_LIMITER_DRIVER", "redis".into()),
        ("SOKETI_QUEUE_DRIVER", "redis".into()),
        ("SOKETI_DEFAULT_APP_WEBHOOKS", webhooks),
    ];
    let ports = [free_port(), free_port()];
    let mut nodes = Vec::new();
    for port in ports {
        let child = crate::db::herald_with(port, &vars);
        let server = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
        cluster::wait_ready(&server, true).await;
        nodes.push((cluster::Killed(child), server));
    }
    let (a, b) = (&nodes[0].1, &nodes[1].1);
    let mut on_b = b.client().await;
    on_b.subscribe("soketi-room").await;
    assert_eq!(a.publish("soketi-room", "e", "1").await.0, 200);
    assert_eq!(on_b.next().await["event"], "e");
    let hit = receiver.next_within(10).await;
    assert_eq!(hit.path, "/soketi");
    a.publish("cache-board", "score", "\"3\"").await;
    let mut reader = b.client().await;
    reader.subscribe("cache-board").await;
    assert_eq!(reader.next().await["data"], "\"3\"");
    let keys = s.cli(s.redis[0], &["DBSIZE"]);
    assert_ne!(keys.trim(), "0", "the master holds the nodes' keys");
    for (mut child, _) in nodes {
        let _ = (child.0.kill(), child.0.wait());
        let mut logs = String::new();
        let stdout = child.0.stdout.as_mut().unwrap();
        std::io::Read::read_to_string(stdout, &mut logs).unwrap();
        assert!(!logs.contains("WARN"), "{logs}");
    }
}
