//! The Pusher wire format (protocol 7): client frames parsed into
//! [`ClientMessage`], server frames built as JSON text, and the close codes.
//! Pure: no I/O.
//!
//! Event `data` is carried as raw JSON text and never re-encoded, so encrypted
//! payloads and PHP's escaping (`\/`, `\uXXXX`) reach clients byte for byte.

use serde::Deserialize;
use serde_json::value::RawValue;
use std::borrow::Cow;

/// Close codes and `pusher:error` codes, with the reconnect behaviour pusher-js gives them.
pub(crate) mod code {
    /// Application does not exist (client stops reconnecting).
    pub(crate) const APP_NOT_FOUND: u16 = 4001;
    /// Application disabled.
    pub(crate) const APP_DISABLED: u16 = 4003;
    /// Application over its connection quota.
    pub(crate) const OVER_QUOTA: u16 = 4004;
    /// Origin or connection not authorized.
    pub(crate) const UNAUTHORIZED: u16 = 4009;
    /// Over capacity: the client backs off and reconnects.
    pub(crate) const OVER_CAPACITY: u16 = 4100;
    /// Generic "reconnect now" (shutdown, invalid frames).
    pub(crate) const RECONNECT: u16 = 4200;
    /// Pong reply not received in time.
    pub(crate) const PONG_TIMEOUT: u16 = 4201;
    /// Client event rejected.
    pub(crate) const CLIENT_EVENT_REJECTED: u16 = 4301;
    /// A watchlist longer than the limit: only its first ids are used.
    pub(crate) const WATCHLIST_LIMIT: u16 = 4302;
    /// WebSocket policy violation (RFC 6455): a frame not completed in time.
    /// pusher-js reconnects as after any other close below 4000.
    pub(crate) const POLICY: u16 = 1008;
}

/// A frame from a client, parsed at the edge.
#[derive(Debug, Clone, PartialEq)]
pub enum ClientMessage {
    Ping,
    Pong,
    Subscribe {
        channel: String,
        auth: Option<String>,
        channel_data: Option<String>,
    },
    Unsubscribe {
        channel: String,
    },
    Signin {
        auth: String,
        user_data: String,
    },
    ClientEvent {
        event: String,
        channel: String,
        data: Option<String>,
    },
    /// Any other `pusher:` event: ignored, like Soketi does.
    Ignored(String),
}

/// Why a client frame could not be understood.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    #[error("Invalid message format")]
    Json,
    #[error("Invalid message format: {0}")]
    Field(&'static str),
}

// Borrowed where the text allows it: a frame costs few allocations.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow)]
    event: Cow<'a, str>,
    #[serde(default, borrow)]
    channel: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct SubscribeData<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
    #[serde(default, borrow)]
    auth: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    channel_data: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct UnsubscribeData<'a> {
    #[serde(borrow)]
    channel: Cow<'a, str>,
}

#[derive(Deserialize)]
struct SigninData<'a> {
    #[serde(borrow)]
    auth: Cow<'a, str>,
    #[serde(borrow)]
    user_data: &'a RawValue,
}

impl ClientMessage {
    pub fn parse(text: &str) -> Result<ClientMessage, ParseError> {
        let env: Envelope = serde_json::from_str(text).map_err(|_| ParseError::Json)?;
        match env.event.as_ref() {
            "pusher:ping" => Ok(ClientMessage::Ping),
            "pusher:pong" => Ok(ClientMessage::Pong),
            "pusher:subscribe" => {
                let what = "data.channel";
                let text = data_text(env.data, what)?;
                let d: SubscribeData = parse_data(&text, what)?;
                Ok(ClientMessage::Subscribe {
                    channel: d.channel.into_owned(),
                    auth: d.auth.map(Cow::into_owned),
                    channel_data: d.channel_data.map(string_or_raw),
                })
            }
            "pusher:unsubscribe" => {
                let what = "data.channel";
                let text = data_text(env.data, what)?;
                let d: UnsubscribeData = parse_data(&text, what)?;
                Ok(ClientMessage::Unsubscribe {
                    channel: d.channel.into_owned(),
                })
            }
            "pusher:signin" => {
                let what = "data.auth and data.user_data";
                let text = data_text(env.data, what)?;
                let d: SigninData = parse_data(&text, what)?;
                Ok(ClientMessage::Signin {
                    auth: d.auth.into_owned(),
                    user_data: string_or_raw(d.user_data),
                })
            }
            e if e.starts_with("client-") => {
                let channel = env.channel.ok_or(ParseError::Field("channel"))?;
                Ok(ClientMessage::ClientEvent {
                    event: e.to_string(),
                    channel: channel.into_owned(),
                    data: env.data.map(|d| d.get().to_string()),
                })
            }
            _ => Ok(ClientMessage::Ignored(env.event.into_owned())),
        }
    }
}

/// The text of `data`, which clients send as an object or as a JSON-encoded
/// string (decoded then; borrowed otherwise).
fn data_text<'a>(
    raw: Option<&'a RawValue>,
    what: &'static str,
) -> Result<Cow<'a, str>, ParseError> {
    let raw = raw.ok_or(ParseError::Field(what))?;
    if raw.get().starts_with('"') {
        let text: String = serde_json::from_str(raw.get()).map_err(|_| ParseError::Field(what))?;
        Ok(Cow::Owned(text))
    } else {
        Ok(Cow::Borrowed(raw.get()))
    }
}

fn parse_data<'a, T: Deserialize<'a>>(text: &'a str, what: &'static str) -> Result<T, ParseError> {
    serde_json::from_str(text).map_err(|_| ParseError::Field(what))
}

/// A JSON string token's contents, or the raw text of any other value.
fn string_or_raw(raw: &RawValue) -> String {
    let text = raw.get();
    if text.starts_with('"') {
        if let Ok(s) = serde_json::from_str::<String>(text) {
            return s;
        }
    }
    text.to_string()
}

/// JSON-encode a string (quotes included).
pub(crate) fn quote(s: &str) -> String {
    serde_json::to_string(s).expect("strings always encode")
}

/// `{"event":"pusher:connection_established","data":"{\"socket_id\":...}"}`
pub(crate) fn connection_established(socket_id: &str, activity_timeout: u64) -> String {
    let inner = format!(
        "{{\"socket_id\":{},\"activity_timeout\":{activity_timeout}}}",
        quote(socket_id)
    );
    format!(
        "{{\"event\":\"pusher:connection_established\",\"data\":{}}}",
        quote(&inner)
    )
}

/// `pusher:error` with an object `data`, optionally routed to a channel.
pub fn error(code: u16, message: &str, channel: Option<&str>) -> String {
    let channel = channel
        .map(|c| format!(",\"channel\":{}", quote(c)))
        .unwrap_or_default();
    format!(
        "{{\"event\":\"pusher:error\",\"data\":{{\"code\":{code},\"message\":{}}}{channel}}}",
        quote(message)
    )
}

/// `pusher:recovery_failed` on a channel: its missed events cannot all be
/// replayed (`reason`: `gap_too_long`, `history_trimmed`, `history_unavailable`,
/// `ambiguous`, `node_lost`).
pub(crate) fn recovery_failed(channel: &str, reason: &str) -> String {
    format!(
        "{{\"event\":\"pusher:recovery_failed\",\"channel\":{},\"data\":{{\"reason\":{}}}}}",
        quote(channel),
        quote(reason)
    )
}

pub(crate) fn ping() -> &'static str {
    "{\"event\":\"pusher:ping\",\"data\":{}}"
}

pub(crate) fn pong() -> &'static str {
    "{\"event\":\"pusher:pong\",\"data\":{}}"
}

/// `pusher_internal:subscription_succeeded`; `data` is the already-encoded inner JSON.
pub fn subscription_succeeded(channel: &str, data: &str) -> String {
    let mut out = Vec::with_capacity(72 + channel.len() + data.len() * 5 / 4);
    out.extend_from_slice(b"{\"event\":\"pusher_internal:subscription_succeeded\",\"channel\":");
    push_quoted(&mut out, channel);
    out.extend_from_slice(b",\"data\":");
    push_quoted(&mut out, data);
    out.push(b'}');
    String::from_utf8(out).expect("built from UTF-8 pieces")
}

/// `pusher:subscription_error` with `{type, error, status}`.
pub fn subscription_error(channel: &str, kind: &str, message: &str, status: u16) -> String {
    format!(
        "{{\"event\":\"pusher:subscription_error\",\"channel\":{},\"data\":{{\"type\":{},\"error\":{},\"status\":{status}}}}}",
        quote(channel),
        quote(kind),
        quote(message)
    )
}

/// `member_added`: `user_id` and `user_info` are raw JSON, echoed as sent.
pub fn member_added(channel: &str, user_id: &str, user_info: Option<&str>) -> String {
    let info = user_info
        .map(|i| format!(",\"user_info\":{i}"))
        .unwrap_or_default();
    let inner = format!("{{\"user_id\":{user_id}{info}}}");
    format!(
        "{{\"event\":\"pusher_internal:member_added\",\"channel\":{},\"data\":{}}}",
        quote(channel),
        quote(&inner)
    )
}

pub fn member_removed(channel: &str, user_id: &str) -> String {
    let inner = format!("{{\"user_id\":{user_id}}}");
    format!(
        "{{\"event\":\"pusher_internal:member_removed\",\"channel\":{},\"data\":{}}}",
        quote(channel),
        quote(&inner)
    )
}

/// A channel event. `data` is raw JSON (normally a string token) relayed verbatim;
/// `user_id` (already a JSON string token) is added to presence client events.
pub fn event(event: &str, channel: &str, data: Option<&str>, user_id: Option<&str>) -> String {
    let extra = data.map_or(0, str::len) + user_id.map_or(0, str::len);
    let mut out = Vec::with_capacity(48 + event.len() + channel.len() + extra);
    out.extend_from_slice(b"{\"event\":");
    push_quoted(&mut out, event);
    out.extend_from_slice(b",\"channel\":");
    push_quoted(&mut out, channel);
    if let Some(d) = data {
        out.extend_from_slice(b",\"data\":");
        out.extend_from_slice(d.as_bytes());
    }
    if let Some(u) = user_id {
        out.extend_from_slice(b",\"user_id\":");
        out.extend_from_slice(u.as_bytes());
    }
    out.push(b'}');
    String::from_utf8(out).expect("built from UTF-8 pieces")
}

/// Append `s` JSON-encoded (quotes included).
fn push_quoted(out: &mut Vec<u8>, s: &str) {
    serde_json::to_writer(out, s).expect("strings always encode");
}

/// `pusher_internal:subscription_count`: string data `{"subscription_count":n}`,
/// which pusher-js re-emits on the channel as `pusher:subscription_count`.
pub(crate) fn subscription_count(channel: &str, count: usize) -> String {
    let inner = format!("{{\"subscription_count\":{count}}}");
    format!(
        "{{\"event\":\"pusher_internal:subscription_count\",\"channel\":{},\"data\":{}}}",
        quote(channel),
        quote(&inner)
    )
}

/// `pusher_internal:watchlist_events` (no channel; object data): one entry per
/// `(name, user_ids)`, which pusher-js emits on `user.watchlist` by name.
pub(crate) fn watchlist_events(events: &[(&str, &[String])]) -> String {
    let entries: Vec<String> = events
        .iter()
        .map(|(name, ids)| {
            let ids: Vec<String> = ids.iter().map(|id| quote(id)).collect();
            format!(
                "{{\"name\":{},\"user_ids\":[{}]}}",
                quote(name),
                ids.join(",")
            )
        })
        .collect();
    format!(
        "{{\"event\":\"pusher_internal:watchlist_events\",\"data\":{{\"events\":[{}]}}}}",
        entries.join(",")
    )
}

pub(crate) fn cache_miss(channel: &str) -> String {
    format!(
        "{{\"event\":\"pusher:cache_miss\",\"channel\":{}}}",
        quote(channel)
    )
}

pub fn signin_success(user_data: &str) -> String {
    format!(
        "{{\"event\":\"pusher:signin_success\",\"data\":{{\"user_data\":{}}}}}",
        quote(user_data)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_pusher_js_sends() {
        let m = ClientMessage::parse(
            r#"{"event":"pusher:subscribe","data":{"auth":"","channel":"my-channel"}}"#,
        );
        assert_eq!(
            m.unwrap(),
            ClientMessage::Subscribe {
                channel: "my-channel".into(),
                auth: Some("".into()),
                channel_data: None
            }
        );
        let m = ClientMessage::parse(
            r#"{"event":"pusher:subscribe","data":{"auth":"k:s","channel_data":"{\"user_id\":10}","channel":"presence-x"}}"#,
        );
        assert_eq!(
            m.unwrap(),
            ClientMessage::Subscribe {
                channel: "presence-x".into(),
                auth: Some("k:s".into()),
                channel_data: Some("{\"user_id\":10}".into())
            }
        );
        assert_eq!(
            ClientMessage::parse(r#"{"event":"pusher:ping","data":{}}"#).unwrap(),
            ClientMessage::Ping
        );
        let m = ClientMessage::parse(
            r#"{"event":"client-typing","data":{"name":"x"},"channel":"private-chat"}"#,
        );
        match m.unwrap() {
            ClientMessage::ClientEvent {
                event,
                channel,
                data,
            } => {
                assert_eq!(
                    (event.as_str(), channel.as_str()),
                    ("client-typing", "private-chat")
                );
                assert_eq!(data.unwrap(), r#"{"name":"x"}"#);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn data_may_be_a_json_string() {
        let m =
            ClientMessage::parse(r#"{"event":"pusher:unsubscribe","data":"{\"channel\":\"a\"}"}"#);
        assert_eq!(
            m.unwrap(),
            ClientMessage::Unsubscribe {
                channel: "a".into()
            }
        );
    }

    #[test]
    fn malformed_frames_are_errors_not_panics() {
        for bad in [
            "",
            "nope",
            "[]",
            r#"{"event":1}"#,
            r#"{"event":"pusher:subscribe"}"#,
            r#"{"event":"pusher:subscribe","data":{"channel":5}}"#,
            r#"{"event":"pusher:unsubscribe","data":null}"#,
            r#"{"event":"client-x","data":{}}"#,
            r#"{"event":"pusher:signin","data":{"auth":"a"}}"#,
        ] {
            assert!(ClientMessage::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            ClientMessage::parse(r#"{"event":"pusher:whatever"}"#).unwrap(),
            ClientMessage::Ignored("pusher:whatever".into())
        );
    }

    #[test]
    fn server_frames_match_the_documented_shapes() {
        assert_eq!(
            connection_established("123.456", 30),
            r#"{"event":"pusher:connection_established","data":"{\"socket_id\":\"123.456\",\"activity_timeout\":30}"}"#
        );
        assert_eq!(
            event("App\\Events\\X", "c", Some(r#""{\"a\":\"\\/\"}""#), None),
            r#"{"event":"App\\Events\\X","channel":"c","data":"{\"a\":\"\\/\"}"}"#
        );
        assert_eq!(
            member_added("presence-a", "\"1\"", Some(r#"{"n":1}"#)),
            r#"{"event":"pusher_internal:member_added","channel":"presence-a","data":"{\"user_id\":\"1\",\"user_info\":{\"n\":1}}"}"#
        );
        assert_eq!(
            subscription_count("my-channel", 2),
            r#"{"event":"pusher_internal:subscription_count","channel":"my-channel","data":"{\"subscription_count\":2}"}"#
        );
        assert_eq!(
            watchlist_events(&[("online", &["2".into(), "3".into()])]),
            r#"{"event":"pusher_internal:watchlist_events","data":{"events":[{"name":"online","user_ids":["2","3"]}]}}"#
        );
        let v: serde_json::Value =
            serde_json::from_str(&subscription_error("c", "AuthError", "no", 401)).unwrap();
        assert_eq!(v["data"]["status"], 401);
        let v: serde_json::Value = serde_json::from_str(&error(4301, "m", Some("c"))).unwrap();
        assert_eq!(
            (v["data"]["code"].as_u64(), v["channel"].as_str()),
            (Some(4301), Some("c"))
        );
    }
}
