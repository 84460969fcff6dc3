//! The adapter's background task: connect, open the buckets, resync, watch the
//! other nodes' heartbeats, heartbeat, flush counts, purge dead nodes, and start
//! over when the connection drops. Plus the task that publishes the bus queue.

use super::chan::{kv_err, KvError};
use super::names::{self, Names};
use super::{interest, lock, Buckets, Cluster, Outgoing, Peer};
use crate::adapter::cluster::Ack;
use crate::adapter::cluster::Cluster as _;
use async_nats::jetstream::kv::{Operation, Store};
use async_nats::jetstream::stream::{Config as StreamConfig, DiscardPolicy, StorageType};
use async_nats::{Client, ConnectOptions, Event, ServerAddr};
use futures_util::StreamExt;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

const HEARTBEAT: Duration = Duration::from_secs(1);
/// A node whose heartbeat has not changed for this long is dead.
const DEAD_AFTER: Duration = Duration::from_secs(5);
const FLUSH: Duration = Duration::from_millis(20);

/// Run forever: connect (the client reconnects by itself), then serve one
/// session per connection until it drops.
pub(crate) async fn run(cluster: Arc<Cluster>) {
    let (events_tx, mut events) = mpsc::unbounded_channel();
    let client = match connect(&cluster, events_tx).await {
        Ok(client) => client,
        Err(e) => {
            tracing::error!(error = %e, "cannot set up the NATS client: node stays not ready");
            return;
        }
    };
    *lock(&cluster.client) = Some(client.clone());
    start_loops(&cluster, &client);
    tokio::spawn(super::bus::probe(Arc::downgrade(&cluster), client.clone()));
    let names = &cluster.names;
    cluster
        .interest
        .listen(&client, &names.apps(), &names.ping())
        .await;
    // Short retries while connected: a node slower than DEAD_AFTER to heartbeat
    // again after a NATS restart would be purged by its peers.
    let mut backoff = Duration::from_millis(100);
    loop {
        if wait_connected(&client, &mut events).await {
            backoff = Duration::from_millis(100);
        }
        if let Err(e) = session(&cluster, &client, &mut events, &mut backoff).await {
            tracing::warn!(
                error = %e,
                "lost NATS: serving local sockets only, API publishes answer 503"
            );
        }
        cluster.healthy.store(false, Ordering::Release);
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_millis(800));
    }
}

async fn connect(
    cluster: &Cluster,
    events: mpsc::UnboundedSender<Event>,
) -> Result<Client, async_nats::ConnectError> {
    let cfg = &cluster.cfg;
    let mut opts = ConnectOptions::new()
        .name(format!("herald {}", cluster.names.node))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(cfg.connect_timeout)
        .request_timeout(Some(Duration::from_secs(2)))
        .reconnect_delay_callback(|n| {
            Duration::from_millis(100 << n.min(5)).min(Duration::from_secs(2))
        })
        .event_callback(move |event| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        });
    if let Some(token) = &cfg.token {
        opts = opts.token(token.clone());
    }
    if let Some(user) = &cfg.user {
        let password = cfg.password.clone().unwrap_or_default();
        opts = opts.user_and_password(user.clone(), password);
    }
    let addrs: Vec<ServerAddr> = cfg
        .servers
        .iter()
        .filter_map(|s| match s.parse() {
            Ok(a) => Some(a),
            Err(e) => {
                tracing::warn!(server = %s, error = %e, "NATS server address ignored");
                None
            }
        })
        .collect();
    opts.connect(addrs).await
}

/// The bus publisher and the subscription reader.
fn start_loops(cluster: &Arc<Cluster>, client: &Client) {
    if let Some(rx) = lock(&cluster.bus_rx).take() {
        tokio::spawn(send_bus(client.clone(), cluster.names.ping(), rx));
    }
    if let Some(feeds) = lock(&cluster.feeds).take() {
        let c = cluster.clone();
        tokio::spawn(interest::run(feeds, move |payload| c.deliver(payload)));
    }
}

/// Publishes sent before their acknowledgements are asked for, at most.
const MAX_BATCH: usize = 512;

/// Publish the queue in order over the one connection. The messages someone
/// waits for (API publishes) are acknowledged once a request sent after them
/// comes back: the server handles one connection's commands in order.
async fn send_bus(client: Client, ping: String, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(first) = rx.recv().await {
        let mut acks = Vec::new();
        let mut next = Some(first);
        let mut sent = 0;
        while let Some((subject, payload, ack)) = next.take() {
            if let Err(e) = client.publish(subject, payload).await {
                tracing::debug!(error = %e, "bus publish failed");
            }
            acks.extend(ack);
            sent += 1;
            if sent < MAX_BATCH {
                next = rx.try_recv().ok();
            }
        }
        if !acks.is_empty() {
            tokio::spawn(acknowledge(client.clone(), ping.clone(), acks));
        }
    }
}

/// Answer `acks` if the server answers a request sent after their publishes
/// within [`crate::adapter::ACK_WAIT`]; otherwise drop them (the API answers 503).
async fn acknowledge(client: Client, ping: String, acks: Vec<Ack>) {
    if client.connection_state() != async_nats::connection::State::Connected {
        return;
    }
    let request = client.request(ping, bytes::Bytes::new());
    let answered = match tokio::time::timeout(crate::adapter::ACK_WAIT, request).await {
        Ok(Ok(_)) => true,
        Ok(Err(e)) => e.kind() == async_nats::RequestErrorKind::NoResponders,
        Err(_) => false,
    };
    if answered {
        for ack in acks {
            let _ = ack.send(());
        }
    }
}

/// Wait until the client is connected; true if it had to reconnect first.
async fn wait_connected(client: &Client, events: &mut mpsc::UnboundedReceiver<Event>) -> bool {
    let mut waited = false;
    while client.connection_state() != async_nats::connection::State::Connected {
        waited = true;
        let _ = tokio::time::timeout(Duration::from_millis(100), events.recv()).await;
    }
    while events.try_recv().is_ok() {}
    waited
}

#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("disconnected from NATS")]
    Disconnected,
    #[error("heartbeat watch ended")]
    WatchEnded,
    #[error(transparent)]
    Kv(#[from] KvError),
}

async fn session(
    cluster: &Arc<Cluster>,
    client: &Client,
    events: &mut mpsc::UnboundedReceiver<Event>,
    backoff: &mut Duration,
) -> Result<(), SessionError> {
    let kv = Arc::new(open(cluster, client).await?);
    lock(&cluster.peers).clear();
    let mut watch = kv.nodes.watch_with_history(">").await.map_err(kv_err)?;
    heartbeat(cluster, &kv).await?;
    super::sync::resync(cluster, client, &kv).await?;
    *lock(&cluster.kv) = Some(kv.clone());
    cluster.healthy.store(true, Ordering::Release);
    *backoff = Duration::from_millis(100);
    tracing::info!(node = %cluster.names.node, "connected to NATS: cluster bus up");
    let mut beat = tokio::time::interval(HEARTBEAT);
    let mut flush = tokio::time::interval(FLUSH);
    loop {
        tokio::select! {
            event = events.recv() => match event {
                Some(Event::Disconnected | Event::Closed) | None => return Err(SessionError::Disconnected),
                Some(other) => tracing::debug!(event = %other, "NATS event"),
            },
            entry = watch.next() => match entry {
                Some(Ok(entry)) => seen(cluster, entry),
                Some(Err(e)) => return Err(kv_err(e).into()),
                None => return Err(SessionError::WatchEnded),
            },
            _ = flush.tick() => flush_counts(cluster, &kv).await?,
            _ = beat.tick() => {
                heartbeat(cluster, &kv).await?;
                purge_dead(cluster, &kv).await?;
                super::sync::repeat_gone(cluster, &kv).await?;
            }
        }
    }
}

/// Open (or create) the buckets; a JetStream store lost in a restart gets new ones.
async fn open(cluster: &Cluster, client: &Client) -> Result<Buckets, KvError> {
    let mut js = async_nats::jetstream::new(client.clone());
    js.set_timeout(Duration::from_secs(2));
    let names = &cluster.names;
    let hour = Duration::from_secs(3600);
    let cache_age = cluster.cache_ttl.max(Duration::from_secs(1));
    Ok(Buckets {
        nodes: bucket(&js, names, "nodes", Duration::ZERO, StorageType::File).await?,
        chan: bucket(&js, names, "chan", Duration::ZERO, StorageType::File).await?,
        subs: bucket(&js, names, "subs", Duration::ZERO, StorageType::File).await?,
        cache: bucket(&js, names, "cache", cache_age, StorageType::File).await?,
        rate: bucket(
            &js,
            names,
            "rate",
            Duration::from_secs(5),
            StorageType::Memory,
        )
        .await?,
        locks: bucket(
            &js,
            names,
            "locks",
            Duration::from_secs(30),
            StorageType::Memory,
        )
        .await?,
        marks: bucket(&js, names, "marks", hour, StorageType::File).await?,
        online: bucket(&js, names, "online", Duration::ZERO, StorageType::File).await?,
    })
}

async fn bucket(
    js: &async_nats::jetstream::Context,
    names: &Names,
    what: &str,
    max_age: Duration,
    storage: StorageType,
) -> Result<Store, KvError> {
    let name = names.bucket(what);
    if let Ok(store) = js.get_key_value(&name).await {
        return Ok(store);
    }
    // Not `create_key_value`: it reads account fields nats-server 2.9 does not send.
    let config = StreamConfig {
        name: format!("KV_{name}"),
        subjects: vec![format!("$KV.{name}.>")],
        max_messages_per_subject: 1,
        max_age,
        storage,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: DiscardPolicy::New,
        num_replicas: 1,
        ..Default::default()
    };
    js.create_stream(config).await.map_err(kv_err)?;
    js.get_key_value(&name).await.map_err(kv_err)
}

/// Announce this node with its connection counts.
async fn heartbeat(cluster: &Cluster, kv: &Buckets) -> Result<(), KvError> {
    let conns: HashMap<String, usize> = cluster
        .registry
        .apps()
        .iter()
        .map(|a| (a.app().raw.id.clone(), a.connection_count()))
        .collect();
    let value = serde_json::to_vec(&conns).map_err(kv_err)?;
    let key = Names::node_key(&cluster.names.node);
    kv.nodes.put(key, value.into()).await.map_err(kv_err)?;
    Ok(())
}

/// A heartbeat (or a node's removal) seen on the nodes bucket.
fn seen(cluster: &Cluster, entry: async_nats::jetstream::kv::Entry) {
    let Some(node) = names::untoken(&entry.key).filter(|n| *n != cluster.names.node) else {
        return;
    };
    let mut peers = lock(&cluster.peers);
    if entry.operation != Operation::Put {
        peers.remove(&node);
        return;
    }
    let conns = serde_json::from_slice(&entry.value).unwrap_or_default();
    let peer = Peer {
        seen: Instant::now(),
        revision: entry.revision,
        conns,
    };
    peers.insert(node, peer);
}

/// Whether a peer that looks silent has in fact heartbeated since (the watch
/// may lag); then it counts as seen now.
async fn beat_since(cluster: &Cluster, kv: &Buckets, node: &str) -> Result<bool, KvError> {
    let entry = kv
        .nodes
        .entry(Names::node_key(node))
        .await
        .map_err(kv_err)?;
    let Some(entry) = entry.filter(|e| e.operation == Operation::Put) else {
        return Ok(false);
    };
    let mut peers = lock(&cluster.peers);
    match peers.get_mut(node) {
        Some(p) if entry.revision > p.revision => {
            p.seen = Instant::now();
            p.revision = entry.revision;
            Ok(true)
        }
        _ => Ok(false),
    }
}

/// Purge every peer that stopped heartbeating, if this node wins its lock.
async fn purge_dead(cluster: &Cluster, kv: &Buckets) -> Result<(), KvError> {
    let dead: Vec<String> = lock(&cluster.peers)
        .iter()
        .filter(|(_, p)| p.seen.elapsed() > DEAD_AFTER)
        .map(|(n, _)| n.clone())
        .collect();
    for node in dead {
        if beat_since(cluster, kv, &node).await? {
            continue;
        }
        let key = format!("purge.{}", names::token(&node));
        let mine = cluster.names.node.clone().into_bytes();
        if kv.locks.create(key, mine.into()).await.is_ok() {
            tracing::warn!(dead = %node, "node stopped heartbeating: removing its presence members");
            super::sync::purge(cluster, kv, &node).await?;
        }
        lock(&cluster.peers).remove(&node);
    }
    Ok(())
}

/// Write this node's changed subscription counts.
async fn flush_counts(cluster: &Cluster, kv: &Buckets) -> Result<(), KvError> {
    let dirty: Vec<(String, String)> = lock(&cluster.dirty).drain().collect();
    for (app, channel) in dirty {
        let n = cluster
            .registry
            .app(&app)
            .and_then(|a| a.counts(&channel))
            .map_or(0, |c| c.subscriptions);
        let key = Names::subs_key(&cluster.names.node, &app, &channel);
        match n {
            0 => kv.subs.delete(key).await.map_err(kv_err)?,
            n => drop(
                kv.subs
                    .put(key, n.to_string().into())
                    .await
                    .map_err(kv_err)?,
            ),
        }
        let state = cluster.registry.app(&app);
        cluster.count_written(state.as_deref(), &channel);
    }
    Ok(())
}
