//! Apps from a DynamoDB table with Soketi's item layout (`AppId`, `AppKey`,
//! `AppSecret`, `MaxConnections`, `EnableClientMessages`, `Enabled`,
//! `Webhooks` as JSON text), served by a real `moto_server`; herald started with
//! Soketi's and AWS's variables only.

use crate::db::{herald_with, wait_listening};
use crate::sqs::Moto;
use crate::support::*;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const TARGET: &str = "DynamoDB_20120810";

fn dynamo(moto: &Moto, action: &str, body: Value) -> Value {
    moto.call_as("dynamodb", &format!("{TARGET}.{action}"), body)
}

/// A dashed name, as AWS tables often have (DynamoDB allows `-`, SQL table names here do not).
const TABLE: &str = "herald-apps";

/// Soketi's table: `AppId` the hash key.
fn create_table(moto: &Moto) {
    let made = dynamo(
        moto,
        "CreateTable",
        json!({
            "TableName": TABLE,
            "KeySchema": [{"AttributeName": "AppId", "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": "AppId", "AttributeType": "S"}],
            "BillingMode": "PAY_PER_REQUEST",
        }),
    );
    assert!(made["TableDescription"].is_object(), "{made}");
}

/// Soketi's documented item: flags as binary text (`B`, base64 of "true" / "false").
fn put_app(moto: &Moto, id: &str, key: &str, secret: &str, enabled: bool) {
    let flag = |on: bool| if on { "dHJ1ZQ==" } else { "ZmFsc2U=" };
    let item = json!({
        "AppId": {"S": id}, "AppKey": {"S": key}, "AppSecret": {"S": secret},
        "MaxConnections": {"N": "-1"}, "EnableClientMessages": {"B": flag(true)},
        "Enabled": {"B": flag(enabled)}, "MaxBackendEventsPerSecond": {"N": "-1"},
        "Webhooks": {"S": "[]"},
    });
    dynamo(moto, "PutItem", json!({"TableName": TABLE, "Item": item}));
}

fn herald_on(moto: &Moto, port: u16) -> std::process::Child {
    let vars = [
        ("SOKETI_APP_MANAGER_DRIVER", "dynamodb".to_string()),
        ("SOKETI_APP_MANAGER_DYNAMODB_TABLE", TABLE.to_string()),
        (
            "SOKETI_APP_MANAGER_DYNAMODB_REGION",
            "us-east-1".to_string(),
        ),
        ("SOKETI_APP_MANAGER_DYNAMODB_ENDPOINT", moto.endpoint()),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "secret-test".to_string()),
    ];
    herald_with(port, &vars)
}

#[tokio::test]
async fn apps_come_from_soketis_dynamodb_table_and_follow_its_changes() {
    let moto = Moto::start().await;
    create_table(&moto);
    put_app(&moto, "123", KEY, SECRET, true);
    put_app(&moto, "off", "off-key", "x", false);
    let port = free_port();
    let mut child = herald_on(&moto, port);
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    wait_listening(addr).await;
    let server = Server::external(addr);
    // The item's app: its key connects, its secret signs, its flag allows whispers.
    let mut a = server.client().await;
    let mut b = server.client().await;
    a.subscribe_private("private-db").await;
    b.subscribe_private("private-db").await;
    a.send(json!({"event":"client-x","channel":"private-db","data":{}}))
        .await;
    assert_eq!(b.next().await["event"], "client-x");
    let body = r#"{"name":"from-db","channel":"private-db","data":"{}"}"#;
    assert_eq!(
        server.api("POST", "/apps/123/events", &[], body).await.0,
        200
    );
    assert_eq!(a.next().await["event"], "from-db");
    // A disabled item refuses; an unknown key is unknown.
    let mut off = server.raw_client("off-key").await;
    assert_eq!(off.closed().await, Some(4003));
    let mut nobody = server.raw_client("new-key").await;
    assert_eq!(nobody.closed().await, Some(4001));
    // An item added while serving is picked up within the refresh (1 s here).
    put_app(&moto, "new", "new-key", "s", true);
    assert!(
        becomes_an_app(&server, "new-key").await,
        "the new item never became an app"
    );
    // DynamoDB going away keeps the apps read before.
    drop(moto);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut c = server.client().await;
    c.subscribe("still-here").await;
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test]
async fn an_unreachable_dynamodb_stops_the_start_with_one_line() {
    let vars = [
        ("SOKETI_APP_MANAGER_DRIVER", "dynamodb".to_string()),
        (
            "SOKETI_APP_MANAGER_DYNAMODB_ENDPOINT",
            format!("http://127.0.0.1:{}", free_port()),
        ),
        ("AWS_ACCESS_KEY_ID", "AKIDTEST".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "secret-test".to_string()),
    ];
    let out = herald_with(free_port(), &vars).wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        text.starts_with("herald: cannot read apps from DynamoDB http://127.0.0.1:"),
        "{text}"
    );
    assert!(text.contains("(region us-east-1) (table apps)"), "{text}");
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
}
