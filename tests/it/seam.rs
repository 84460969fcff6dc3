//! Flows written once over the cluster seam behave the same on every bus.

use crate::cluster::{cluster_toml, wait_ready, Bus, Redis};
use crate::cluster_nats::Nats;
use crate::redis_cluster::RedisCluster;
use crate::support::*;
use crate::webhooks::{events, hook, Receiver};
use serde_json::json;

/// A presence join refused by the member limit leaves nothing behind in the
/// cluster: when the last real subscriber leaves, the channel is vacated and
/// `channel_vacated` is sent. (Before the seam, the Redis path kept the refused
/// node in the channel's occupancy, and the channel was never vacated.)
async fn a_refused_presence_join_leaves_no_occupancy(bus: &impl Bus) {
    let mut hooks = Receiver::start(0).await;
    let types = "'channel_occupied','channel_vacated'";
    let app = format!(
        "max_presence_members = 1\n{}",
        hook(&hooks.url("/"), types, "")
    );
    let text = cluster_toml(bus, "seam", "webhook_vacate_delay_ms = 150", &app, 0);
    let (a, b) = (
        Server::from_toml(&text).await,
        Server::from_toml(&text).await,
    );
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    let room = "presence-room";
    let mut first = a.client().await;
    first.subscribe_presence(room, r#"{"user_id":"u1"}"#).await;
    let occupied = json!({"name": "channel_occupied", "channel": room});
    assert_eq!(
        events(&hooks.next().await),
        [occupied],
        "first in the cluster"
    );
    let mut second = b.client().await;
    let refused = second.subscribe_presence(room, r#"{"user_id":"u2"}"#).await;
    assert_eq!(refused["data"]["type"], "LimitReached", "{refused}");
    first
        .send(json!({"event": "pusher:unsubscribe", "data": {"channel": room}}))
        .await;
    let vacated = json!({"name": "channel_vacated", "channel": room});
    let hit = hooks.next_within(5).await;
    assert_eq!(
        events(&hit),
        [vacated],
        "the refused node holds no occupancy"
    );
}

#[tokio::test]
async fn a_refused_presence_join_leaves_no_occupancy_on_redis() {
    let redis = Redis::start().await;
    a_refused_presence_join_leaves_no_occupancy(&redis).await;
}

#[tokio::test]
async fn a_refused_presence_join_leaves_no_occupancy_on_a_redis_cluster() {
    let cluster = RedisCluster::start(3, 0).await;
    a_refused_presence_join_leaves_no_occupancy(&cluster).await;
}

#[tokio::test]
async fn a_refused_presence_join_leaves_no_occupancy_on_nats() {
    let nats = Nats::start().await;
    a_refused_presence_join_leaves_no_occupancy(&nats).await;
}
