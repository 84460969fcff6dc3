//! The cluster scenarios against a real Redis Cluster: three masters
//! (`redis-server --cluster-enabled yes` on free ports, joined by
//! `redis-cli --cluster create`), and a master failover with one replica each.

use crate::cluster::{self, node, wait_listening, wait_ready, Bus};
use crate::support::*;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A Redis Cluster on free ports, each node in its own directory; killed on drop.
pub struct RedisCluster {
    ports: Vec<u16>,
    replicas: usize,
    dir: PathBuf,
    children: Vec<Option<Child>>,
    /// Relays in front of every node, once `cut_off_link` put them there.
    relays: Vec<std::sync::Arc<crate::relay::Relay>>,
}

impl RedisCluster {
    /// `masters` masters with `replicas` replicas each.
    pub async fn start(masters: usize, replicas: usize) -> RedisCluster {
        let ports: Vec<u16> = (0..masters * (1 + replicas))
            .map(|_| cluster_port())
            .collect();
        let dir = std::env::temp_dir().join(format!("herald-rc-{}", ports[0]));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut c = RedisCluster {
            children: ports.iter().map(|_| None).collect(),
            ports,
            replicas,
            dir,
            relays: Vec::new(),
        };
        c.spawn_all().await;
        c.create();
        c.wait_ok().await;
        c
    }

    fn spawn(&mut self, i: usize) {
        let port = self.ports[i].to_string();
        let conf = format!("nodes-{port}.conf");
        let child = Command::new("redis-server")
            .args(["--port", &port, "--bind", "127.0.0.1", "--save", ""])
            .args(["--appendonly", "no", "--cluster-enabled", "yes"])
            .args(["--repl-diskless-sync-delay", "0"])
            .args(["--dbfilename", &format!("dump-{port}.rdb")])
            .args([
                "--cluster-config-file",
                &conf,
                "--cluster-node-timeout",
                "1000",
            ])
            .arg("--dir")
            .arg(&self.dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server must be installed (make test installs it)");
        self.children[i] = Some(child);
    }

    async fn spawn_all(&mut self) {
        for i in 0..self.ports.len() {
            self.spawn(i);
        }
        for &port in &self.ports {
            wait_listening(port, "redis-server").await;
        }
    }

    fn create(&self) {
        let nodes: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("127.0.0.1:{p}"))
            .collect();
        let out = Command::new("redis-cli")
            .args(["--cluster", "create"])
            .args(&nodes)
            .args([
                "--cluster-replicas",
                &self.replicas.to_string(),
                "--cluster-yes",
            ])
            .output()
            .expect("redis-cli must be installed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }

    /// Wait until every running node says the cluster is ok.
    async fn wait_ok(&self) {
        // A replica that never synced cannot take over: wait for its link too.
        let ok = |p: u16| {
            let info = cli(p, &["INFO", "replication"]);
            let synced = !info.contains("role:slave") || info.contains("master_link_status:up");
            synced && cli(p, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
        };
        for _ in 0..300 {
            if self.live_ports().into_iter().all(ok) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("Redis Cluster never became ok");
    }

    fn live_ports(&self) -> Vec<u16> {
        let up = self.children.iter().map(Option::is_some);
        self.ports
            .iter()
            .zip(up)
            .filter(|(_, u)| *u)
            .map(|(p, _)| *p)
            .collect()
    }

    /// The master that serves `key`'s slot (from `CLUSTER NODES`), if one does.
    pub fn master_of(&self, key: &str) -> Option<u16> {
        let port = self.live_ports()[0];
        let slot: u16 = cli(port, &["CLUSTER", "KEYSLOT", key])
            .trim()
            .parse()
            .unwrap();
        let nodes = cli(port, &["CLUSTER", "NODES"]);
        let serving = nodes.lines().filter(|l| !l.contains("fail")).find(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            f.len() > 8
                && f[2].contains("master")
                && !f[2].contains("fail")
                && f[8..].iter().any(|r| in_range(r, slot))
        });
        let addr = serving?.split(' ').nth(1)?;
        addr.split(['@', ':']).nth(1)?.parse().ok()
    }

    /// Listeners of a sharded subject, summed over the running masters.
    fn shard_listeners(&self, subject: &str) -> usize {
        let ports = self.live_ports();
        ports
            .iter()
            .map(|&p| cluster::numsub(p, "SHARDNUMSUB", subject))
            .sum()
    }

    /// SIGKILL the node on `port`.
    pub fn kill(&mut self, port: u16) {
        let i = self.ports.iter().position(|&p| p == port).unwrap();
        if let Some(mut c) = self.children[i].take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// The seeds a node is given.
    fn seeds(&self) -> String {
        let seeds: Vec<String> = self
            .ports
            .iter()
            .map(|p| format!("'127.0.0.1:{p}'"))
            .collect();
        seeds.join(",")
    }
}

/// The user name that tells the cut-off node's flows apart at the relays.
const CUT_USER: &str = "herald-cut";

impl RedisCluster {
    /// A relay in front of every node, announced by it to clients (so every
    /// herald node's connections go through the relays; the cluster's own bus
    /// stays direct). Freezing applies to the flows of [`CUT_USER`] only: the
    /// cut-off node logs in as that user (`HELLO 3 AUTH`), the others as default.
    async fn relay_every_node(&mut self) {
        if !self.relays.is_empty() {
            return;
        }
        for &port in &self.ports {
            let relay = crate::relay::Relay::start(([127, 0, 0, 1], port).into()).await;
            relay.only(CUT_USER.as_bytes());
            let (announce, bus) = (relay.addr().port().to_string(), (port + 10_000).to_string());
            cli(port, &["CONFIG", "SET", "cluster-announce-bus-port", &bus]);
            cli(port, &["CONFIG", "SET", "cluster-announce-port", &announce]);
            cli(
                port,
                &[
                    "ACL", "SETUSER", CUT_USER, "on", ">cut", "~*", "&*", "+@all",
                ],
            );
            self.relays.push(std::sync::Arc::new(relay));
        }
        let relayed: Vec<String> = self
            .relays
            .iter()
            .map(|r| r.addr().port().to_string())
            .collect();
        let t = Instant::now();
        // Every node's view of every master shows its relay's port.
        while !self.ports.iter().all(|&p| {
            let slots = cli(p, &["CLUSTER", "SLOTS"]);
            self.ports
                .iter()
                .all(|q| !slots.lines().any(|l| l.trim() == q.to_string()))
                && relayed.iter().any(|r| slots.contains(r.as_str()))
        }) {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "relay ports never announced"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// A free port below 55536 whose cluster bus port (+10000) is free too.
fn cluster_port() -> u16 {
    loop {
        let p = free_port();
        let bus = p.checked_add(10_000).filter(|_| p <= 55_535);
        let Some(bus) = bus else {
            let low = 20_000 + p % 30_000;
            if std::net::TcpListener::bind(("127.0.0.1", low)).is_ok()
                && std::net::TcpListener::bind(("127.0.0.1", low + 10_000)).is_ok()
            {
                return low;
            }
            continue;
        };
        if std::net::TcpListener::bind(("127.0.0.1", bus)).is_ok() {
            return p;
        }
    }
}

fn in_range(range: &str, slot: u16) -> bool {
    let (lo, hi) = range.split_once('-').unwrap_or((range, range));
    match (lo.parse::<u16>(), hi.parse::<u16>()) {
        (Ok(lo), Ok(hi)) => (lo..=hi).contains(&slot),
        _ => false,
    }
}

fn cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli must be installed");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Bus for RedisCluster {
    fn server_toml(&self) -> String {
        format!("adapter='redis'\nredis_cluster_nodes=[{}]\n", self.seeds())
    }

    fn stop(&mut self) {
        for i in 0..self.ports.len() {
            self.kill(self.ports[i]);
        }
    }

    fn listeners(&self, subject: &str) -> usize {
        self.shard_listeners(subject)
    }

    async fn cut_off_link(&mut self) -> crate::partition::Link {
        self.relay_every_node().await;
        let seeds: Vec<String> = self
            .relays
            .iter()
            .map(|r| format!("'redis://{CUT_USER}:cut@{}'", r.addr()))
            .collect();
        let toml = format!(
            "adapter='redis'\nredis_cluster_nodes=[{}]\n",
            seeds.join(",")
        );
        crate::partition::Link::new(toml, self.relays.clone())
    }

    fn name(&self) -> &'static str {
        "redis-cluster"
    }

    /// Every node again, from its nodes.conf: the same cluster, no data.
    async fn restart(&mut self) {
        Bus::stop(self);
        for p in &self.ports {
            let _ = std::fs::remove_file(self.dir.join(format!("dump-{p}.rdb")));
        }
        self.restart_with_data().await;
    }

    /// Save every node's data, then stop them all.
    fn stop_keeping_data(&mut self) {
        for p in self.live_ports() {
            cli(p, &["SAVE"]);
        }
        Bus::stop(self);
    }

    /// Every node again with the data saved at the stop.
    async fn restart_with_data(&mut self) {
        self.spawn_all().await;
        self.wait_ok().await;
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        Bus::stop(self);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn three_masters() -> RedisCluster {
    RedisCluster::start(3, 0).await
}

/// Every scenario of `cluster` against a three-master Redis Cluster.
mod on_cluster {
    use super::*;
    use crate::cluster::every_scenario;

    every_scenario!(three_masters().await);
}

/// The webhook queue on the cluster the adapter uses: a job taken by a node
/// killed while the receiver is down is delivered by another node.
#[tokio::test]
async fn a_queued_webhook_job_of_a_killed_node_is_delivered_by_another() {
    let rc = three_masters().await;
    crate::queue::killed_node_job_is_delivered_by_another(&rc.server_toml(), rc.ports[0]).await;
}

/// The master serving a channel's delivery subject is killed; its replica takes
/// over, and the nodes reconnect, subscribe again and deliver as before.
#[tokio::test]
async fn a_master_failover_is_survived() {
    let mut rc = RedisCluster::start(3, 1).await;
    let (a, b) = (node(&rc, "fo", "").await, node(&rc, "fo", "").await);
    let mut on_b = b.client().await;
    on_b.subscribe("fo-room").await;
    let mut member = b.client().await;
    member
        .subscribe_presence("presence-fo", r#"{"user_id":"m"}"#)
        .await;
    assert_eq!(a.publish("fo-room", "before", "1").await.0, 200);
    assert_eq!(on_b.next().await["event"], "before");
    let subject = format!("fo#{APP_ID}#fo-room");
    let master = rc.master_of(&subject).expect("a master serves the subject");
    let t = Instant::now();
    rc.kill(master);
    // The replica is promoted once the others mark the master failed (node timeout 1 s).
    while rc.master_of(&subject).is_none_or(|p| p == master) {
        let nodes = cli(rc.live_ports()[0], &["CLUSTER", "NODES"]);
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "no failover: {nodes}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    rc.wait_ok().await;
    eprintln!("replica promoted after {:?}", t.elapsed());
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    // Events published once both nodes are back reach the subscriber.
    let mut got = false;
    for i in 0..50 {
        if a.publish("fo-room", "after", &i.to_string()).await.0 == 200
            && matches!(on_b.next_within(200).await, Seen::Frame(f) if f["event"] == "after")
        {
            got = true;
            break;
        }
    }
    assert!(got, "no delivery after the failover");
    eprintln!("failover survived after {:?}", t.elapsed());
    let users = format!("/apps/{APP_ID}/channels/presence-fo/users");
    let (_, body) = a.api("GET", &users, &[], "").await;
    assert_eq!(body["users"].as_array().unwrap().len(), 1, "{body}");
}

/// The slot of a channel's delivery subject moves to another master (what
/// `redis-cli --cluster reshard` does, one slot): Redis drops the subject's
/// listeners, and the nodes reconnect, subscribe again and deliver as before.
#[tokio::test]
async fn a_slot_migration_is_survived() {
    let rc = three_masters().await;
    let (a, b) = (node(&rc, "mv", "").await, node(&rc, "mv", "").await);
    let mut on_b = b.client().await;
    on_b.subscribe("mv-room").await;
    assert_eq!(a.publish("mv-room", "before", "1").await.0, 200);
    assert_eq!(on_b.next().await["event"], "before");
    let subject = format!("mv#{APP_ID}#mv-room");
    let src = rc.master_of(&subject).unwrap();
    let dst = *rc.ports.iter().find(|&&p| p != src).unwrap();
    let slot = cli(src, &["CLUSTER", "KEYSLOT", &subject]);
    let slot = slot.trim();
    assert_eq!(cli(src, &["CLUSTER", "COUNTKEYSINSLOT", slot]).trim(), "0");
    let id = |p: u16| cli(p, &["CLUSTER", "MYID"]).trim().to_string();
    let (src_id, dst_id) = (id(src), id(dst));
    cli(dst, &["CLUSTER", "SETSLOT", slot, "IMPORTING", &src_id]);
    cli(src, &["CLUSTER", "SETSLOT", slot, "MIGRATING", &dst_id]);
    for &p in &rc.ports {
        cli(p, &["CLUSTER", "SETSLOT", slot, "NODE", &dst_id]);
    }
    let t = Instant::now();
    while rc.master_of(&subject) != Some(dst) {
        assert!(t.elapsed() < Duration::from_secs(10), "slot did not move");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut got = false;
    for i in 0..50 {
        if a.publish("mv-room", "after", &i.to_string()).await.0 == 200
            && matches!(on_b.next_within(200).await, Seen::Frame(f) if f["event"] == "after")
        {
            got = true;
            break;
        }
    }
    assert!(got, "no delivery after the slot moved");
    eprintln!("slot migration survived after {:?}", t.elapsed());
    assert_eq!(
        rc.listeners(&subject),
        1,
        "node b listens on the new master"
    );
}
