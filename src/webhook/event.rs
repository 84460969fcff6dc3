//! What a webhook may be told about, and how each event is encoded in a request body.

use crate::protocol::quote;

/// Something a webhook may be told about. User ids are kept as the JSON the
/// client sent (`"7"` or `7`) next to their string form used for matching.
#[derive(Debug, Clone, PartialEq)]
// `ClientEvent` is the wire name (`client_event`, `client-event`), hence the suffix.
#[allow(clippy::enum_variant_names)]
pub(crate) enum Event {
    ChannelOccupied {
        channel: String,
    },
    ChannelVacated {
        channel: String,
    },
    MemberAdded {
        channel: String,
        user_id: String,
        user_json: String,
    },
    MemberRemoved {
        channel: String,
        user_id: String,
        user_json: String,
    },
    ClientEvent {
        channel: String,
        event: String,
        /// The raw JSON of the event's `data`.
        data: Option<String>,
        socket_id: String,
        /// Presence channels: the sender's user id as JSON.
        user_json: Option<String>,
    },
    CacheMiss {
        channel: String,
    },
}

impl Event {
    pub(crate) fn kind(&self) -> &'static str {
        match self {
            Event::ChannelOccupied { .. } => "channel_occupied",
            Event::ChannelVacated { .. } => "channel_vacated",
            Event::MemberAdded { .. } => "member_added",
            Event::MemberRemoved { .. } => "member_removed",
            Event::ClientEvent { .. } => "client_event",
            Event::CacheMiss { .. } => "cache_miss",
        }
    }

    pub(crate) fn channel(&self) -> &str {
        match self {
            Event::ChannelOccupied { channel }
            | Event::ChannelVacated { channel }
            | Event::MemberAdded { channel, .. }
            | Event::MemberRemoved { channel, .. }
            | Event::ClientEvent { channel, .. }
            | Event::CacheMiss { channel } => channel,
        }
    }

    /// The kind of a delayed event this one cancels (a re-join cancels a leave).
    pub(super) fn cancels(&self) -> Option<&'static str> {
        match self {
            Event::ChannelOccupied { .. } => Some("channel_vacated"),
            Event::MemberAdded { .. } => Some("member_removed"),
            _ => None,
        }
    }

    pub(super) fn user(&self) -> Option<&str> {
        match self {
            Event::MemberAdded { user_id, .. } | Event::MemberRemoved { user_id, .. } => {
                Some(user_id)
            }
            _ => None,
        }
    }

    /// One element of the `events` array. `client_event` data is a string, as Pusher sends it.
    pub(super) fn to_json(&self) -> String {
        let head = format!(
            "{{\"name\":\"{}\",\"channel\":{}",
            self.kind(),
            quote(self.channel())
        );
        match self {
            Event::MemberAdded { user_json, .. } | Event::MemberRemoved { user_json, .. } => {
                format!("{head},\"user_id\":{user_json}}}")
            }
            Event::ClientEvent {
                event,
                data,
                socket_id,
                user_json,
                ..
            } => {
                let data = match data.as_deref() {
                    Some(d) if d.starts_with('"') => d.to_string(),
                    Some(d) => quote(d),
                    None => "\"\"".into(),
                };
                let user = user_json
                    .as_deref()
                    .map(|u| format!(",\"user_id\":{u}"))
                    .unwrap_or_default();
                format!(
                    "{head},\"event\":{},\"data\":{data},\"socket_id\":{}{user}}}",
                    quote(event),
                    quote(socket_id)
                )
            }
            _ => format!("{head}}}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_encode_like_pusher() {
        let e = Event::MemberAdded {
            channel: "presence-a".into(),
            user_id: "7".into(),
            user_json: "7".into(),
        };
        assert_eq!(
            e.to_json(),
            r#"{"name":"member_added","channel":"presence-a","user_id":7}"#
        );
        let c = Event::ClientEvent {
            channel: "private-a".into(),
            event: "client-x".into(),
            data: Some(r#"{"a":1}"#.into()),
            socket_id: "1.2".into(),
            user_json: None,
        };
        assert_eq!(
            c.to_json(),
            r#"{"name":"client_event","channel":"private-a","event":"client-x","data":"{\"a\":1}","socket_id":"1.2"}"#
        );
    }
}
