//! The console across a Redis cluster, on its own connections (never the
//! delivery bus).
//!
//! | name | type | holds |
//! |---|---|---|
//! | `P:console:watchers` | sorted set | `app\nnode` members scored with the time (ms) their watch expires |
//! | `P#console:{app}` | pub/sub channel | one JSON [`Record`] per message, `node` set |
//!
//! Every second a console-enabled node (1) adds `app\nnode` for each app it
//! has watchers for, expiring 5 s later, (2) drops expired members and reads the
//! rest, (3) attaches its relay to the taps of apps another node watches and
//! detaches it from the others, and (4) subscribes to `P#console:{app}` for the
//! apps it watches. So records travel only while someone somewhere watches,
//! and stop within about 5 s after the last watcher left. A node whose console
//! is off neither relays nor reads: enable the console on every node.

use crate::config::Cluster;
use crate::node::Node;
use crate::tap::{Outlet, Record};
use futures_util::StreamExt;
use redis::aio::{MultiplexedConnection, PubSubSink};
use redis::{AsyncCommands, RedisResult};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

/// Records waiting for Redis before they are dropped (counted per app's tap).
const QUEUE: usize = 4096;
/// How long a watch lasts without being refreshed.
const WATCH_TTL_MS: u64 = 5000;
const REFRESH: Duration = Duration::from_secs(1);

struct Relay {
    node: Arc<Node>,
    label: String,
    watchers_key: String,
    prefix: String,
    tx: mpsc::Sender<(Arc<str>, Arc<Record>)>,
    /// Apps whose records this node subscribes to.
    subscribed: HashSet<String>,
}

/// Run forever: connect, relay until Redis fails, back off, again.
pub(crate) async fn run(node: Arc<Node>, cluster: Cluster, label: String) {
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let mut relay = Relay {
        node,
        label,
        watchers_key: format!("{}:console:watchers", cluster.prefix),
        prefix: cluster.prefix.clone(),
        tx,
        subscribed: HashSet::new(),
    };
    let mut backoff = Duration::from_millis(200);
    loop {
        match relay.serve(&cluster.redis_url, &mut rx).await {
            Ok(()) => return,
            Err(e) => tracing::warn!(error = %e, "console relay lost Redis; retrying"),
        }
        relay.detach_all();
        relay.subscribed.clear();
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

impl Relay {
    async fn serve(
        &mut self,
        url: &str,
        rx: &mut mpsc::Receiver<(Arc<str>, Arc<Record>)>,
    ) -> RedisResult<()> {
        let client = redis::Client::open(url)?;
        let mut conn = client.get_multiplexed_async_connection().await?;
        let (mut sink, mut messages) = client.get_async_pubsub().await?.split();
        tracing::info!(node = %self.label, "console relay connected to Redis");
        let mut tick = tokio::time::interval(REFRESH);
        loop {
            tokio::select! {
                msg = messages.next() => match msg {
                    Some(m) => self.deliver(m.get_channel_name(), m.get_payload_bytes()),
                    None => return Err(closed()),
                },
                Some(first) = rx.recv() => self.send(&mut conn, first, rx).await?,
                _ = tick.tick() => self.refresh(&mut conn, &mut sink).await?,
            }
        }
    }

    /// Another node's record for an app watched here.
    fn deliver(&self, channel: &str, payload: &[u8]) {
        let Some(app) = channel.strip_prefix(&format!("{}#console:", self.prefix)) else {
            return;
        };
        let Ok(record) = serde_json::from_slice::<Record>(payload) else {
            tracing::debug!(channel, "console relay: unreadable record");
            return;
        };
        if record.node.as_deref() == Some(self.label.as_str()) {
            return;
        }
        if let Some(state) = self.node.adapter.app(app) {
            state.tap.offer(Arc::new(record));
        }
    }

    /// Publish the queued records, pipelined, each named with this node.
    async fn send(
        &self,
        conn: &mut MultiplexedConnection,
        first: (Arc<str>, Arc<Record>),
        rx: &mut mpsc::Receiver<(Arc<str>, Arc<Record>)>,
    ) -> RedisResult<()> {
        let mut pipe = redis::pipe();
        let mut next = Some(first);
        let mut n = 0;
        while let Some((app, record)) = next.take() {
            let mut named = Record::clone(&record);
            named.node = Some(self.label.clone());
            if let Ok(json) = serde_json::to_string(&named) {
                pipe.publish(format!("{}#console:{app}", self.prefix), json)
                    .ignore();
            }
            n += 1;
            next = if n < 256 { rx.try_recv().ok() } else { None };
        }
        pipe.query_async::<()>(conn).await
    }

    /// Announce this node's watches, read everyone's, attach and subscribe.
    async fn refresh(
        &mut self,
        conn: &mut MultiplexedConnection,
        sink: &mut PubSubSink,
    ) -> RedisResult<()> {
        let now = crate::tap::now_ms();
        let mine = self.watched_here();
        let mut pipe = redis::pipe();
        for app in &mine {
            let member = format!("{app}\n{}", self.label);
            pipe.zadd(&self.watchers_key, member, now + WATCH_TTL_MS)
                .ignore();
        }
        pipe.cmd("ZREMRANGEBYSCORE")
            .arg(&self.watchers_key)
            .arg("-inf")
            .arg(now)
            .ignore();
        pipe.zrange(&self.watchers_key, 0, -1);
        let (members,): (Vec<String>,) = pipe.query_async(conn).await?;
        self.attach(&members);
        self.subscribe(&mine, sink).await?;
        let _: () = conn
            .pexpire(&self.watchers_key, WATCH_TTL_MS as i64 * 2)
            .await?;
        Ok(())
    }

    /// Apps with a console stream open on this node.
    fn watched_here(&self) -> HashSet<String> {
        self.node
            .adapter
            .apps()
            .iter()
            .filter(|a| a.tap.local_watchers() > 0)
            .map(|a| a.app().raw.id.clone())
            .collect()
    }

    /// Relay the apps other nodes watch; stop relaying the rest.
    fn attach(&self, members: &[String]) {
        let elsewhere: HashSet<&str> = members
            .iter()
            // Split at the last newline: a node label has none, an app id may.
            .filter_map(|m| m.rsplit_once('\n'))
            .filter(|(_, node)| *node != self.label)
            .map(|(app, _)| app)
            .collect();
        for id in &elsewhere {
            // The app's state exists from now on, so its first events are relayed.
            let _ = self.node.app_by_id(id);
        }
        for app in self.node.adapter.apps() {
            let id = app.app().raw.id.clone();
            let outlet = elsewhere.contains(id.as_str()).then(|| Outlet {
                app: id.into(),
                tx: self.tx.clone(),
            });
            app.tap.set_relay(outlet);
        }
    }

    async fn subscribe(
        &mut self,
        mine: &HashSet<String>,
        sink: &mut PubSubSink,
    ) -> RedisResult<()> {
        for app in mine.difference(&self.subscribed.clone()) {
            sink.subscribe(format!("{}#console:{app}", self.prefix))
                .await?;
            self.subscribed.insert(app.clone());
        }
        for app in self.subscribed.clone().difference(mine) {
            sink.unsubscribe(format!("{}#console:{app}", self.prefix))
                .await?;
            self.subscribed.remove(app);
        }
        Ok(())
    }

    fn detach_all(&self) {
        for app in self.node.adapter.apps() {
            app.tap.set_relay(None);
        }
    }
}

fn closed() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::IoError, "console subscription closed"))
}
