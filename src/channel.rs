//! Channels: names and kinds, presence members, and (in [`registry`]) the local
//! registry of sockets and subscriptions.

pub mod registry;

pub use registry::Registry;

/// What a channel name's prefix makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Public,
    Private,
    /// `private-encrypted-`: end-to-end encrypted; the server only relays.
    Encrypted,
    Presence,
    /// `#server-to-user-{id}`: only a socket signed in as that user may join.
    ServerToUser,
}

/// A channel's kind plus whether it keeps its last event (`cache-` variants).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelType {
    pub kind: Kind,
    pub cache: bool,
}

/// Prefixes, longest first, anchored at the start of the name.
const PREFIXES: [(&str, Kind, bool); 8] = [
    ("private-encrypted-cache-", Kind::Encrypted, true),
    ("private-encrypted-", Kind::Encrypted, false),
    ("#server-to-user-", Kind::ServerToUser, false),
    ("presence-cache-", Kind::Presence, true),
    ("private-cache-", Kind::Private, true),
    ("presence-", Kind::Presence, false),
    ("private-", Kind::Private, false),
    ("cache-", Kind::Public, true),
];

pub(crate) const SERVER_TO_USER_PREFIX: &str = "#server-to-user-";

impl ChannelType {
    pub fn of(name: &str) -> ChannelType {
        PREFIXES
            .iter()
            .find(|(prefix, _, _)| name.starts_with(prefix))
            .map(|&(_, kind, cache)| ChannelType { kind, cache })
            .unwrap_or(ChannelType {
                kind: Kind::Public,
                cache: false,
            })
    }

    /// Private, encrypted and presence channels need a signed `auth`.
    pub fn needs_auth(self) -> bool {
        matches!(self.kind, Kind::Private | Kind::Encrypted | Kind::Presence)
    }
}

/// Why a channel name is refused.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum NameError {
    #[error("The channel name is longer than the allowed {0} characters.")]
    TooLong(usize),
    #[error("The channel name is not allowed. Read channel conventions: https://pusher.com/docs/channels/using_channels/channels/#channel-naming-conventions")]
    Invalid,
}

/// `^#?[-a-zA-Z0-9_=@,.;]+$`, `#` only for `#server-to-user-`, and a length limit.
pub fn validate_name(name: &str, max_len: usize) -> Result<(), NameError> {
    if name.len() > max_len {
        return Err(NameError::TooLong(max_len));
    }
    let body = name.strip_prefix('#').unwrap_or(name);
    let legal = |c: char| c.is_ascii_alphanumeric() || "-_=@,.;".contains(c);
    let hash_ok = !name.starts_with('#') || name.starts_with(SERVER_TO_USER_PREFIX);
    if body.is_empty() || !body.chars().all(legal) || !hash_ok {
        return Err(NameError::Invalid);
    }
    Ok(())
}

/// A presence member parsed from `channel_data`: the id as a string for
/// comparison, and the raw JSON of the id and `user_info` to echo as sent.
#[derive(Debug, Clone, PartialEq)]
pub struct Member {
    pub id: String,
    pub id_json: String,
    pub info_json: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum MemberError {
    #[error("channel_data must be a JSON object with a string or number user_id")]
    Invalid,
    #[error("The maximum size for a channel member is {0} KB.")]
    TooBig(f64),
}

impl Member {
    pub fn parse(channel_data: &str, max_info_kb: f64) -> Result<Member, MemberError> {
        #[derive(serde::Deserialize)]
        struct Data<'a> {
            #[serde(borrow)]
            user_id: &'a serde_json::value::RawValue,
            #[serde(borrow, default)]
            user_info: Option<&'a serde_json::value::RawValue>,
        }
        let data: Data = serde_json::from_str(channel_data).map_err(|_| MemberError::Invalid)?;
        let id = match serde_json::from_str::<serde_json::Value>(data.user_id.get()) {
            Ok(serde_json::Value::String(s)) if !s.is_empty() => s,
            Ok(serde_json::Value::Number(n)) => n.to_string(),
            _ => return Err(MemberError::Invalid),
        };
        let info_json = data.user_info.map(|i| i.get().to_string());
        if info_json.as_ref().map_or(0, |i| i.len()) as f64 > max_info_kb * 1024.0 {
            return Err(MemberError::TooBig(max_info_kb));
        }
        Ok(Member {
            id,
            id_json: data.user_id.get().to_string(),
            info_json,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_by_anchored_prefix_longest_first() {
        let t = |n| ChannelType::of(n);
        assert_eq!(
            t("orders"),
            ChannelType {
                kind: Kind::Public,
                cache: false
            }
        );
        assert_eq!(
            t("my-private-room"),
            ChannelType {
                kind: Kind::Public,
                cache: false
            }
        );
        assert_eq!(
            t("private-orders.1"),
            ChannelType {
                kind: Kind::Private,
                cache: false
            }
        );
        assert_eq!(
            t("private-encrypted-x"),
            ChannelType {
                kind: Kind::Encrypted,
                cache: false
            }
        );
        assert_eq!(
            t("private-encrypted-cache-x"),
            ChannelType {
                kind: Kind::Encrypted,
                cache: true
            }
        );
        assert_eq!(
            t("private-cache-x"),
            ChannelType {
                kind: Kind::Private,
                cache: true
            }
        );
        assert_eq!(
            t("presence-cache-x"),
            ChannelType {
                kind: Kind::Presence,
                cache: true
            }
        );
        assert_eq!(
            t("presence-chat"),
            ChannelType {
                kind: Kind::Presence,
                cache: false
            }
        );
        assert_eq!(
            t("cache-x"),
            ChannelType {
                kind: Kind::Public,
                cache: true
            }
        );
        assert_eq!(
            t("x-cache-y"),
            ChannelType {
                kind: Kind::Public,
                cache: false
            }
        );
        assert_eq!(
            t("#server-to-user-1"),
            ChannelType {
                kind: Kind::ServerToUser,
                cache: false
            }
        );
    }

    #[test]
    fn names_follow_pusher_conventions() {
        assert_eq!(validate_name("foo-bar_1234@=,.;", 200), Ok(()));
        assert_eq!(validate_name("private-App.Models.User.1", 200), Ok(()));
        assert_eq!(validate_name("#server-to-user-7", 200), Ok(()));
        assert_eq!(validate_name("#other", 200), Err(NameError::Invalid));
        assert_eq!(validate_name("a b", 200), Err(NameError::Invalid));
        assert_eq!(validate_name("tenant:1", 200), Err(NameError::Invalid));
        assert_eq!(validate_name("", 200), Err(NameError::Invalid));
        assert_eq!(
            validate_name(&"a".repeat(201), 200),
            Err(NameError::TooLong(200))
        );
        assert_eq!(validate_name(&"a".repeat(200), 200), Ok(()));
    }

    #[test]
    fn members_keep_their_json_and_compare_as_strings() {
        let m =
            Member::parse(r#"{"user_id":10,"user_info":{"name":"Mr. Channels"}}"#, 2.0).unwrap();
        assert_eq!((m.id.as_str(), m.id_json.as_str()), ("10", "10"));
        assert_eq!(m.info_json.as_deref(), Some(r#"{"name":"Mr. Channels"}"#));
        let m = Member::parse(r#"{"user_id":"10"}"#, 2.0).unwrap();
        assert_eq!(
            (m.id.as_str(), m.id_json.as_str(), m.info_json),
            ("10", "\"10\"", None)
        );
        assert_eq!(
            Member::parse(r#"{"user_info":{}}"#, 2.0),
            Err(MemberError::Invalid)
        );
        assert_eq!(Member::parse("nope", 2.0), Err(MemberError::Invalid));
        let big = format!(r#"{{"user_id":1,"user_info":"{}"}}"#, "x".repeat(3000));
        assert_eq!(Member::parse(&big, 2.0), Err(MemberError::TooBig(2.0)));
    }
}
