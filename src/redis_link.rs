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
    AsyncConnectionConfig, Cmd, ConnectionAddr, ConnectionInfo, ErrorKind, IntoConnectionInfo,
    Pipeline, ProtocolVersion, PushInfo, RedisConnectionInfo, RedisError, RedisFuture, RedisResult,
    Value,
};
use futures_util::FutureExt;
use std::time::Duration;

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

/// Redis Sentinel: the sentinels (with their password) and the master's name and login.
#[derive(Clone, Debug)]
pub(crate) struct Sentinel {
    sentinels: Vec<ConnectionInfo>,
    master: String,
    login: RedisConnectionInfo,
}

impl Sentinel {
    fn new(cfg: &crate::config::Redis, login: RedisConnectionInfo) -> RedisResult<Sentinel> {
        let sentinel = |node: &String| {
            let (host, port) = node.rsplit_once(':').unwrap_or((node, "26379"));
            let port = port
                .parse()
                .map_err(|_| bad(format!("sentinel {node:?}")))?;
            let login = RedisConnectionInfo {
                password: cfg.sentinel_password.clone(),
                ..Default::default()
            };
            let addr = ConnectionAddr::Tcp(host.trim_matches(['[', ']']).into(), port);
            Ok(ConnectionInfo { addr, redis: login })
        };
        Ok(Sentinel {
            sentinels: cfg
                .sentinels
                .iter()
                .map(sentinel)
                .collect::<RedisResult<_>>()?,
            master: cfg.master_name.clone(),
            login,
        })
    }

    /// The master: the first address a sentinel names (in the configured order)
    /// that answers `ROLE` as a master.
    async fn master(&self) -> RedisResult<ConnectionInfo> {
        let mut last = bad("no sentinel configured".into());
        for sentinel in &self.sentinels {
            match self.named_by(sentinel).await {
                Ok(info) => return Ok(info),
                Err(e) => last = e,
            }
        }
        tracing::debug!(error = %last, master = %self.master, "no sentinel named a live master");
        Err(last)
    }

    async fn named_by(&self, sentinel: &ConnectionInfo) -> RedisResult<ConnectionInfo> {
        let mut conn = short(sentinel).await?;
        let mut ask = ::redis::cmd("SENTINEL");
        ask.arg("get-master-addr-by-name").arg(&self.master);
        let named: Option<(String, u16)> = ask.query_async(&mut conn).await?;
        let (host, port) = named.ok_or_else(|| bad(format!("unknown master {:?}", self.master)))?;
        let info = ConnectionInfo {
            addr: ConnectionAddr::Tcp(host, port),
            redis: self.login.clone(),
        };
        let role: Vec<Value> = ::redis::cmd("ROLE")
            .query_async(&mut short(&info).await?)
            .await?;
        match role.first() {
            Some(Value::BulkString(r)) if r == b"master" => Ok(info),
            _ => Err(bad(format!("{:?} is not the master (yet)", info.addr))),
        }
    }
}

/// How often a connection to the master checks that the sentinels still name it.
const WATCH: Duration = Duration::from_secs(1);

impl Sentinel {
    /// Close `conn` (to the master at `at`) once the sentinels name another one,
    /// so that its users reconnect to it: after a planned failover the old master
    /// keeps answering as one for seconds. Ends when the connection does.
    async fn watch(self, mut conn: MultiplexedConnection, at: String) {
        let Ok(id) = ::redis::cmd("CLIENT")
            .arg("ID")
            .query_async::<i64>(&mut conn)
            .await
        else {
            return;
        };
        loop {
            tokio::time::sleep(WATCH).await;
            if ::redis::cmd("PING")
                .query_async::<()>(&mut conn)
                .await
                .is_err()
            {
                return;
            }
            let Ok(named) = self.master().await else {
                continue;
            };
            if named.addr.to_string() != at {
                tracing::warn!(old = %at, new = %named.addr, "Redis Sentinel names another master: reconnecting");
                let mut kill = ::redis::cmd("CLIENT");
                kill.arg("KILL").arg("ID").arg(id).arg("SKIPME").arg("no");
                let _ = kill.query_async::<()>(&mut conn).await;
                return;
            }
        }
    }
}

fn bad(what: String) -> RedisError {
    RedisError::from((
        ErrorKind::MasterNameNotFoundBySentinel,
        "Redis Sentinel",
        what,
    ))
}

/// A connection for one question, with the link's deadlines.
async fn short(info: &ConnectionInfo) -> RedisResult<MultiplexedConnection> {
    let config = AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT);
    let client = ::redis::Client::open(info.clone())?;
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
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
            Target::Single(info) => Conn::single(info.clone(), options).await,
            Target::Sentinel(sentinel) => {
                let master = sentinel.master().await?;
                let at = master.addr.to_string();
                let conn = Conn::single(master, options).await?;
                if let Conn::Single(c) = &conn {
                    tokio::spawn(sentinel.clone().watch(c.clone(), at));
                }
                Ok(conn)
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
        Ok(Conn::Single(conn))
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
