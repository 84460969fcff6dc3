//! User sign-in, server-to-user events and terminating a user's connections.

use crate::support::*;
use serde_json::json;

#[tokio::test]
async fn sign_in_then_events_reach_every_socket_of_the_user() {
    let server = Server::start("", "").await;
    let mut tab1 = server.client().await;
    let mut tab2 = server.client().await;
    let mut other = server.client().await;
    let ok = tab1
        .sign_in(r#"{"id":"42","user_info":{"name":"Ann"}}"#)
        .await;
    assert_eq!(
        ok,
        json!({"event":"pusher:signin_success","data":{"user_data":"{\"id\":\"42\",\"user_info\":{\"name\":\"Ann\"}}"}})
    );
    tab2.sign_in(r#"{"id":"42"}"#).await;
    other.sign_in(r#"{"id":"43"}"#).await;
    assert_eq!(
        tab1.subscribe("#server-to-user-42").await["event"],
        "pusher_internal:subscription_succeeded"
    );
    let (status, _) = server
        .publish("#server-to-user-42", "reply", "\"only you\"")
        .await;
    assert_eq!(status, 200);
    assert_eq!(tab1.next().await["data"], "\"only you\"");
    assert_eq!(tab2.next().await["channel"], "#server-to-user-42");
    tab1.silent(100).await;
    other.silent(100).await;
}

#[tokio::test]
async fn server_to_user_channels_are_only_for_that_user() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    assert_eq!(
        c.subscribe("#server-to-user-1").await["event"],
        "pusher:subscription_error"
    );
    c.sign_in(r#"{"id":"2"}"#).await;
    assert_eq!(
        c.subscribe("#server-to-user-1").await["event"],
        "pusher:subscription_error"
    );
}

#[tokio::test]
async fn bad_sign_in_is_an_error_and_needs_an_id() {
    let server = Server::start("", "").await;
    let mut c = server.client().await;
    c.send(
        json!({"event":"pusher:signin","data":{"auth":"app-key:00","user_data":"{\"id\":\"1\"}"}}),
    )
    .await;
    assert_eq!(c.next().await["data"]["code"], 4009);
    let err = c.sign_in(r#"{"name":"no id"}"#).await;
    assert_eq!(err["event"], "pusher:error");
    assert_eq!(
        c.sign_in(r#"{"id":"1"}"#).await["event"],
        "pusher:signin_success"
    );
}

#[tokio::test]
async fn terminate_connections_closes_the_users_sockets_with_4009() {
    let server = Server::start("", "").await;
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.sign_in(r#"{"id":"9"}"#).await;
    b.sign_in(r#"{"id":"10"}"#).await;
    let (status, body) = server
        .api(
            "POST",
            &format!("/apps/{APP_ID}/users/9/terminate_connections"),
            &[],
            "{}",
        )
        .await;
    assert_eq!((status, body), (200, json!({})));
    let err = a.expect("pusher:error").await;
    assert_eq!(
        err["data"],
        json!({"code":4009,"message":"You got disconnected by the app."})
    );
    assert_eq!(a.closed().await, Some(4009));
    b.silent(200).await;
}
