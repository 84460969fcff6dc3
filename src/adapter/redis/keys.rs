//! Names of the Redis keys and channels, all under the cluster prefix.

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
        format!("{}#{app}#{channel}", self.prefix)
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
        format!("{}:presence:{app}:{channel}", self.prefix)
    }

    /// Set of nodes with at least one subscriber of the channel.
    pub(crate) fn occupancy(&self, app: &str, channel: &str) -> String {
        format!("{}:occ:{app}:{channel}", self.prefix)
    }

    /// Points an app used of a budget (`events`, `reads`) in one second of Unix time.
    pub(crate) fn rate(&self, app: &str, budget: &str, second: u64) -> String {
        format!("{}:rate:{app}:{budget}:{second}", self.prefix)
    }

    pub(crate) fn cache(&self, app: &str, channel: &str) -> String {
        format!("{}:cache:{app}:{channel}", self.prefix)
    }

    /// Who is signed in where, for watchlists (see `watch.rs`).
    pub(crate) fn online(&self, app: &str) -> String {
        format!("{}:online:{app}", self.prefix)
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

/// The channel of a `app\nchannel` field, if it belongs to `app`.
pub(crate) fn channel_of<'a>(field: &'a str, app: &str) -> Option<&'a str> {
    let (a, channel) = field.split_once('\n')?;
    (a == app).then_some(channel)
}
