//! `POST /events` and `POST /batch_events`: validate everything first, then encode
//! each channel's frame once and hand it to the adapter.

use super::{wants, ApiError};
use crate::adapter::Acked;
use crate::channel::registry::AppState;
use crate::channel::{validate_name, ChannelType, Kind, SERVER_TO_USER_PREFIX};
use crate::config::Limits;
use crate::node::Node;
use crate::protocol;
use crate::socket::Frame;
use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::{json, Map, Value};

#[derive(Deserialize)]
struct RawEvent {
    name: Option<String>,
    data: Option<Box<RawValue>>,
    channel: Option<String>,
    channels: Option<Vec<String>>,
    socket_id: Option<String>,
    info: Option<String>,
}

#[derive(Deserialize)]
struct RawBatch {
    batch: Vec<RawEvent>,
}

/// An event that passed validation.
struct Event {
    name: String,
    data: Box<RawValue>,
    channels: Vec<String>,
    socket_id: Option<String>,
    info: Option<String>,
}

fn bad_json(e: serde_json::Error) -> ApiError {
    ApiError::new(
        400,
        format!("The request body is not valid JSON for this endpoint: {e}"),
    )
}

/// Rate-limit points of a publish: its channels (at least 1), summed over a batch.
/// Counted before validation, like Soketi; unreadable bodies cost 1.
pub(crate) fn points(body: &[u8], batch: bool) -> i64 {
    #[derive(Deserialize)]
    struct Channels {
        channels: Option<Vec<serde::de::IgnoredAny>>,
    }
    #[derive(Deserialize)]
    struct Batch {
        batch: Vec<Channels>,
    }
    let of = |c: &Channels| c.channels.as_ref().map_or(1, |v| v.len().max(1)) as i64;
    if batch {
        serde_json::from_slice::<Batch>(body)
            .map_or(1, |b| b.batch.iter().map(of).sum::<i64>().max(1))
    } else {
        serde_json::from_slice::<Channels>(body).map_or(1, |c| of(&c))
    }
}

pub(crate) async fn publish(node: &Node, app: &AppState, body: &[u8]) -> Result<Value, ApiError> {
    let raw: RawEvent = serde_json::from_slice(body).map_err(bad_json)?;
    let event = validate(raw, &app.app().limits)?;
    ensure_deliverable(node)?;
    let mut acks = Vec::new();
    let info = send(node, app, &event, &mut acks).await?;
    bus_has(acks).await?;
    Ok(info
        .map(|channels| json!({ "channels": channels }))
        .unwrap_or_else(|| json!({})))
}

pub(crate) async fn publish_batch(
    node: &Node,
    app: &AppState,
    body: &[u8],
) -> Result<Value, ApiError> {
    let raw: RawBatch = serde_json::from_slice(body).map_err(bad_json)?;
    let max = app.app().limits.max_event_batch_size;
    if raw.batch.len() > max {
        return Err(ApiError::new(
            400,
            format!("Cannot batch-send more than {max} messages at once"),
        ));
    }
    let events: Vec<Event> = raw
        .batch
        .into_iter()
        .map(|e| validate(e, &app.app().limits))
        .collect::<Result<_, _>>()?;
    ensure_deliverable(node)?;
    let any_info = events.iter().any(|e| e.info.is_some());
    let mut infos = Vec::with_capacity(events.len());
    let mut acks = Vec::new();
    for e in &events {
        infos.push(batch_info(send(node, app, e, &mut acks).await?));
    }
    bus_has(acks).await?;
    Ok(if any_info {
        json!({ "batch": infos })
    } else {
        json!({})
    })
}

/// A clustered node that cannot reach the bus must not claim delivery.
fn ensure_deliverable(node: &Node) -> Result<(), ApiError> {
    match node.adapter.healthy() {
        true => Ok(()),
        false => Err(crate::adapter::AdapterError::Unavailable.into()),
    }
}

/// A 200 means the bus has every message of the request: wait for each
/// acknowledgement (they come back in one pipeline's time); 503 if one is missing.
async fn bus_has(acks: Vec<Acked>) -> Result<(), ApiError> {
    if futures_util::future::join_all(acks)
        .await
        .iter()
        .all(|ok| *ok)
    {
        return Ok(());
    }
    crate::metrics::publish_unacknowledged();
    Err(crate::adapter::AdapterError::Unavailable.into())
}

/// Index-aligned batch answer: the single channel's attributes, or `{}`.
fn batch_info(info: Option<Map<String, Value>>) -> Value {
    info.and_then(|m| m.into_iter().next().map(|(_, v)| v))
        .unwrap_or_else(|| json!({}))
}

fn validate(raw: RawEvent, limits: &Limits) -> Result<Event, ApiError> {
    let name = raw
        .name
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::new(400, "The event name is required."))?;
    let data = raw
        .data
        .ok_or_else(|| ApiError::new(400, "The event data is required."))?;
    let channels = match (raw.channels, raw.channel) {
        (Some(list), _) if !list.is_empty() => list,
        (_, Some(one)) => vec![one],
        _ => {
            return Err(ApiError::new(
                400,
                "The channel or channels field is required.",
            ))
        }
    };
    check_sizes(&name, &data, &channels, limits)?;
    check_channels(&channels, limits)?;
    if let Some(id) = &raw.socket_id {
        if !is_socket_id(id) {
            return Err(ApiError::new(400, format!("Invalid socket_id {id:?}")));
        }
    }
    Ok(Event {
        name,
        data,
        channels,
        socket_id: raw.socket_id,
        info: raw.info,
    })
}

/// The app's limits on channels at once, the event name and the data.
fn check_sizes(
    name: &str,
    data: &RawValue,
    channels: &[String],
    limits: &Limits,
) -> Result<(), ApiError> {
    if channels.len() > limits.max_event_channels_at_once {
        let max = limits.max_event_channels_at_once;
        return Err(ApiError::new(
            400,
            format!("Cannot broadcast to more than {max} channels at once"),
        ));
    }
    if name.len() > limits.max_event_name_length {
        let max = limits.max_event_name_length;
        return Err(ApiError::new(
            400,
            format!("Event name is too long. Maximum allowed size is {max}."),
        ));
    }
    if data_len(data) as f64 > limits.max_event_payload_kb * 1024.0 {
        let max = limits.max_event_payload_kb;
        return Err(ApiError::new(
            413,
            format!("The event data should be less than {max} KB."),
        ));
    }
    Ok(())
}

/// Valid channel names, and an encrypted channel only on its own.
fn check_channels(channels: &[String], limits: &Limits) -> Result<(), ApiError> {
    for c in channels {
        validate_name(c, limits.max_channel_name_length)
            .map_err(|e| ApiError::new(400, format!("Invalid channel {c:?}: {e}")))?;
    }
    let encrypted = channels
        .iter()
        .any(|c| ChannelType::of(c).kind == Kind::Encrypted);
    if encrypted && channels.len() > 1 {
        return Err(ApiError::new(
            400,
            "Cannot publish to more than one channel when one is encrypted.",
        ));
    }
    Ok(())
}

/// Size of `data` as published: the decoded string, or the raw JSON otherwise.
fn data_len(data: &RawValue) -> usize {
    serde_json::from_str::<String>(data.get())
        .map(|s| s.len())
        .unwrap_or(data.get().len())
}

fn is_socket_id(s: &str) -> bool {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    s.split_once('.')
        .is_some_and(|(a, b)| digits(a) && digits(b))
}

/// Deliver one event to each of its channels; returns the `info` answer if asked.
async fn send(
    node: &Node,
    app: &AppState,
    event: &Event,
    acks: &mut Vec<Acked>,
) -> Result<Option<Map<String, Value>>, ApiError> {
    let ttl = node.config.server.cache_ttl;
    let except = event.socket_id.as_deref();
    for channel in &event.channels {
        let frame = Frame::from(protocol::event(
            &event.name,
            channel,
            Some(event.data.get()),
            None,
        ));
        if ChannelType::of(channel).cache {
            node.adapter
                .cache_put(app, channel, &frame, event.data.get(), ttl)
                .await;
        }
        let acked = match channel.strip_prefix(SERVER_TO_USER_PREFIX) {
            Some(user) => node.adapter.publish_api(app, user, true, &frame, except),
            None => node
                .adapter
                .publish_api(app, channel, false, &frame, except),
        };
        acks.extend(acked);
        app.tap.emit(|| crate::tap::Event::Publish {
            channel: channel.clone(),
            event: event.name.clone(),
            size: data_len(&event.data),
            except: event.socket_id.clone(),
        });
    }
    let Some(info) = event.info.as_deref() else {
        return Ok(None);
    };
    let mut out = Map::new();
    for channel in &event.channels {
        let counts = node.adapter.counts(app, channel).await?;
        let mut entry = Map::new();
        let presence = ChannelType::of(channel).kind == Kind::Presence;
        if wants(Some(info), "user_count") && presence {
            entry.insert("user_count".into(), counts.map_or(0, |c| c.users).into());
        }
        if wants(Some(info), "subscription_count") {
            let n = counts.map_or(0, |c| c.subscriptions);
            entry.insert("subscription_count".into(), n.into());
        }
        out.insert(channel.clone(), Value::Object(entry));
    }
    Ok(Some(out))
}
