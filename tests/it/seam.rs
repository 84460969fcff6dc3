//! Flows written once over the cluster seam behave the same on every bus.

use crate::cluster::{eventually, Bus, Redis};
use crate::cluster_nats::Nats;
use crate::redis_cluster::RedisCluster;
use crate::support::*;
use herald::channel::Member;
use herald::socket::{Liveness, Sink, SocketId};

fn member(id: &str) -> Option<Member> {
    Some(Member {
        id: id.to_string(),
        id_json: format!("\"{id}\""),
        info_json: None,
    })
}

/// A presence join refused by the member limit leaves nothing behind in the
/// cluster: when the last real subscriber leaves, the channel is vacated
/// (so `channel_vacated` is sent). On main, the Redis path kept the refused
/// node in the channel's occupancy, and the channel was never vacated.
async fn a_refused_presence_join_leaves_no_occupancy(server: &str) {
    let mk = || {
        let text = format!(
            "[server]\nhost='127.0.0.1'\nport=0\n{server}\n[[apps]]\nid='{APP_ID}'\n\
             key='{KEY}'\nsecret='{SECRET}'\nmax_presence_members = 1\n"
        );
        let config = herald::config::RawConfig::parse_toml("t", &text);
        herald::node::Node::new(config.unwrap().build().unwrap()).unwrap()
    };
    let (a, b) = (mk(), mk());
    for n in [&a, &b] {
        eventually(|| async { n.is_ready() }).await;
    }
    let (app_a, app_b) = (
        a.adapter.app(APP_ID).unwrap().clone(),
        b.adapter.app(APP_ID).unwrap().clone(),
    );
    let s1 = Sink::new(SocketId::new(1, 1), 8, Liveness::new(None));
    let s2 = Sink::new(SocketId::new(2, 2), 8, Liveness::new(None));
    let room = "presence-room";
    let first = a.adapter.subscribe(&app_a, room, &s1, member("u1")).await;
    assert!(first.unwrap().occupied, "first subscriber in the cluster");
    let refused = b.adapter.subscribe(&app_b, room, &s2, member("u2")).await;
    assert!(
        matches!(refused, Err(herald::adapter::AdapterError::Join(_))),
        "the member limit refuses a second user: {:?}",
        refused.map(|j| j.occupied)
    );
    let left = a.adapter.unsubscribe(&app_a, room, 1).await.unwrap();
    assert!(left.vacated, "the refused node holds no occupancy");
}

#[tokio::test]
async fn a_refused_presence_join_leaves_no_occupancy_on_redis() {
    let redis = Redis::start().await;
    a_refused_presence_join_leaves_no_occupancy(&redis.server_toml()).await;
}

#[tokio::test]
async fn a_refused_presence_join_leaves_no_occupancy_on_a_redis_cluster() {
    let cluster = RedisCluster::start(3, 0).await;
    a_refused_presence_join_leaves_no_occupancy(&cluster.server_toml()).await;
}

#[tokio::test]
async fn a_refused_presence_join_leaves_no_occupancy_on_nats() {
    let nats = Nats::start().await;
    a_refused_presence_join_leaves_no_occupancy(&nats.server_toml()).await;
}
