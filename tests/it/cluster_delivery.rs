//! Where deliveries go: a node hears a channel only while it has subscribers to
//! it, and subscription churn never loses or repeats an acknowledged event.
//! Scenarios over a [`Bus`], run by `cluster::on_redis`,
//! `redis_cluster::on_cluster` and `cluster_nats::on_nats`.

use crate::cluster::{adapter_nodes, node, Bus};
use crate::support::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// Wait up to `secs` for a subject to have `n` listeners.
async fn until_listeners(bus: &impl Bus, subject: &str, n: usize, secs: u64) {
    let t = Instant::now();
    while bus.listeners(subject) != n {
        let seen = bus.listeners(subject);
        assert!(
            t.elapsed() < Duration::from_secs(secs),
            "{subject}: {seen} listeners, not {n}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A node listens to a channel's delivery subject only while it has subscribers to
/// it (and a short linger after the last leaves); every node hears the node-wide one.
pub async fn deliveries_reach_only_nodes_with_subscribers(redis: &mut impl Bus) {
    let bus = &*redis;
    let (a, b, c) = (
        node(bus, "t10", "").await,
        node(bus, "t10", "").await,
        node(bus, "t10", "").await,
    );
    let subject = bus.channel_subject("t10", APP_ID, "news");
    assert_eq!(bus.listeners(&subject), 0, "nobody subscribed yet");
    assert_eq!(
        bus.listeners(&bus.node_subject("t10")),
        3,
        "every node hears the node-wide subject"
    );
    let mut on_b = b.client().await;
    on_b.subscribe("news").await;
    assert_eq!(
        bus.listeners(&subject),
        1,
        "listening before subscription_succeeded"
    );
    a.publish("news", "e", "1").await;
    assert_eq!(on_b.next().await["event"], "e");
    let mut on_c = c.client().await;
    on_c.subscribe("news").await;
    let mut also_b = b.client().await;
    also_b.subscribe("news").await;
    assert_eq!(bus.listeners(&subject), 2, "one subscription per node");
    on_c.send(json!({"event":"pusher:unsubscribe","data":{"channel":"news"}}))
        .await;
    until_listeners(bus, &subject, 1, 6).await;
    drop((on_b, also_b));
    until_listeners(bus, &subject, 0, 6).await;
}

/// Subscribe and read up to `subscription_succeeded`; events seen before it are returned.
async fn join_counting(c: &mut Client, channel: &str) -> Vec<u64> {
    c.send(json!({"event":"pusher:subscribe","data":{"auth":"","channel":channel}}))
        .await;
    let mut early = Vec::new();
    loop {
        let f = c.next().await;
        match f["event"].as_str() {
            Some("pusher_internal:subscription_succeeded") => return early,
            Some("n") => early.push(f["data"].as_str().unwrap().parse().unwrap()),
            _ => {}
        }
    }
}

/// One node's only subscriber leaves and comes back again and again (inside and
/// past the linger, during the `UNSUBSCRIBE`) while another node publishes: every
/// event published after a `subscription_succeeded` arrives once, in order.
pub async fn churn_never_loses_or_repeats_an_acknowledged_event(redis: &mut impl Bus) {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (a, b) = (
        node(&*redis, "t11", "").await,
        node(&*redis, "t11", "").await,
    );
    let (started, done, stop) = (AtomicU64::new(0), AtomicU64::new(0), AtomicBool::new(false));
    let publisher = async {
        while !stop.load(Ordering::Acquire) {
            let i = started.fetch_add(1, Ordering::AcqRel);
            assert_eq!(a.publish("churn", "n", &i.to_string()).await.0, 200);
            done.store(i + 1, Ordering::Release);
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let churner = async {
        let mut c = b.client().await;
        for pause in [0, 2100, 2350, 2500, 2600, 0, 100] {
            let mut seen = join_counting(&mut c, "churn").await;
            let from = started.load(Ordering::Acquire);
            tokio::time::sleep(Duration::from_millis(150)).await;
            let until = done.load(Ordering::Acquire);
            while seen.last().is_none_or(|&l| l + 1 < until) {
                match c.next_within(3000).await {
                    Seen::Frame(f) if f["event"] == "n" => {
                        seen.push(f["data"].as_str().unwrap().parse().unwrap())
                    }
                    Seen::Frame(_) => {}
                    other => panic!("events stopped after {seen:?}: {other:?}"),
                }
            }
            let after: Vec<u64> = seen.iter().copied().filter(|&i| i >= from).collect();
            let want: Vec<u64> = (from..*seen.last().unwrap() + 1).collect();
            assert_eq!(after, want, "pause {pause} ms: lost, repeated or reordered");
            c.send(json!({"event":"pusher:unsubscribe","data":{"channel":"churn"}}))
                .await;
            tokio::time::sleep(Duration::from_millis(pause)).await;
            while let Seen::Frame(_) = c.next_within(20).await {}
        }
        stop.store(true, Ordering::Release);
    };
    tokio::join!(publisher, churner);
}

/// A node's first subscriber to a channel is answered only once the node hears
/// the channel: Redis counts the node's subscription when `subscribe` returns, and
/// an event published on another node right then arrives (40 fresh channels).
pub async fn first_subscriber_hears_events_published_right_after_its_ack(redis: &mut impl Bus) {
    use herald::socket::{Frame, Liveness, Sink, SocketId};
    let [(a, app_a), (b, app_b)] = adapter_nodes(&*redis, "t12").await;
    let mut missed = Vec::new();
    for i in 0..40 {
        let channel = format!("race-{i}");
        let sink = Sink::new(SocketId::new(7, i), 8, Liveness::new(None));
        b.adapter
            .subscribe(
                &app_b,
                &channel,
                &sink,
                None,
                herald::recovery::Recovery::Off,
            )
            .await
            .unwrap();
        // Asked of Redis before this (current-thread) runtime runs anything else.
        let subject = redis.channel_subject("t12", APP_ID, &channel);
        assert_eq!(
            redis.listeners(&subject),
            1,
            "{channel}: not heard when answered"
        );
        let frame = Frame::from(format!("{{\"event\":\"e\",\"channel\":\"{channel}\"}}"));
        a.adapter.broadcast(&app_a, &channel, &frame, None);
        let t = Instant::now();
        while sink.take().frames.is_empty() {
            if t.elapsed() > Duration::from_secs(1) {
                missed.push(channel);
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    assert!(
        missed.is_empty(),
        "events lost right after subscribe: {missed:?}"
    );
}
