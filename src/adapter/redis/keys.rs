//! Names of the Redis keys and channels, all under the cluster prefix.
//!
//! An app id goes into a key or subject through [`app_token`]: ids made of
//! letters, digits, `-`, `_` and `.` (every id we have seen) as they are, so keys
//! of ordinary ids are unchanged across upgrades; any other byte as `%XX` (`%`
//! included). So no token holds a separator (`:`, `#`, a newline), a Redis
//! Cluster hash tag (`{`) or a glob character, two ids never share a token, and
//! channel names (which cannot hold `:`, `#` or a newline either) end every key
//! unambiguously: no two apps' keys can be the same.

pub(crate) use crate::adapter::bus::app_token;

pub(crate) struct Keys {
    pub prefix: String,
    pub node: String,
}

impl Keys {
    pub(crate) fn new(prefix: &str, node: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
            node: node.to_string(),
        }
    }

    /// The node-wide subject: kinds not about one channel (every node listens).
    pub(crate) fn bus(&self) -> String {
        format!("{}#bus", self.prefix)
    }

    /// A channel's delivery subject: only nodes with subscribers to it listen.
    pub(crate) fn subject(&self, app: &str, channel: &str) -> String {
        format!("{}#{}#{channel}", self.prefix, app_token(app))
    }

    pub(crate) fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    pub(crate) fn heartbeat_of(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    pub(crate) fn conns_of(&self, node: &str) -> String {
        format!("{}:conns:{node}", self.prefix)
    }

    pub(crate) fn subs_of(&self, node: &str) -> String {
        format!("{}:subs:{node}", self.prefix)
    }

    pub(crate) fn npres_of(&self, node: &str) -> String {
        format!("{}:npres:{node}", self.prefix)
    }

    pub(crate) fn purge_lock(&self, node: &str) -> String {
        format!("{}:purge:{node}", self.prefix)
    }

    /// Left by the node that purged `node`, so `node` knows to re-announce its members.
    pub(crate) fn purged_mark(&self, node: &str) -> String {
        format!("{}:purged:{node}", self.prefix)
    }

    pub(crate) fn presence(&self, app: &str, channel: &str) -> String {
        format!("{}:presence:{}:{channel}", self.prefix, app_token(app))
    }

    /// Set of nodes with at least one subscriber of the channel.
    pub(crate) fn occupancy(&self, app: &str, channel: &str) -> String {
        format!("{}:occ:{}:{channel}", self.prefix, app_token(app))
    }

    /// Points an app used of a budget (`events`, `reads`) in one second of Unix time.
    pub(crate) fn rate(&self, app: &str, budget: &str, second: u64) -> String {
        format!("{}:rate:{}:{budget}:{second}", self.prefix, app_token(app))
    }

    pub(crate) fn cache(&self, app: &str, channel: &str) -> String {
        format!("{}:cache:{}:{channel}", self.prefix, app_token(app))
    }

    /// Who is signed in where, for watchlists (see `watch.rs`).
    pub(crate) fn online(&self, app: &str) -> String {
        format!("{}:online:{}", self.prefix, app_token(app))
    }

    /// Apps in which a node has signed-in users, for watchlists.
    pub(crate) fn nonline_of(&self, node: &str) -> String {
        format!("{}:nonline:{node}", self.prefix)
    }
}

/// A field naming one app's channel: `app\nchannel`.
pub(crate) fn sub_field(app: &str, channel: &str) -> String {
    format!("{app}\n{channel}")
}

/// The app and channel of a `app\nchannel` field: split at the last newline,
/// since a channel name has none (an app id may).
pub(crate) fn field_parts(field: &str) -> Option<(&str, &str)> {
    field.rsplit_once('\n')
}

/// The channel of a `app\nchannel` field, if it belongs to `app`.
pub(crate) fn channel_of<'a>(field: &'a str, app: &str) -> Option<&'a str> {
    let (a, channel) = field_parts(field)?;
    (a == app).then_some(channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordinary_ids_keep_their_keys_and_others_cannot_collide() {
        let k = Keys::new("p", "n");
        assert_eq!(
            k.presence("app-1_x.y", "presence-c"),
            "p:presence:app-1_x.y:presence-c"
        );
        assert_eq!(k.subject("app-id", "c"), "p#app-id#c");
        assert_eq!(app_token("a:b"), "a%3Ab");
        assert_eq!(app_token("a%3Ab"), "a%253Ab");
        assert_ne!(k.cache("a:b", "c"), k.cache("a", "b:c"));
        assert_eq!(field_parts(&sub_field("a\nb", "c")), Some(("a\nb", "c")));
        assert_eq!(channel_of(&sub_field("a\nb", "c"), "a"), None);
    }
}
