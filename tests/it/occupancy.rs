//! Cluster-wide occupancy converges (a refused join, a leave while the bus is
//! away, a resync), so `channel_occupied` / `channel_vacated` keep firing; a
//! subscription is only told it succeeded once remote events can reach it;
//! and two apps' Redis keys never meet, whatever their ids.

use crate::cluster::{cluster_toml, node, wait_ready, Bus, Redis};
use crate::relay::Relay;
use crate::support::*;
use crate::webhooks::{events, hook, Receiver};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

/// A node whose app sends occupancy webhooks to `r` at once, and admits one presence member.
async fn hooked_node(bus: &impl Bus, prefix: &str, r: &Receiver) -> Server {
    let app = format!(
        "max_presence_members = 1\n{}",
        hook(&r.url("/"), "'channel_occupied','channel_vacated'", "")
    );
    let server = "webhook_vacate_delay_ms = 0\nwebhook_retry_initial_ms = 50";
    let s = Server::from_toml(&cluster_toml(bus, prefix, server, &app, 0)).await;
    wait_ready(&s, true).await;
    s
}

/// Skip webhooks until `name` for `channel` arrives (within 5 s).
async fn hooked(r: &mut Receiver, name: &str, channel: &str) {
    let until = Instant::now() + Duration::from_secs(5);
    while Instant::now() < until {
        let hit = r.next_within(5).await;
        let want = json!({"name": name, "channel": channel});
        if events(&hit).contains(&want) {
            return;
        }
        eprintln!("skipped webhook {}", hit.body);
    }
    panic!("no {name} webhook for {channel}");
}

fn unsubscribe(channel: &str) -> Value {
    json!({"event":"pusher:unsubscribe","data":{"channel":channel}})
}

/// A presence join refused after this node wrote its occupancy (the member
/// limit), then a leave while the bus is down (it comes back with its data,
/// as a stock redis-server after a shutdown does): afterwards the bus lists
/// exactly the nodes that hold each channel, so occupied and vacated fire.
pub async fn occupancy_converges_after_a_refused_join_and_an_outage(bus: &mut impl Bus) {
    let mut r = Receiver::start(0).await;
    let a = hooked_node(&*bus, "t15", &r).await;
    let b = hooked_node(&*bus, "t15", &r).await;
    // Refused join: b's socket is refused by the member limit after b joined the channel.
    let mut w = a.client().await;
    w.subscribe_presence("presence-occ", r#"{"user_id":"w"}"#)
        .await;
    hooked(&mut r, "channel_occupied", "presence-occ").await;
    for i in 0..5 {
        let mut x = b.client().await;
        let refused = x
            .subscribe_presence("presence-occ", &format!(r#"{{"user_id":"x{i}"}}"#))
            .await;
        assert_eq!(refused["event"], "pusher:subscription_error", "{refused}");
    }
    // Nor does a refused join stay in the channel's subscription count.
    let info = format!("/apps/{APP_ID}/channels/presence-occ");
    crate::cluster::eventually(|| async {
        let query = [("info", "subscription_count")];
        let (_, body) = a.api("GET", &info, &query, "").await;
        body["subscription_count"] == 1
    })
    .await;
    w.send(unsubscribe("presence-occ")).await;
    hooked(&mut r, "channel_vacated", "presence-occ").await;
    // A leave while the bus is away.
    let mut y = b.client().await;
    y.subscribe("occ-out").await;
    hooked(&mut r, "channel_occupied", "occ-out").await;
    bus.stop_keeping_data();
    // Both noticed (a NATS client may take a moment): a's readiness after the
    // restart is then its own, not what it reported before the outage.
    wait_ready(&a, false).await;
    wait_ready(&b, false).await;
    y.send(unsubscribe("occ-out")).await;
    y.silent(200).await;
    bus.restart_with_data().await;
    wait_ready(&a, true).await;
    wait_ready(&b, true).await;
    let mut z = a.client().await;
    z.subscribe("occ-out").await;
    hooked(&mut r, "channel_occupied", "occ-out").await;
    z.send(unsubscribe("occ-out")).await;
    hooked(&mut r, "channel_vacated", "occ-out").await;
}

/// Two apps whose ids differ by what follows a newline: the one's channels are
/// never the other's (the `app\nchannel` fields of the counts hash), nor are its
/// bus messages (`origin\nkind\napp\ntarget\n...`).
pub async fn apps_never_share_keys_whatever_their_ids(bus: &mut impl Bus) {
    let other = format!("[[apps]]\nid = \"{APP_ID}\\nb\"\nkey = 'key-2'\nsecret = 's-2'\n");
    let (a, b) = (
        node(&*bus, "t16", &other).await,
        node(&*bus, "t16", &other).await,
    );
    let mut on_b = b.client_for("key-2").await;
    assert_eq!(
        on_b.subscribe("c").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let mut mine = b.client().await;
    mine.subscribe("mine").await;
    let channels = format!("/apps/{APP_ID}/channels");
    crate::cluster::eventually(|| async {
        let (_, body) = a.api("GET", &channels, &[], "").await;
        body["channels"].get("mine").is_some()
    })
    .await;
    let (_, body) = a.api("GET", &channels, &[], "").await;
    assert_eq!(body, json!({"channels":{"mine":{}}}), "{body}");
    // A member of the other app joins on b: heard by that app's socket on a,
    // never by this app's socket on channel `b` there.
    let mut on_b_here = a.client().await;
    on_b_here.subscribe("b").await;
    let mut watcher = a.client_for("key-2").await;
    join_other(&mut watcher, "w").await;
    let mut joining = b.client_for("key-2").await;
    join_other(&mut joining, "j").await;
    let added = watcher.expect("pusher_internal:member_added").await;
    assert_eq!(data(&added)["user_id"], "j", "{added}");
    on_b_here.silent(300).await;
}

/// Join `presence-c` of the app with key `key-2` (secret `s-2`) as `user`.
async fn join_other(c: &mut Client, user: &str) {
    let channel = "presence-c";
    let data = format!(r#"{{"user_id":"{user}"}}"#);
    let signed = herald::auth::channel_string(&c.socket_id, channel, Some(&data));
    let auth = format!("key-2:{}", herald::auth::sign("s-2", &signed));
    c.send(json!({"event":"pusher:subscribe","data":{"auth":auth,"channel":channel,"channel_data":data}}))
        .await;
    let ok = c.next().await;
    assert_eq!(
        ok["event"], "pusher_internal:subscription_succeeded",
        "{ok}"
    );
}

/// The relay freezes node b's link to Redis while a socket subscribes: the
/// `SUBSCRIBE` is not acknowledged, so the socket is refused rather than told
/// it succeeded; once the link flows again, a subscription hears node a, and
/// the refused join left nothing in the channel's occupancy (its release could
/// not be written while frozen): node a's subscriber occupies it.
#[tokio::test]
async fn a_subscribe_redis_does_not_acknowledge_is_refused() {
    let mut r = Receiver::start(0).await;
    let redis = Redis::start().await;
    let relay = Relay::start(format!("127.0.0.1:{}", redis.port).parse().unwrap()).await;
    let a = hooked_node(&redis, "t17", &r).await;
    let direct = cluster_toml(&redis, "t17", "", "", 0);
    let via = direct.replace(&redis.url(), &format!("redis://{}/0", relay.addr()));
    let hooks = hook(&r.url("/"), "'channel_occupied','channel_vacated'", "");
    let b = Server::from_toml(&format!("{via}{hooks}")).await;
    wait_ready(&b, true).await;
    let mut c = b.client().await;
    relay.freeze();
    let t = Instant::now();
    let sub =
        |channel: &str| json!({"event":"pusher:subscribe","data":{"auth":"","channel":channel}});
    c.send(sub("frozen")).await;
    // The 2 s wait for the SUBSCRIBE, then up to the 2 s response timeout of
    // the occupancy release.
    let answer = c.next_within(8000).await;
    eprintln!("answered after {:?}: {answer:?}", t.elapsed());
    relay.thaw();
    let Seen::Frame(answer) = answer else {
        panic!("no answer: {answer:?}")
    };
    assert_eq!(answer["event"], "pusher:subscription_error", "{answer}");
    assert_eq!(answer["data"]["status"], 503, "{answer}");
    wait_ready(&b, true).await;
    let mut heard = false;
    for i in 0..20 {
        let mut d = b.client().await;
        d.send(sub("thawed")).await;
        let answer = d.next_within(6000).await;
        if !matches!(&answer, Seen::Frame(f) if f["event"] == "pusher_internal:subscription_succeeded")
        {
            eprintln!("after the thaw, try {i}: {answer:?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(a.publish("thawed", "e", &i.to_string()).await.0, 200);
        heard = matches!(d.next_within(1000).await, Seen::Frame(f) if f["event"] == "e");
        break;
    }
    assert!(heard, "no remote event after the link flowed again");
    let mut z = a.client().await;
    z.subscribe("frozen").await;
    hooked(&mut r, "channel_occupied", "frozen").await;
}
