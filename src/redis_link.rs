//! The link to Redis that the cluster adapter and the webhook queue share: a
//! single server (one multiplexed connection), the master that Redis Sentinel
//! names (asked again at every connection, so a failover is followed by the
//! reconnect that the lost link starts; a planned failover, whose old master
//! answers for seconds more, by closing the link once the sentinels name another
//! master, checked every second), or a Redis Cluster (one connection per master,
//! commands routed by slot). A pipeline whose keys span slots is sent
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
use sentinel::Sentinel;
use std::sync::Arc;
use std::time::Duration;

mod sentinel;

/// How long opening a connection may take, and the adapter's answers.
const TIMEOUT: Duration = Duration::from_secs(2);

/// Where Redis is: one server, the master Redis Sentinel names, or the seed
/// nodes of a Redis Cluster.
#[derive(Clone, Debug)]
pub(crate) enum Target {
    Single(ConnectionInfo),
    Sentinel(Sentinel),
    Cluster(Vec<ConnectionInfo>),
}

impl Target {
    /// The cluster seeded by `cluster_nodes`, else the master the `sentinels`
    /// name, else the single server at `redis_url`.
    pub(crate) fn parse(cfg: &crate::config::Redis) -> RedisResult<Target> {
        let url = cfg.redis_url.as_str().into_connection_info()?;
        if cfg.cluster_nodes.is_empty() && !cfg.sentinels.is_empty() {
            return Ok(Target::Sentinel(Sentinel::new(cfg, url.redis)?));
        }
        if cfg.cluster_nodes.is_empty() {
            return Ok(Target::Single(url));
        }
        let seeds = cfg
            .cluster_nodes
            .iter()
            .map(|n| n.as_str().into_connection_info());
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
    Single {
        conn: MultiplexedConnection,
        /// With Sentinel: the link's watch ends once every clone of it is dropped.
        _watched: Option<Arc<()>>,
    },
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
            Target::Single(info) => Conn::single(info.clone(), options).await,
            Target::Sentinel(sentinel) => {
                let master = sentinel.master().await?;
                let Conn::Single { mut conn, .. } = Conn::single(master.clone(), options).await?
                else {
                    unreachable!("one server's connection")
                };
                let id = ::redis::cmd("CLIENT")
                    .arg("ID")
                    .query_async(&mut conn)
                    .await?;
                let alive = Arc::new(());
                let watch = sentinel.clone().watch(master, id, Arc::downgrade(&alive));
                tokio::spawn(watch);
                let _watched = Some(alive);
                Ok(Conn::Single { conn, _watched })
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

    /// One server's connection.
    async fn single<F>(mut info: ConnectionInfo, options: Options<F>) -> RedisResult<Conn>
    where
        F: Fn(PushInfo) -> Result<(), ()> + Send + Sync + 'static,
    {
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
        Ok(Conn::Single {
            conn,
            _watched: None,
        })
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
            Conn::Single { conn: c, .. } => c.req_packed_command(cmd),
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
            Conn::Single { conn: c, .. } => c.req_packed_commands(pipe, offset, count),
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
            Conn::Single { conn: c, .. } => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
