//! The node's one link to the bus: a single Redis (one multiplexed RESP3
//! connection) or a Redis Cluster (one RESP3 connection per master, commands routed
//! by slot). Either way the same link carries the commands and the pushed
//! deliveries of the subjects this node subscribed, so a subscription is live for
//! everything Redis sends after its acknowledgement on that link.

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline,
    ProtocolVersion, PushInfo, RedisFuture, RedisResult, Value,
};
use futures_util::FutureExt;
use std::time::Duration;

const TIMEOUT: Duration = Duration::from_secs(2);

/// Where the bus is: one server, or the seed nodes of a Redis Cluster.
#[derive(Clone, Debug)]
pub enum Target {
    Single(ConnectionInfo),
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    /// `nodes` empty: the single server at `url`; else the cluster seeded by `nodes`.
    pub fn parse(url: &str, nodes: &[String]) -> RedisResult<Target> {
        if nodes.is_empty() {
            return Ok(Target::Single(resp3(url.into_connection_info()?)));
        }
        let seeds = nodes.iter().map(|n| n.as_str().into_connection_info());
        Ok(Target::Cluster(seeds.collect::<RedisResult<_>>()?))
    }
}

fn resp3(mut info: ConnectionInfo) -> ConnectionInfo {
    info.redis.protocol = ProtocolVersion::RESP3;
    info
}

/// A connection of either kind; cheap to clone (clones share the link).
#[derive(Clone)]
pub enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Conn {
    /// Open the link; `push` sees every message Redis pushes to it, in order.
    pub async fn open<F>(target: &Target, push: F) -> RedisResult<Conn>
    where
        F: Fn(PushInfo) -> Result<(), ()> + Send + Sync + 'static,
    {
        match target {
            Target::Single(info) => {
                let client = ::redis::Client::open(info.clone())?;
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(TIMEOUT)
                    .set_response_timeout(TIMEOUT)
                    .set_push_sender(push);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Conn::Single(conn))
            }
            Target::Cluster(seeds) => {
                let client = ClusterClientBuilder::new(seeds.clone())
                    .use_protocol(ProtocolVersion::RESP3)
                    .connection_timeout(TIMEOUT)
                    .response_timeout(TIMEOUT)
                    .push_sender(push)
                    .build()?;
                Ok(Conn::Cluster(client.get_async_connection().await?))
            }
        }
    }

    /// Redis Cluster: deliveries use sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`).
    pub fn sharded(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    pub fn subscribe_cmd(&self) -> &'static str {
        if self.sharded() {
            "SSUBSCRIBE"
        } else {
            "SUBSCRIBE"
        }
    }

    pub fn unsubscribe_cmd(&self) -> &'static str {
        if self.sharded() {
            "SUNSUBSCRIBE"
        } else {
            "UNSUBSCRIBE"
        }
    }

    pub fn publish_cmd(&self) -> &'static str {
        if self.sharded() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        }
    }
}

/// A pipeline whose keys live in several slots of a cluster, sent one command at a
/// time in order (the cluster refuses it as one pipeline).
async fn one_by_one(
    conn: &mut ClusterConnection,
    pipe: &Pipeline,
    offset: usize,
    count: usize,
) -> RedisResult<Vec<Value>> {
    let mut values = Vec::with_capacity(count);
    for cmd in pipe.cmd_iter().skip(offset).take(count) {
        values.push(conn.req_packed_command(cmd).await?);
    }
    Ok(values)
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Single(c) => c.req_packed_command(cmd),
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipe: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Single(c) => c.req_packed_commands(pipe, offset, count),
            Conn::Cluster(c) => async move {
                match c.req_packed_commands(pipe, offset, count).await {
                    Err(e) if e.kind() == ErrorKind::CrossSlot => {
                        one_by_one(c, pipe, offset, count).await
                    }
                    other => other,
                }
            }
            .boxed(),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
