//! `pusher_internal:subscription_count` for apps with `enable_subscription_count`.

use crate::cluster::{node, wait_ready, Bus};
use crate::support::*;
use serde_json::{json, Value};

pub const ON: &str = "enable_subscription_count = true";

/// The next `subscription_count` frame's count (other frames are skipped).
pub async fn next_count(c: &mut Client) -> u64 {
    let frame = c.expect("pusher_internal:subscription_count").await;
    data(&frame)["subscription_count"].as_u64().unwrap()
}

/// The next count of `channel` (other frames are skipped).
async fn count_of(c: &mut Client, channel: &str) -> u64 {
    loop {
        let frame = c.expect("pusher_internal:subscription_count").await;
        if frame["channel"] == channel {
            return data(&frame)["subscription_count"].as_u64().unwrap();
        }
    }
}

/// Read counts until one says `want`; answers how many frames that took.
pub async fn count_until(c: &mut Client, want: u64) -> usize {
    let mut frames = 0;
    loop {
        frames += 1;
        if next_count(c).await == want {
            return frames;
        }
    }
}

#[tokio::test]
async fn subscribers_hear_the_count_change_on_one_node() {
    let server = Server::start("", ON).await;
    let mut a = server.client().await;
    assert_eq!(
        a.subscribe("room").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let first = a.next().await;
    assert_eq!(
        first,
        json!({"event":"pusher_internal:subscription_count","channel":"room","data":"{\"subscription_count\":1}"})
    );
    let mut b = server.client().await;
    b.subscribe_private("private-room").await;
    assert_eq!(count_of(&mut b, "private-room").await, 1);
    b.subscribe("room").await;
    assert_eq!(next_count(&mut a).await, 2);
    assert_eq!(count_of(&mut b, "room").await, 2);
    b.send(json!({"event":"pusher:unsubscribe","data":{"channel":"room"}}))
        .await;
    assert_eq!(next_count(&mut a).await, 1);
    drop(b);
    a.silent(300).await;
}

#[tokio::test]
async fn no_counts_for_presence_channels_or_apps_without_the_flag() {
    let server = Server::start("", ON).await;
    let mut a = server.client().await;
    a.subscribe_presence("presence-room", r#"{"user_id":"1"}"#)
        .await;
    let mut b = server.client().await;
    b.subscribe_presence("presence-room", r#"{"user_id":"2"}"#)
        .await;
    assert_eq!(a.next().await["event"], "pusher_internal:member_added");
    a.silent(300).await;
    b.silent(100).await;

    let off = Server::start("", "").await;
    let mut c = off.client().await;
    c.subscribe("room").await;
    let mut d = off.client().await;
    d.subscribe("room").await;
    c.silent(300).await;
}

/// 300 sockets join one channel as fast as they can: the first one hears far
/// fewer counts than joins (unthrottled it would be one per join), and the
/// last count it hears is the whole channel.
#[tokio::test]
async fn a_join_storm_is_coalesced_and_ends_on_the_true_count() {
    let server = Server::start("", ON).await;
    let mut first = server.client().await;
    first.subscribe("stage").await;
    assert_eq!(next_count(&mut first).await, 1);
    let mut others = Vec::new();
    for _ in 0..299 {
        let mut c = server.client().await;
        c.send(json!({"event":"pusher:subscribe","data":{"auth":"","channel":"stage"}}))
            .await;
        others.push(c);
    }
    let frames = count_until(&mut first, 300).await;
    assert!(frames < 60, "{frames} count frames for 299 joins");
    first.silent(500).await;
    let last: &mut Client = others.last_mut().unwrap();
    let seen: Vec<Value> = {
        let mut seen = Vec::new();
        while let Seen::Frame(f) = last.next_within(300).await {
            seen.push(f);
        }
        seen
    };
    let counts: Vec<&Value> = seen
        .iter()
        .filter(|f| f["event"] == "pusher_internal:subscription_count")
        .collect();
    assert_eq!(
        counts.last().map(|f| data(f)["subscription_count"].clone()),
        Some(json!(300))
    );
}

/// Two nodes on `bus` (run on each bus by `on_redis`, `on_cluster`, `on_nats`).
pub async fn the_count_is_the_clusters(bus: &mut impl Bus) {
    let a = node(&*bus, "sc1", ON).await;
    let b = node(&*bus, "sc1", ON).await;
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

/// A join on B while the bus is down reaches A's count once the bus is back.
pub async fn counts_converge_after_an_outage(redis: &mut impl Bus) {
    let a = node(&*redis, "sc2", ON).await;
    let b = node(&*redis, "sc2", ON).await;
    let mut on_a = a.client().await;
    on_a.subscribe("room").await;
    let mut on_b = b.client().await;
    on_b.subscribe("room").await;
    count_until(&mut on_a, 2).await;
    redis.stop();
    wait_ready(&b, false).await;
    let mut late = b.client().await;
    late.subscribe("room").await;
    redis.restart().await;
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    count_until(&mut on_a, 3).await;
    count_until(&mut late, 3).await;
}
