//! Webhooks through the SQS queue (`SOKETI_QUEUE_DRIVER=sqs`), against a real
//! SQS-compatible server: `moto_server` (moto[server] from PyPI, installed in
//! target/moto-venv by `make moto-server`) on a free port. Nodes are the real
//! binary started with Soketi's and AWS's variables only; a real receiver checks
//! every webhook's signature. The SQS calls the test itself makes go through
//! `curl --aws-sigv4`.

use crate::cluster::Killed;
use crate::support::*;
use crate::webhooks::{events, Receiver};
use serde_json::{json, Value};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A `moto_server` on a free port, killed when dropped.
pub struct Moto {
    port: u16,
    child: Child,
}

impl Moto {
    pub async fn start() -> Moto {
        let bin = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/target/moto-venv/bin/moto_server"
        );
        let port = free_port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("{bin}: {e} (run `make moto-server`)"));
        let moto = Moto { port, child };
        for _ in 0..400 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .is_ok()
            {
                return moto;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("moto_server never listened on {port}");
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// One SQS call in the JSON protocol, signed by curl.
    fn call(&self, action: &str, body: Value) -> Value {
        self.call_as("sqs", &format!("AmazonSQS.{action}"), body)
    }

    /// One call to `service` (`sqs`, `dynamodb`) in the JSON protocol, signed by curl.
    pub fn call_as(&self, service: &str, target: &str, body: Value) -> Value {
        let out = Command::new("curl")
            .args(["-s", "-X", "POST", "--aws-sigv4"])
            .arg(format!("aws:amz:us-east-1:{service}"))
            .args(["--user", "AKIDTEST:secret-test"])
            .args(["-H", &format!("X-Amz-Target: {target}")])
            .args(["-H", "Content-Type: application/x-amz-json-1.0"])
            .args(["-d", &body.to_string(), &self.endpoint()])
            .output()
            .expect("curl must be installed");
        serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
    }

    /// A FIFO queue (Soketi's kind) with a short visibility timeout; its URL.
    fn fifo_queue(&self, name: &str, visibility_secs: u32) -> String {
        let attributes =
            json!({"FifoQueue": "true", "VisibilityTimeout": visibility_secs.to_string()});
        let made = self.call(
            "CreateQueue",
            json!({"QueueName": name, "Attributes": attributes}),
        );
        made["QueueUrl"].as_str().expect("queue made").to_string()
    }

    /// Messages (visible, in flight) in the queue.
    fn counts(&self, url: &str) -> (u64, u64) {
        let names = [
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
        ];
        let got = self.call(
            "GetQueueAttributes",
            json!({"QueueUrl": url, "AttributeNames": names}),
        );
        let n = |name: &str| {
            got["Attributes"][name]
                .as_str()
                .and_then(|v| v.parse().ok())
        };
        (n(names[0]).unwrap_or(99), n(names[1]).unwrap_or(99))
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A herald process configured only through Soketi's and AWS's variables, ready.
async fn soketi_node(moto: &Moto, queue_url: &str, hook_url: &str) -> (Killed, Server) {
    let port = free_port();
    let hooks = json!([{"url": hook_url, "event_types": ["channel_occupied"]}]);
    let child = Command::new(env!("CARGO_BIN_EXE_herald"))
        .env("SOKETI_HOST", "127.0.0.1")
        .env("SOKETI_PORT", port.to_string())
        .env("SOKETI_DEFAULT_APP_ID", APP_ID)
        .env("SOKETI_DEFAULT_APP_KEY", KEY)
        .env("SOKETI_DEFAULT_APP_SECRET", SECRET)
        .env("SOKETI_DEFAULT_APP_WEBHOOKS", hooks.to_string())
        .env("SOKETI_QUEUE_DRIVER", "sqs")
        .env("SOKETI_QUEUE_SQS_URL", queue_url)
        .env("SOKETI_QUEUE_SQS_REGION", "us-east-1")
        .env("SOKETI_QUEUE_SQS_ENDPOINT", moto.endpoint())
        .env("SOKETI_QUEUE_SQS_PROCESS_BATCH", "true")
        .env("SOKETI_QUEUE_SQS_BATCH_SIZE", "5")
        .env("AWS_ACCESS_KEY_ID", "AKIDTEST")
        .env("AWS_SECRET_ACCESS_KEY", "secret-test")
        .env("HERALD_LOG", "error")
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    Killed::when_ready(child, port).await
}

/// A node takes a job while the receiver is down and is killed with -9; once
/// the queue's visibility timeout (2 s) has passed, another node delivers it,
/// signed, and deletes it.
#[tokio::test]
async fn sqs_a_job_taken_by_a_killed_node_is_delivered_by_another() {
    let moto = Moto::start().await;
    let queue = moto.fifo_queue("hooks.fifo", 2);
    let receiver_port = free_port();
    let url = format!("http://127.0.0.1:{receiver_port}/hook");
    let (doomed, server) = soketi_node(&moto, &queue, &url).await;
    let mut c = server.client().await;
    c.subscribe("orphan").await;
    // The only worker took the job and keeps retrying: the receiver is down.
    for _ in 0..200 {
        if moto.counts(&queue) == (0, 1) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(moto.counts(&queue), (0, 1), "the job was never taken");
    // Held past its visibility timeout while the worker lives.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(
        moto.counts(&queue),
        (0, 1),
        "the live worker let the job go"
    );
    drop(doomed); // SIGKILL: its retries die with it
    let mut receiver = Receiver::start_on(receiver_port, 0).await;
    let (_heir, _) = soketi_node(&moto, &queue, &url).await;
    let hit = receiver.next_within(10).await;
    assert_eq!(hit.path, "/hook");
    let events = events(&hit);
    assert_eq!((events.len(), &events[0]["channel"]), (1, &json!("orphan")));
    receiver.silent(1500).await;
    assert_eq!(
        moto.counts(&queue),
        (0, 0),
        "the delivered job was not deleted"
    );
}

/// A worker that keeps retrying a job past the queue's visibility timeout keeps
/// it hidden (it extends the visibility): when the receiver comes back the job is
/// delivered once, not once per time it became visible again.
#[tokio::test]
async fn sqs_a_job_a_live_worker_is_retrying_is_delivered_once() {
    let moto = Moto::start().await;
    let queue = moto.fifo_queue("held.fifo", 1);
    let receiver_port = free_port();
    let url = format!("http://127.0.0.1:{receiver_port}/hook");
    let (_node, server) = soketi_node(&moto, &queue, &url).await;
    let mut c = server.client().await;
    c.subscribe("kept").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    let mut receiver = Receiver::start_on(receiver_port, 0).await;
    let hit = receiver.next_within(10).await;
    assert_eq!(events(&hit)[0]["channel"], "kept");
    receiver.silent(2500).await;
    assert_eq!(moto.counts(&queue), (0, 0));
}
