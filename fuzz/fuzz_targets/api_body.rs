//! HTTP API bodies of `POST /apps/{id}/events` and `/batch_events`, through
//! `herald::api::handle` on a real node (local adapter), correctly signed by the
//! target so every input reaches body validation. The app has small limits so
//! the fuzzer reaches each of them.
//!
//! Input: `[flags, body ..]`; flags bit 0: batch, bit 1: send `body_md5`, bit 2:
//! ask for `info=subscription_count,user_count`.
//! Checked: no panic; a correctly signed request is never refused as unsigned
//! (401) or unknown (404); refusals are 400 or 413; an accepted body respects
//! every limit of the app.
#![no_main]

use herald::api::{handle, Request};
use herald::auth::{self, SignedRequest};
use herald::config::{Limits, RawConfig};
use herald::node::Node;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::{Arc, OnceLock};

const CONFIG: &str = r#"
[[apps]]
id = "app-id"
key = "app-key"
secret = "app-secret"
max_event_payload_kb = 0.5
max_event_name_length = 24
max_event_channels_at_once = 4
max_event_batch_size = 3
max_channel_name_length = 32
"#;

struct World {
    runtime: tokio::runtime::Runtime,
    node: Arc<Node>,
}

fn world() -> &'static World {
    static WORLD: OnceLock<World> = OnceLock::new();
    WORLD.get_or_init(|| {
        let config = RawConfig::parse_toml("fuzz.toml", CONFIG)
            .unwrap()
            .build()
            .unwrap();
        World {
            runtime: tokio::runtime::Builder::new_current_thread()
                .build()
                .unwrap(),
            node: Node::new(config).unwrap(),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let [flags, body @ ..] = data else { return };
    let batch = flags & 1 != 0;
    let path = if batch {
        "/apps/app-id/batch_events"
    } else {
        "/apps/app-id/events"
    };
    let query = signed_query(path, body, flags & 2 != 0, flags & 4 != 0);
    let world = world();
    let req = Request {
        method: "POST",
        path,
        query: &query,
        body,
    };
    let answer = world.runtime.block_on(handle(&world.node, &req));
    let limits = world.node.app_by_id("app-id").unwrap().app().limits.clone();
    match answer {
        Ok(_) => accepted(body, batch, &limits),
        Err(e) => assert!(
            matches!(e.status, 400 | 413),
            "a signed publish was refused with {} {:?}",
            e.status,
            e.message
        ),
    }
});

/// A query string signed the way the Pusher SDKs sign it.
fn signed_query(path: &str, body: &[u8], md5: bool, info: bool) -> String {
    let mut query: Vec<(String, String)> = vec![
        ("auth_key".into(), "app-key".into()),
        ("auth_timestamp".into(), Node::now_secs().to_string()),
        ("auth_version".into(), "1.0".into()),
    ];
    if md5 {
        query.push(("body_md5".into(), auth::md5_hex(body)));
    }
    if info {
        query.push(("info".into(), "subscription_count,user_count".into()));
    }
    let to_sign = SignedRequest {
        method: "POST",
        path,
        query: &query,
        body,
    }
    .string_to_sign();
    query.push(("auth_signature".into(), auth::sign("app-secret", &to_sign)));
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{k}={}", v.replace(',', "%2C")))
        .collect();
    pairs.join("&")
}

/// What herald accepted must be within the app's limits.
fn accepted(body: &[u8], batch: bool, limits: &Limits) {
    let syntax = serde_json::from_slice::<serde::de::IgnoredAny>(body);
    assert!(syntax.is_ok(), "accepted a body that is not JSON");
    // Numbers out of f64 range are valid JSON that `Value` cannot hold: nothing more to check.
    let Ok(v) = serde_json::from_slice::<Value>(body) else {
        return;
    };
    if batch {
        let v = as_object(&v, &["batch"]);
        let events = v["batch"].as_array().expect("batch is an array");
        assert!(
            events.len() <= limits.max_event_batch_size,
            "batch of {}",
            events.len()
        );
        events.iter().for_each(|e| event_within(e, limits));
    } else {
        event_within(&v, limits);
    }
}

/// serde reads a struct from an object or, positionally, from an array (so herald
/// accepts `["name", "data", "channel"]`, validated all the same): as an object.
fn as_object(v: &Value, fields: &[&str]) -> Value {
    match v.as_array() {
        Some(items) => fields
            .iter()
            .zip(items)
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        None => v.clone(),
    }
}

fn event_within(e: &Value, limits: &Limits) {
    let fields = ["name", "data", "channel", "channels", "socket_id", "info"];
    let e = &as_object(e, &fields);
    let name = e["name"].as_str().expect("name is a string");
    assert!(
        !name.is_empty() && name.len() <= limits.max_event_name_length,
        "name {name:?}"
    );
    let channels: Vec<&str> = match e["channels"].as_array() {
        Some(list) if !list.is_empty() => list.iter().map(|c| c.as_str().unwrap()).collect(),
        _ => vec![e["channel"].as_str().expect("a channel")],
    };
    assert!(
        channels.len() <= limits.max_event_channels_at_once,
        "{} channels",
        channels.len()
    );
    for c in channels {
        assert!(
            herald::channel::validate_name(c, limits.max_channel_name_length).is_ok(),
            "{c:?}"
        );
    }
    match &e["data"] {
        Value::Null => panic!("accepted without data"),
        Value::String(s) => {
            let max = limits.max_event_payload_kb * 1024.0;
            assert!(s.len() as f64 <= max, "data of {} bytes", s.len());
        }
        _ => {}
    }
}
