//! Socket ids (`\d+\.\d+`): a per-node random prefix and a per-node counter,
//! kept as two numbers and only formatted when a client or a signature needs
//! the text, so an idle socket carries no string for it.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SocketId {
    pub prefix: u32,
    pub key: u64,
}

impl SocketId {
    pub fn new(prefix: u32, key: u64) -> SocketId {
        SocketId { prefix, key }
    }

    /// The id written as `text`, if it is one (`prefix.key`, both decimal).
    pub(crate) fn parse(text: &str) -> Option<SocketId> {
        let (prefix, key) = text.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(prefix) || !digits(key) {
            return None;
        }
        Some(SocketId::new(prefix.parse().ok()?, key.parse().ok()?))
    }
}

impl fmt::Display for SocketId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.prefix, self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_round_trips_and_other_text_is_not_an_id() {
        let id = SocketId::new(318309916, 42);
        assert_eq!(id.to_string(), "318309916.42");
        assert_eq!(SocketId::parse("318309916.42"), Some(id));
        for bad in [
            "",
            "1",
            "1.",
            ".1",
            "1.2.3",
            "a.1",
            "1.-2",
            "99999999999.1",
            "+1.2",
        ] {
            assert_eq!(SocketId::parse(bad), None, "{bad}");
        }
    }
}
