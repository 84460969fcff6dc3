//! Client frames (`ClientMessage::parse`) and what the connection does next with
//! a stranger's fields: channel names, presence `channel_data`, auth tokens, and
//! the server frames built from them.
//!
//! Checked: no panic; every server frame built from parsed input is valid JSON
//! (relayed `data` stays byte for byte); a correct subscription token is
//! accepted and a tampered one refused.
#![no_main]

use herald::auth;
use herald::channel::registry::presence_data;
use herald::channel::{validate_name, ChannelType, Member};
use herald::protocol::{self, ClientMessage};
use libfuzzer_sys::fuzz_target;
use serde_json::value::RawValue;

const KEY: &str = "app-key";
const SECRET: &str = "app-secret";
const SOCKET: &str = "123.456";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(message) = ClientMessage::parse(text) else {
        return;
    };
    match message {
        ClientMessage::Subscribe {
            channel,
            auth,
            channel_data,
        } => subscribe(&channel, auth.as_deref(), channel_data.as_deref()),
        ClientMessage::Unsubscribe { channel } => {
            let _ = validate_name(&channel, 200);
        }
        ClientMessage::Signin { auth, user_data } => {
            let msg = auth::user_string(SOCKET, &user_data);
            let _ = auth::verify_token(KEY, SECRET, &auth, &msg);
            json(&protocol::signin_success(&user_data));
        }
        ClientMessage::ClientEvent {
            event,
            channel,
            data,
        } => {
            let frame = protocol::event(&event, &channel, data.as_deref(), Some("\"u1\""));
            json(&frame);
            let relayed: Relayed = serde_json::from_str(&frame).unwrap();
            assert_eq!(
                relayed.data.map(RawValue::get),
                data.as_deref(),
                "data not relayed verbatim"
            );
        }
        ClientMessage::Ping | ClientMessage::Pong | ClientMessage::Ignored(_) => {}
    }
});

fn subscribe(channel: &str, token: Option<&str>, channel_data: Option<&str>) {
    let _ = validate_name(channel, 200);
    let _ = ChannelType::of(channel).needs_auth();
    let msg = auth::channel_string(SOCKET, channel, channel_data);
    if let Some(token) = token {
        let _ = auth::verify_token(KEY, SECRET, token, &msg);
    }
    let good = format!("{KEY}:{}", auth::sign(SECRET, &msg));
    assert!(auth::verify_token(KEY, SECRET, &good, &msg));
    let mut bad = good.into_bytes();
    let last = bad.len() - 1;
    bad[last] = if bad[last] == b'0' { b'1' } else { b'0' };
    assert!(!auth::verify_token(
        KEY,
        SECRET,
        std::str::from_utf8(&bad).unwrap(),
        &msg
    ));
    json(&protocol::subscription_error(
        channel,
        "AuthError",
        "no",
        401,
    ));
    json(&protocol::error(4009, "x", Some(channel)));
    if let Some(Ok(member)) = channel_data.map(|d| Member::parse(d, 2.0)) {
        let added = protocol::member_added(channel, &member.id_json, member.info_json.as_deref());
        json(&added);
        let inner: Inner = serde_json::from_str(&added).unwrap();
        json(&inner.data);
        json(&protocol::member_removed(channel, &member.id_json));
        let data = presence_data(std::iter::once(&member));
        json(&protocol::subscription_succeeded(channel, &data));
        json(&data);
    }
}

#[derive(serde::Deserialize)]
struct Relayed<'a> {
    #[serde(borrow)]
    data: Option<&'a RawValue>,
}

#[derive(serde::Deserialize)]
struct Inner {
    data: String,
}

/// A frame the server would send must be valid JSON (checked as strictly as
/// herald checks what it relays: syntax, not number range).
fn json(frame: &str) {
    if let Err(e) = serde_json::from_str::<serde::de::IgnoredAny>(frame) {
        panic!("server frame is not JSON ({e}): {frame}");
    }
}
