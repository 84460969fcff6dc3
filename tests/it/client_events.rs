//! Client events (whispers): who may send, who receives, limits.

use crate::support::*;
use serde_json::json;

fn whisper(channel: &str, event: &str) -> serde_json::Value {
    json!({"event":event,"channel":channel,"data":{"typing":true,"name":"Zoë \\/"}})
}

#[tokio::test]
async fn relayed_to_others_never_to_the_sender_with_data_unchanged() {
    let server = Server::start("", "enable_client_messages = true").await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_private("private-chat").await;
    b.subscribe_private("private-chat").await;
    a.send(whisper("private-chat", "client-typing")).await;
    let got = b.next().await;
    assert_eq!(
        got,
        json!({"event":"client-typing","channel":"private-chat","data":{"typing":true,"name":"Zoë \\/"}})
    );
    assert!(got.get("user_id").is_none());
    a.silent(200).await;
}

#[tokio::test]
async fn presence_client_events_carry_the_sender_user_id() {
    let server = Server::start("", "enable_client_messages = true").await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_presence("presence-chat", r#"{"user_id":7}"#)
        .await;
    b.subscribe_presence("presence-chat", r#"{"user_id":8}"#)
        .await;
    a.expect("pusher_internal:member_added").await;
    a.send(whisper("presence-chat", "client-typing")).await;
    assert_eq!(b.next().await["user_id"], "7");
}

#[tokio::test]
async fn refusals_are_4301_and_keep_the_socket() {
    let server = Server::start(
        "max_client_events_per_sec = 2",
        "enable_client_messages = true",
    )
    .await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe("public-room").await;
    a.subscribe_private("private-encrypted-x").await;
    b.subscribe("public-room").await;
    for (channel, reason) in [
        ("public-room", "private and presence"),
        ("private-encrypted-x", "encrypted"),
        ("private-not-joined", "not subscribed"),
    ] {
        a.send(whisper(channel, "client-x")).await;
        let err = a.next().await;
        assert_eq!(err["event"], "pusher:error");
        assert_eq!(err["channel"], channel);
        assert_eq!(err["data"]["code"], 4301);
        assert!(
            err["data"]["message"].as_str().unwrap().contains(reason),
            "{err}"
        );
    }
    b.silent(100).await;
    a.subscribe_private("private-rate").await;
    b.subscribe_private("private-rate").await;
    for _ in 0..2 {
        a.send(whisper("private-rate", "client-x")).await;
    }
    a.send(whisper("private-rate", "client-x")).await;
    let err = a.next().await;
    assert!(
        err["data"]["message"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{err}"
    );
    assert_eq!(b.next().await["event"], "client-x");
    assert_eq!(b.next().await["event"], "client-x");
    b.silent(100).await;
    tokio::time::sleep(std::time::Duration::from_millis(1000)).await;
    a.send(whisper("private-rate", "client-x")).await;
    assert_eq!(b.next().await["event"], "client-x");
}

#[tokio::test]
async fn disabled_by_default() {
    let server = Server::start("", "").await;
    let mut a = server.client().await;
    a.subscribe_private("private-chat").await;
    a.send(whisper("private-chat", "client-typing")).await;
    let err = a.next().await;
    assert_eq!(
        err["data"],
        json!({"code":4301,"message":"The app does not have client messaging enabled."})
    );
}
