//! Webhooks through the Redis queue (`queue_driver = "redis"`) and `mode`: jobs
//! survive a killed node, worker nodes deliver what server nodes produce, and
//! a Redis outage holds jobs back instead of losing them. A real `redis-server`
//! and real receivers on free ports.

use crate::cluster::{wait_ready, Redis};
use crate::support::*;
use crate::webhooks::{events, hook, Receiver};
use std::process::Command;
use std::time::Duration;

/// A node's TOML: the default app with one webhook for `channel_occupied`.
fn node_toml(redis_port: u16, prefix: &str, port: u16, server: &str, hook_url: &str) -> String {
    let redis = format!("redis_url='redis://127.0.0.1:{redis_port}/0'\n");
    toml_on(&redis, prefix, port, server, hook_url)
}

/// [`node_toml`] on the Redis that the `[server]` lines `redis` name.
pub fn toml_on(redis: &str, prefix: &str, port: u16, server: &str, hook_url: &str) -> String {
    format!(
        "[server]\nhost='127.0.0.1'\nport={port}\n{redis}\
         redis_prefix='{prefix}'\nqueue_driver='redis'\nwebhook_retry_initial_ms=200\n{server}\n\
         [[apps]]\nid='{APP_ID}'\nkey='{KEY}'\nsecret='{SECRET}'\n{}",
        hook(hook_url, "'channel_occupied'", "")
    )
}

/// `XPENDING`'s summary count for the queue of `prefix`.
async fn pending(redis: &Redis, prefix: &str) -> i64 {
    pending_on(redis.port, prefix)
}

/// The same, asked of the Redis (or any node of the Redis Cluster) on `port`.
fn pending_on(port: u16, prefix: &str) -> i64 {
    let out = Command::new("redis-cli")
        .args(["-c", "-p", &port.to_string(), "XPENDING"])
        .args([&format!("{prefix}:webhooks"), "herald"])
        .output()
        .expect("redis-cli must be installed");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .next()
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

/// A node process, SIGKILLed when dropped (also when an assertion fails first).
struct Killed(std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A process-wide figure from the node's `/metrics`.
async fn metric(metrics: std::net::SocketAddr, name: &str) -> f64 {
    let (_, _, text) = get(metrics, "/metrics").await;
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("soketi_{name}{{")));
    let value = line.and_then(|l| l.rsplit(' ').next()?.parse().ok());
    value.unwrap_or_else(|| panic!("no {name} in {text}"))
}

fn occupied(hit: &crate::webhooks::Hit) -> Vec<String> {
    events(hit)
        .iter()
        .map(|e| {
            assert_eq!(e["name"], "channel_occupied", "{e}");
            e["channel"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn a_job_taken_by_a_killed_node_is_delivered_by_another() {
    let redis = Redis::start().await;
    let lines = format!("redis_url='{}'\n", redis.url());
    killed_node_job_is_delivered_by_another(&lines, redis.port).await;
}

/// A node on the Redis (or Redis Cluster) of `redis` takes a job while the receiver
/// is down and is killed; a new node delivers it once the receiver is back. `cli`:
/// a port of that Redis to ask about the queue.
pub async fn killed_node_job_is_delivered_by_another(redis: &str, cli: u16) {
    let receiver_port = free_port();
    let url = format!("http://127.0.0.1:{receiver_port}/hook");
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("herald-queue-kill-{port}"));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("node.toml");
    std::fs::write(&cfg, toml_on(redis, "q1", port, "", &url)).unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .args(["--config", cfg.to_str().unwrap()])
        .env("HERALD_LOG", "error")
        .spawn()
        .unwrap();
    let child = Killed(child);
    let doomed = Server::external(format!("127.0.0.1:{port}").parse().unwrap());
    wait_ready(&doomed, true).await;
    let mut c = doomed.client().await;
    c.subscribe("orphan").await;
    // The only worker took the job and keeps retrying: the receiver is down.
    for _ in 0..200 {
        if pending_on(cli, "q1") == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pending_on(cli, "q1"), 1, "the job was never taken");
    drop(child); // SIGKILL: its retries die with it
    let mut receiver = Receiver::start_on(receiver_port, 0).await;
    let toml = toml_on(redis, "q1", 0, "metrics_enabled = true", &url);
    let (_heir, metrics) = Server::with_metrics(&toml).await;
    let hit = receiver.next_within(15).await;
    assert_eq!(hit.path, "/hook");
    assert_eq!(occupied(&hit), ["orphan"]);
    receiver.silent(1500).await;
    assert_eq!(pending_on(cli, "q1"), 0);
    assert!(metric(metrics, "webhook_jobs_claimed_total").await >= 1.0);
}

#[tokio::test]
async fn a_worker_node_delivers_the_batches_a_server_node_queued() {
    let redis = Redis::start().await;
    let mut receiver = Receiver::start(0).await;
    let url = receiver.url("/w");
    let batching = "mode='server'\nwebhook_batching=true\nwebhook_batching_ms=200";
    let server = Server::from_toml(&node_toml(redis.port, "q2", 0, batching, &url)).await;
    let mut c = server.client().await;
    for channel in ["one", "two", "three"] {
        c.subscribe(channel).await;
    }
    // A server node queues its webhooks but does not deliver them.
    receiver.silent(800).await;
    let worker = Server::from_toml(&node_toml(redis.port, "q2", 0, "mode='worker'", &url)).await;
    let hit = receiver.next_within(10).await;
    assert_eq!(occupied(&hit), ["one", "two", "three"]);
    receiver.silent(500).await;
    // A worker answers health checks and nothing else on its main port.
    assert_eq!(worker.http_text("GET", "/", "").await, (200, "OK".into()));
    assert_eq!(worker.http_text("GET", "/ready", "").await.0, 200);
    let events = format!("/apps/{APP_ID}/events");
    assert_eq!(worker.http("POST", &events, "{}").await.0, 404);
    assert_eq!(worker.http("GET", "/accept-traffic", "").await.0, 404);
    let url = format!("ws://{}/app/{KEY}?protocol=7", worker.addr);
    assert!(tokio_tungstenite::connect_async(url).await.is_err());
}

#[tokio::test]
async fn jobs_made_while_redis_is_down_are_delivered_when_it_is_back() {
    let mut redis = Redis::start().await;
    redis.stop();
    let mut receiver = Receiver::start(0).await;
    let url = receiver.url("/r");
    let toml = node_toml(redis.port, "q3", 0, "metrics_enabled = true", &url);
    let (server, metrics) = Server::with_metrics(&toml).await;
    let mut c = server.client().await;
    c.subscribe("before-redis").await;
    receiver.silent(500).await;
    // Loud: each of the node's queue connections (producer, reader, heartbeat) is down,
    // and a worker node is not ready (a full node's readiness follows its adapter).
    assert!(metric(metrics, "webhook_queue_links_down").await >= 3.0);
    let worker = Server::from_toml(&node_toml(redis.port, "q3b", 0, "mode='worker'", &url)).await;
    wait_ready(&worker, false).await;
    assert_eq!(server.http_text("GET", "/ready", "").await.0, 200);
    redis.restart().await;
    wait_ready(&worker, true).await;
    let hit = receiver.next_within(10).await;
    assert_eq!(occupied(&hit), ["before-redis"]);
    // Sent once; and the job is acknowledged (every second) before Redis goes away
    // (a job whose XADD answer is lost with Redis is pushed again: at least once).
    receiver.silent(1200).await;
    // Mid-run: the stream (and its group) go with a restart without persistence.
    redis.stop();
    c.subscribe("during-outage").await;
    receiver.silent(500).await;
    redis.restart().await;
    let hit = receiver.next_within(10).await;
    assert_eq!(occupied(&hit), ["during-outage"]);
    c.subscribe("after").await;
    assert_eq!(occupied(&receiver.next_within(10).await), ["after"]);
}

#[tokio::test]
async fn a_worker_stopping_gracefully_hands_its_jobs_over() {
    let redis = Redis::start().await;
    let receiver_port = free_port();
    let url = format!("http://127.0.0.1:{receiver_port}/h");
    let quick = "shutdown_grace_period_ms = 200\nshutdown_reconnect_window_ms = 0";
    let mut leaving = Server::from_toml(&node_toml(redis.port, "q4", 0, quick, &url)).await;
    let mut c = leaving.client().await;
    c.subscribe("handed-over").await;
    for _ in 0..200 {
        if pending(&redis, "q4").await == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(pending(&redis, "q4").await, 1, "the job was never taken");
    let _staying = Server::from_toml(&node_toml(redis.port, "q4", 0, "mode='worker'", &url)).await;
    leaving.stop();
    (&mut leaving.task).await.unwrap();
    let mut receiver = Receiver::start_on(receiver_port, 0).await;
    let hit = receiver.next_within(10).await;
    assert_eq!(occupied(&hit), ["handed-over"]);
    receiver.silent(1000).await;
}

/// The reply to the worker's `XREADGROUP` that carries a job is lost (the link
/// is cut instead of passing it on): Redis holds the job as pending under the
/// worker, which is alive and beating. It still gets delivered: a worker claims
/// again its own pending jobs that it does not hold once they are idle for 5 s.
#[tokio::test]
async fn a_job_whose_read_reply_is_lost_is_still_delivered() {
    use crate::relay::{Relay, Trigger};
    let redis = Redis::start().await;
    let relay = Relay::start(format!("127.0.0.1:{}", redis.port).parse().unwrap()).await;
    relay.on_bytes(br#""channel":"lost-reply""#, Trigger::Swallow);
    let mut receiver = Receiver::start(0).await;
    let lines = format!("redis_url='redis://{}/0'\n", relay.addr());
    let server = Server::from_toml(&toml_on(&lines, "q5", 0, "", &receiver.url("/l"))).await;
    let mut c = server.client().await;
    c.subscribe("lost-reply").await;
    let hit = receiver.next_within(20).await;
    assert_eq!(occupied(&hit), ["lost-reply"]);
    receiver.silent(1500).await;
    // Acknowledged (with the next heartbeat): nothing is left pending (polled
    // for up to 20 s: a loaded CI box once took more than 5).
    for _ in 0..400 {
        if pending(&redis, "q5").await == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pending(&redis, "q5").await, 0);
}
