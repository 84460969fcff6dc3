//! Public, private, encrypted and cache channels; subscription errors.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn public_subscribe_receive_unsubscribe() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    let ok = c.subscribe("tenant.42").await;
    assert_eq!(
        ok,
        json!({"event":"pusher_internal:subscription_succeeded","channel":"tenant.42","data":"{}"})
    );
    assert_eq!(
        server
            .publish("tenant.42", "App\\Events\\UserCreated", r#"{"id":1}"#)
            .await
            .0,
        200
    );
    let ev = c.next().await;
    assert_eq!(
        ev,
        json!({"event":"App\\Events\\UserCreated","channel":"tenant.42","data":"{\"id\":1}"})
    );
    c.send(json!({"event":"pusher:unsubscribe","data":{"channel":"tenant.42"}}))
        .await;
    c.send(json!({"event":"pusher:ping"})).await;
    assert_eq!(c.next().await["event"], "pusher:pong");
    server.publish("tenant.42", "e", "{}").await;
    c.silent(200).await;
}

#[tokio::test]
async fn private_channel_needs_a_valid_signature_and_the_socket_survives_a_bad_one() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    let bad = json!({"event":"pusher:subscribe","data":{"auth":"app-key:deadbeef","channel":"private-user.1"}});
    c.send(bad).await;
    let err = c.next().await;
    assert_eq!(err["event"], "pusher:subscription_error");
    assert_eq!(err["channel"], "private-user.1");
    assert_eq!(err["data"]["type"], "AuthError");
    assert_eq!(err["data"]["status"], 401);
    // A signature for another socket is refused too.
    let other = channel_auth("1.1", "private-user.1", None);
    c.send(json!({"event":"pusher:subscribe","data":{"auth":other,"channel":"private-user.1"}}))
        .await;
    assert_eq!(c.next().await["event"], "pusher:subscription_error");
    // No auth at all.
    c.send(json!({"event":"pusher:subscribe","data":{"channel":"private-user.1"}}))
        .await;
    assert_eq!(c.next().await["event"], "pusher:subscription_error");
    let ok = c.subscribe_private("private-user.1").await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    server.publish("private-user.1", "Toast", "\"hi\"").await;
    assert_eq!(c.next().await["data"], "\"hi\"");
}

#[tokio::test]
async fn channel_data_on_a_private_channel_is_part_of_the_signature() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    let cd = r#"{"user_id":"1"}"#;
    let signed_with = channel_auth(&c.socket_id, "private-a", Some(cd));
    let msg = json!({"event":"pusher:subscribe","data":{"auth":signed_with,"channel":"private-a","channel_data":cd}});
    c.send(msg).await;
    assert_eq!(
        c.next().await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let without = channel_auth(&c.socket_id, "private-b", None);
    let msg = json!({"event":"pusher:subscribe","data":{"auth":without,"channel":"private-b","channel_data":cd}});
    c.send(msg).await;
    assert_eq!(c.next().await["event"], "pusher:subscription_error");
}

#[tokio::test]
async fn invalid_and_too_long_names_are_refused_with_4009() {
    let server = Server::start("max_channel_name_length = 20", "").await;
    let mut c = server.client().await;
    for name in ["bad name", "tenant:1", "#not-server-to-user", ""] {
        let err = c.subscribe(name).await;
        assert_eq!(err["event"], "pusher:subscription_error", "{name}");
        assert_eq!(err["data"]["status"], 4009, "{name}");
    }
    let err = c.subscribe(&"a".repeat(21)).await;
    assert_eq!(err["data"]["type"], "LimitReached");
    assert_eq!(err["data"]["status"], 4009);
    assert_eq!(
        c.subscribe(&"a".repeat(20)).await["event"],
        "pusher_internal:subscription_succeeded"
    );
}

#[tokio::test]
async fn prefixes_are_anchored() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    // Soketi would demand auth here; Pusher treats it as public.
    assert_eq!(
        c.subscribe("my-private-room").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    assert_eq!(
        c.subscribe("private-room").await["event"],
        "pusher:subscription_error"
    );
    assert_eq!(
        c.subscribe("presence-room").await["event"],
        "pusher:subscription_error"
    );
    assert_eq!(
        c.subscribe("private-encrypted-room").await["event"],
        "pusher:subscription_error"
    );
}

#[tokio::test]
async fn encrypted_payloads_are_relayed_untouched() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    assert_eq!(
        c.subscribe_private("private-encrypted-doc").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let payload = r#"{"nonce":"4aRd+S2m/3LfuX1yHx0sNa1NF3Qa0C7j","ciphertext":"f8G\/Zq+9=="}"#;
    server
        .publish("private-encrypted-doc", "secret", payload)
        .await;
    assert_eq!(c.next().await["data"], payload);
}

#[tokio::test]
async fn cache_channels_miss_then_replay_the_last_event() {
    let server = Server::start("", "").await;
    for channel in [
        "cache-scores",
        "private-cache-scores",
        "private-encrypted-cache-scores",
    ] {
        let mut first = server.client().await;
        let ok = if channel.starts_with("private") {
            first.subscribe_private(channel).await
        } else {
            first.subscribe(channel).await
        };
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
        assert_eq!(
            first.next().await,
            json!({"event":"pusher:cache_miss","channel":channel})
        );
        server.publish(channel, "score", "\"1\"").await;
        server.publish(channel, "score", "\"2\"").await;
        assert_eq!(first.next().await["data"], "\"1\"");
        assert_eq!(first.next().await["data"], "\"2\"");
        drop(first);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut later = server.client().await;
        if channel.starts_with("private") {
            later.subscribe_private(channel).await;
        } else {
            later.subscribe(channel).await;
        }
        assert_eq!(
            later.next().await,
            json!({"event":"score","channel":channel,"data":"\"2\""}),
            "{channel}"
        );
    }
    let mut p = server.client().await;
    let ok = p
        .subscribe_presence("presence-cache-room", r#"{"user_id":"1"}"#)
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(p.next().await["event"], "pusher:cache_miss");
}

#[tokio::test]
async fn cache_expires_after_its_ttl() {
    let server = Server::start("cache_ttl = 1", "").await;
    server.publish("cache-x", "e", "\"v\"").await;
    let mut c = server.client().await;
    c.subscribe("cache-x").await;
    assert_eq!(c.next().await["event"], "e");
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let mut d = server.client().await;
    d.subscribe("cache-x").await;
    assert_eq!(d.next().await["event"], "pusher:cache_miss");
}

#[tokio::test]
async fn a_large_fan_out_reaches_every_socket_on_every_thread_in_order() {
    // More subscribers than publishers write to themselves (32), spread round-robin
    // over the server's 3 threads; events published back to back arrive complete
    // and in order everywhere, and a socket excluded by socket_id gets none.
    let server = Server::start("threads = 3", "").await;
    let mut clients = Vec::new();
    for _ in 0..90 {
        let mut c = server.client().await;
        c.subscribe("announcements").await;
        clients.push(c);
    }
    for i in 0..5 {
        let (status, _) = server
            .publish("announcements", "News", &format!("\"{i}\""))
            .await;
        assert_eq!(status, 200);
    }
    let except = clients[7].socket_id.clone();
    let body =
        json!({"name":"News","data":"\"last\"","channels":["announcements"],"socket_id":except})
            .to_string();
    let (status, _) = server
        .api("POST", &format!("/apps/{APP_ID}/events"), &[], &body)
        .await;
    assert_eq!(status, 200);
    for (n, c) in clients.iter_mut().enumerate() {
        for i in 0..5 {
            assert_eq!(c.next().await["data"], format!("\"{i}\""), "socket {n}");
        }
        if n == 7 {
            c.silent(100).await;
        } else {
            assert_eq!(c.next().await["data"], "\"last\"", "socket {n}");
        }
    }
}

#[tokio::test]
async fn by_default_a_socket_holds_300_channels_and_no_more() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    for i in 0..300 {
        c.send(json!({"event":"pusher:subscribe","data":{"channel":format!("page-{i}")}}))
            .await;
    }
    for _ in 0..300 {
        let ok = c.next().await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    }
    let err = c.subscribe("page-300").await;
    assert_eq!(err["event"], "pusher:subscription_error");
    assert_eq!(err["data"]["type"], "LimitReached");
    assert_eq!(err["data"]["status"], 4100);
}

#[tokio::test]
async fn max_channels_per_connection_refuses_more_and_frees_on_leave() {
    let server = Server::start("max_channels_per_connection = 3", "").await;
    let mut c = server.client().await;
    for i in 0..3 {
        let ok = c.subscribe(&format!("room-{i}")).await;
        assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    }
    let err = c.subscribe("room-3").await;
    assert_eq!(err["event"], "pusher:subscription_error");
    assert_eq!(err["data"]["type"], "LimitReached");
    assert_eq!(err["data"]["status"], 4100);
    // Subscribing again to a channel it is in is not a new subscription.
    let again = c.subscribe("room-0").await;
    assert_eq!(again["event"], "pusher_internal:subscription_succeeded");
    c.send(json!({"event":"pusher:unsubscribe","data":{"channel":"room-0"}}))
        .await;
    let ok = c.subscribe("room-3").await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    // Another socket has its own allowance.
    let mut d = server.client().await;
    assert_eq!(
        d.subscribe("room-9").await["event"],
        "pusher_internal:subscription_succeeded"
    );
}

#[tokio::test]
async fn a_socket_in_thousands_of_channels_gets_each_event_and_leaves_all() {
    // Over the default cap of 300 channels a socket: raised for this test.
    let server = Server::start("max_channels_per_connection = 2000", "").await;
    let mut c = server.client().await;
    let n = 2_000;
    for i in 0..n {
        c.send(json!({"event":"pusher:subscribe","data":{"channel":format!("many-{i}")}}))
            .await;
    }
    for _ in 0..n {
        assert_eq!(
            c.next().await["event"],
            "pusher_internal:subscription_succeeded"
        );
    }
    let mut crowd = Vec::new();
    for _ in 0..20 {
        let mut o = server.client().await;
        o.subscribe("many-1999").await;
        crowd.push(o);
    }
    assert_eq!(server.publish("many-1999", "e", "{}").await.0, 200);
    assert_eq!(c.expect("e").await["channel"], "many-1999");
    for o in crowd.iter_mut() {
        assert_eq!(o.expect("e").await["channel"], "many-1999");
    }
    for i in (0..n).step_by(2) {
        let msg = json!({"event":"pusher:unsubscribe","data":{"channel":format!("many-{i}")}});
        c.send(msg).await;
    }
    // A ping's answer comes after every unsubscribe was handled.
    c.send(json!({"event":"pusher:ping","data":{}})).await;
    assert_eq!(c.next().await["event"], "pusher:pong");
    assert_eq!(server.publish("many-1998", "gone", "{}").await.0, 200);
    assert_eq!(server.publish("many-1997", "kept", "{}").await.0, 200);
    assert_eq!(c.next().await["event"], "kept");
    drop(c);
    drop(crowd);
    let occupied = || async {
        let (_, body) = server.api("GET", "/apps/app-id/channels", &[], "").await;
        body["channels"].as_object().map_or(0, |m| m.len())
    };
    for _ in 0..50 {
        if occupied().await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("channels still occupied after every socket left");
}
