//! Subjects, bucket names and keys, all under the cluster prefix. App ids,
//! channel names and node ids become one subject token each: characters outside
//! `[A-Za-z0-9_-]` are written `=XX` (hex of each UTF-8 byte), so a `.` or `#`
//! in a channel name never splits or breaks a subject or key.

/// The names one node uses.
pub(crate) struct Names {
    pub node: String,
    /// First subject token(s).
    subject: String,
    /// First part of every bucket name.
    bucket: String,
}

/// One subject token (or key token) for any text.
pub(crate) fn token(text: &str) -> String {
    if text.is_empty() {
        return "=".into();
    }
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' => out.push(b as char),
            _ => out.push_str(&format!("={b:02X}")),
        }
    }
    out
}

/// The text a [`token`] was made from.
pub(crate) fn untoken(token: &str) -> Option<String> {
    if token == "=" {
        return Some(String::new());
    }
    let mut bytes = Vec::with_capacity(token.len());
    let mut rest = token.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    String::from_utf8(bytes).ok()
}

impl Names {
    /// `prefix` as configured (empty: `herald`).
    pub(crate) fn new(prefix: &str, node: &str) -> Names {
        let prefix = if prefix.is_empty() { "herald" } else { prefix };
        let bucket = prefix
            .chars()
            .map(|c| match c {
                'A'..='Z' | 'a'..='z' | '0'..='9' | '_' | '-' => c,
                _ => '_',
            })
            .collect();
        Names {
            node: node.to_string(),
            subject: prefix.to_string(),
            bucket,
        }
    }

    /// Deliveries of one channel.
    pub(crate) fn channel(&self, app: &str, channel: &str) -> String {
        format!("{}.c.{}.{}", self.subject, token(app), token(channel))
    }

    /// The rare kinds (server-to-user, terminate) of one app.
    pub(crate) fn app(&self, app: &str) -> String {
        format!("{}.a.{}", self.subject, token(app))
    }

    /// Every app's rare kinds.
    pub(crate) fn apps(&self) -> String {
        format!("{}.a.>", self.subject)
    }

    /// A subject nobody answers: a request to it is a round trip to the server.
    pub(crate) fn ping(&self) -> String {
        format!("{}.ping.{}", self.subject, token(&self.node))
    }

    pub(crate) fn bucket(&self, what: &str) -> String {
        format!("{}_{what}", self.bucket)
    }

    /// A channel's entry in the channels bucket: `app.channel`.
    pub(crate) fn chan_key(app: &str, channel: &str) -> String {
        format!("{}.{}", token(app), token(channel))
    }

    /// A node's subscription count of a channel: `node.app.channel`.
    pub(crate) fn subs_key(node: &str, app: &str, channel: &str) -> String {
        format!("{}.{}.{}", token(node), token(app), token(channel))
    }

    pub(crate) fn node_key(node: &str) -> String {
        token(node)
    }
}

/// `(app, channel)` of a channels-bucket key.
pub(crate) fn parse_chan_key(key: &str) -> Option<(String, String)> {
    let (app, channel) = key.split_once('.')?;
    Some((untoken(app)?, untoken(channel)?))
}

/// `(node, app, channel)` of a subs-bucket key.
pub(crate) fn parse_subs_key(key: &str) -> Option<(String, String, String)> {
    let mut parts = key.splitn(3, '.');
    let (node, app, channel) = (parts.next()?, parts.next()?, parts.next()?);
    Some((untoken(node)?, untoken(app)?, untoken(channel)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_never_hold_separators() {
        for text in [
            "presence-room.1",
            "#server-to-user-7",
            "a=b",
            "",
            "é;@,",
            "x>y*z",
        ] {
            let t = token(text);
            assert!(
                t.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"_-=".contains(&b)),
                "{t}"
            );
            assert_eq!(untoken(&t).as_deref(), Some(text));
        }
        assert_ne!(token("a.b"), token("a=2Eb"));
    }

    #[test]
    fn keys_parse_back() {
        let key = Names::subs_key("n-1", "app.id", "private-x.y");
        assert_eq!(
            parse_subs_key(&key),
            Some(("n-1".into(), "app.id".into(), "private-x.y".into()))
        );
        let key = Names::chan_key("a", "presence-b.c");
        assert_eq!(
            parse_chan_key(&key),
            Some(("a".into(), "presence-b.c".into()))
        );
        let names = Names::new("site.a", "n");
        assert_eq!(names.bucket("chan"), "site_a_chan");
        assert_eq!(names.channel("1", "room"), "site.a.c.1.room");
    }
}
