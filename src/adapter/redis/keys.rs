//! Names of the Redis keys and channels, all under the cluster prefix.

pub struct Keys {
    pub prefix: String,
    pub node: String,
}

impl Keys {
    pub fn new(prefix: &str, node: &str) -> Keys {
        Keys {
            prefix: prefix.to_string(),
            node: node.to_string(),
        }
    }

    pub fn bus(&self) -> String {
        format!("{}#bus", self.prefix)
    }

    pub fn nodes(&self) -> String {
        format!("{}:nodes", self.prefix)
    }

    pub fn heartbeat_of(&self, node: &str) -> String {
        format!("{}:node:{node}", self.prefix)
    }

    pub fn conns_of(&self, node: &str) -> String {
        format!("{}:conns:{node}", self.prefix)
    }

    pub fn subs_of(&self, node: &str) -> String {
        format!("{}:subs:{node}", self.prefix)
    }

    pub fn npres_of(&self, node: &str) -> String {
        format!("{}:npres:{node}", self.prefix)
    }

    pub fn purge_lock(&self, node: &str) -> String {
        format!("{}:purge:{node}", self.prefix)
    }

    /// Left by the node that purged `node`, so `node` knows to re-announce its members.
    pub fn purged_mark(&self, node: &str) -> String {
        format!("{}:purged:{node}", self.prefix)
    }

    pub fn presence(&self, app: &str, channel: &str) -> String {
        format!("{}:presence:{app}:{channel}", self.prefix)
    }

    /// Set of nodes with at least one subscriber of the channel.
    pub fn occupancy(&self, app: &str, channel: &str) -> String {
        format!("{}:occ:{app}:{channel}", self.prefix)
    }

    /// Points an app used of a budget (`events`, `reads`) in one second of Unix time.
    pub fn rate(&self, app: &str, budget: &str, second: u64) -> String {
        format!("{}:rate:{app}:{budget}:{second}", self.prefix)
    }

    pub fn cache(&self, app: &str, channel: &str) -> String {
        format!("{}:cache:{app}:{channel}", self.prefix)
    }

    /// Who is signed in where, for watchlists (see `watch.rs`).
    pub fn online(&self, app: &str) -> String {
        format!("{}:online:{app}", self.prefix)
    }

    /// Apps in which a node has signed-in users, for watchlists.
    pub fn nonline_of(&self, node: &str) -> String {
        format!("{}:nonline:{node}", self.prefix)
    }
}

/// A field naming one app's channel: `app\nchannel`.
pub fn sub_field(app: &str, channel: &str) -> String {
    format!("{app}\n{channel}")
}

/// The channel of a `app\nchannel` field, if it belongs to `app`.
pub fn channel_of<'a>(field: &'a str, app: &str) -> Option<&'a str> {
    let (a, channel) = field.split_once('\n')?;
    (a == app).then_some(channel)
}
