//! Presence: members per user, events on first and last socket, limits.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn members_are_deduplicated_by_user_and_events_fire_on_first_and_last_socket() {
    let server = Server::start("", "").await;
    let mut alice = server.client().await;
    let ok = alice
        .subscribe_presence(
            "presence-room",
            r#"{"user_id":"1","user_info":{"name":"Alice"}}"#,
        )
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    assert_eq!(
        data(&ok),
        json!({"presence":{"ids":["1"],"hash":{"1":{"name":"Alice"}},"count":1}})
    );

    let mut bob1 = server.client().await;
    let ok = bob1
        .subscribe_presence(
            "presence-room",
            r#"{"user_id":2,"user_info":{"name":"Bob"}}"#,
        )
        .await;
    let d = data(&ok);
    assert_eq!(d["presence"]["count"], 2);
    assert_eq!(d["presence"]["hash"]["2"], json!({"name":"Bob"}));
    let added = alice.next().await;
    assert_eq!(added["event"], "pusher_internal:member_added");
    assert_eq!(
        data(&added),
        json!({"user_id":2,"user_info":{"name":"Bob"}})
    );

    // Bob's second tab: no member_added, count stays 2.
    let mut bob2 = server.client().await;
    let ok = bob2
        .subscribe_presence(
            "presence-room",
            r#"{"user_id":2,"user_info":{"name":"Bob"}}"#,
        )
        .await;
    assert_eq!(data(&ok)["presence"]["count"], 2);
    alice.silent(200).await;

    let (_, users) = server
        .api(
            "GET",
            &format!("/apps/{APP_ID}/channels/presence-room/users"),
            &[],
            "",
        )
        .await;
    assert_eq!(users["users"].as_array().unwrap().len(), 2);
    let (_, info) = server
        .api(
            "GET",
            &format!("/apps/{APP_ID}/channels/presence-room"),
            &[("info", "user_count,subscription_count")],
            "",
        )
        .await;
    assert_eq!(
        info,
        json!({"occupied":true,"user_count":2,"subscription_count":3})
    );

    drop(bob1);
    alice.silent(300).await;
    drop(bob2);
    let removed = alice.next().await;
    assert_eq!(removed["event"], "pusher_internal:member_removed");
    assert_eq!(data(&removed), json!({"user_id":2}));
}

#[tokio::test]
async fn unsubscribe_removes_the_member() {
    let server = Server::start("", "").await;
    let mut a = server.client().await;
    a.subscribe_presence("presence-x", r#"{"user_id":"a"}"#)
        .await;
    let mut b = server.client().await;
    b.subscribe_presence("presence-x", r#"{"user_id":"b"}"#)
        .await;
    a.expect("pusher_internal:member_added").await;
    b.send(json!({"event":"pusher:unsubscribe","data":{"channel":"presence-x"}}))
        .await;
    assert_eq!(data(&a.next().await), json!({"user_id":"b"}));
}

#[tokio::test]
async fn presence_needs_valid_signed_channel_data() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    // Signed for one user, claims another.
    let auth = channel_auth(&c.socket_id, "presence-x", Some(r#"{"user_id":"1"}"#));
    let forged = json!({"event":"pusher:subscribe","data":{"auth":auth,"channel":"presence-x","channel_data":"{\"user_id\":\"2\"}"}});
    c.send(forged).await;
    let err = c.next().await;
    assert_eq!(
        (err["data"]["type"].as_str(), err["data"]["status"].as_u64()),
        (Some("AuthError"), Some(401))
    );
    // Correctly signed but no user_id.
    let err = c
        .subscribe_presence("presence-x", r#"{"user_info":{}}"#)
        .await;
    assert_eq!(err["event"], "pusher:subscription_error");
    let ok = c
        .subscribe_presence("presence-x", r#"{"user_id":"1"}"#)
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
}

#[tokio::test]
async fn member_limit_and_member_size_are_enforced() {
    let server = Server::start(
        "max_presence_members = 1\nmax_presence_member_size_kb = 1",
        "",
    )
    .await;
    let mut a = server.client().await;
    a.subscribe_presence("presence-full", r#"{"user_id":"1"}"#)
        .await;
    let mut b = server.client().await;
    let err = b
        .subscribe_presence("presence-full", r#"{"user_id":"2"}"#)
        .await;
    assert_eq!(err["data"]["type"], "LimitReached");
    assert_eq!(err["data"]["status"], 4100);
    // The same user in a second tab is not a new member.
    let ok = b
        .subscribe_presence("presence-full", r#"{"user_id":"1"}"#)
        .await;
    assert_eq!(ok["event"], "pusher_internal:subscription_succeeded");
    let big = format!(
        r#"{{"user_id":"3","user_info":{{"bio":"{}"}}}}"#,
        "x".repeat(1100)
    );
    let mut c = server.client().await;
    let err = c.subscribe_presence("presence-other", &big).await;
    assert_eq!(
        (err["data"]["type"].as_str(), err["data"]["status"].as_u64()),
        (Some("LimitReached"), Some(4301))
    );
    assert_eq!(
        c.subscribe("public").await["event"],
        "pusher_internal:subscription_succeeded"
    );
}
