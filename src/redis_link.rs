//! The link to Redis that the cluster adapter and the webhook queue share: a
//! single server (one multiplexed connection) or a Redis Cluster (one connection
//! per master, commands routed by slot). A pipeline whose keys span slots is sent
//! command by command in order on a cluster (which refuses it as one pipeline),
//! so callers write one pipeline per round trip and a single server pays one.
//!
//! The adapter's link is RESP3 and carries the pushed deliveries of the subjects
//! the node subscribed on the same connection as its commands, so a subscription
//! is live for everything Redis sends after its acknowledgement on that link. The
//! queue's links speak what the URL says, get no pushes and wait longer for
//! answers (a blocking `XREADGROUP`).

use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::cluster::ClusterClientBuilder;
use ::redis::cluster_async::ClusterConnection;
use ::redis::{
    AsyncConnectionConfig, Cmd, ConnectionInfo, ErrorKind, IntoConnectionInfo, Pipeline,
    ProtocolVersion, PushInfo, RedisFuture, RedisResult, Value,
};
use futures_util::FutureExt;
use std::time::Duration;

/// How long opening a connection may take, and the adapter's answers.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Where Redis is: one server, or the seed nodes of a Redis Cluster.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Single(ConnectionInfo),
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    /// `nodes` empty: the single server at `url`; else the cluster seeded by `nodes`.
    pub(crate) fn parse(url: &str, nodes: &[String]) -> RedisResult<Target> {
        if nodes.is_empty() {
            return Ok(Target::Single(url.into_connection_info()?));
        }
        let seeds = nodes.iter().map(|n| n.as_str().into_connection_info());
        Ok(Target::Cluster(seeds.collect::<RedisResult<_>>()?))
    }
}

/// What a link is opened with: pushes go to `push` (RESP3), answers wait `response`.
struct Options<F> {
    response: Duration,
    push: Option<F>,
}

/// A connection of either kind; cheap to clone (clones share the link).
#[derive(Clone)]
pub(crate) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

/// A push handler for links that take none.
type NoPush = fn(PushInfo) -> Result<(), ()>;

impl Conn {
    /// The adapter's link (RESP3): `push` sees every message Redis pushes to it, in order.
    pub(crate) async fn with_pushes<F>(target: &Target, push: F) -> RedisResult<Conn>
    where
        F: Fn(PushInfo) -> Result<(), ()> + Send + Sync + 'static,
    {
        let options = Options {
            response: TIMEOUT,
            push: Some(push),
        };
        Conn::open(target, options).await
    }

    /// A link of its own without pushes, whose answers may take `response`.
    pub(crate) async fn plain(target: &Target, response: Duration) -> RedisResult<Conn> {
        let options = Options::<NoPush> {
            response,
            push: None,
        };
        Conn::open(target, options).await
    }

    async fn open<F>(target: &Target, options: Options<F>) -> RedisResult<Conn>
    where
        F: Fn(PushInfo) -> Result<(), ()> + Send + Sync + 'static,
    {
        match target {
            Target::Single(info) => {
                let mut info = info.clone();
                let mut config = AsyncConnectionConfig::new()
                    .set_connection_timeout(TIMEOUT)
                    .set_response_timeout(options.response);
                if let Some(push) = options.push {
                    info.redis.protocol = ProtocolVersion::RESP3;
                    config = config.set_push_sender(push);
                }
                let client = ::redis::Client::open(info)?;
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Conn::Single(conn))
            }
            Target::Cluster(seeds) => {
                let mut builder = ClusterClientBuilder::new(seeds.clone())
                    .connection_timeout(TIMEOUT)
                    .response_timeout(options.response);
                if let Some(push) = options.push {
                    builder = builder
                        .use_protocol(ProtocolVersion::RESP3)
                        .push_sender(push);
                }
                Ok(Conn::Cluster(
                    builder.build()?.get_async_connection().await?,
                ))
            }
        }
    }

    /// Redis Cluster: deliveries use sharded pub/sub (`SSUBSCRIBE`/`SPUBLISH`).
    pub(crate) fn sharded(&self) -> bool {
        matches!(self, Conn::Cluster(_))
    }

    pub(crate) fn subscribe_cmd(&self) -> &'static str {
        if self.sharded() {
            "SSUBSCRIBE"
        } else {
            "SUBSCRIBE"
        }
    }

    pub(crate) fn unsubscribe_cmd(&self) -> &'static str {
        if self.sharded() {
            "SUNSUBSCRIBE"
        } else {
            "UNSUBSCRIBE"
        }
    }

    pub(crate) fn publish_cmd(&self) -> &'static str {
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
