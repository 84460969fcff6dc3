//! The queue's connections: to one Redis, or to the Redis Cluster the adapter is
//! seeded with (commands routed by their key's slot). Every command the queue
//! sends names at most one key and no pipeline mixes keys, so the same commands
//! work on both; a worker's heartbeat key and the stream may live on different
//! masters.

use crate::config::RedisQueue;
use ::redis::aio::{ConnectionLike, MultiplexedConnection};
use ::redis::cluster::{ClusterClient, ClusterConfig};
use ::redis::cluster_async::ClusterConnection;
use ::redis::{AsyncConnectionConfig, Cmd, Pipeline, RedisFuture, RedisResult, Value};
use std::time::Duration;

/// How long opening a connection may take.
const CONNECT: Duration = Duration::from_secs(2);

/// Where the queue lives: one server, or a cluster's seed nodes.
#[derive(Clone)]
pub(super) enum Target {
    Single(::redis::Client),
    Cluster(ClusterClient),
}

impl Target {
    /// The cluster when `queue` names seed nodes, else the server at its URL.
    pub fn new(queue: &RedisQueue) -> RedisResult<Target> {
        if queue.cluster_nodes.is_empty() {
            return Ok(Target::Single(::redis::Client::open(
                queue.redis_url.as_str(),
            )?));
        }
        let seeds: Vec<&str> = queue.cluster_nodes.iter().map(String::as_str).collect();
        Ok(Target::Cluster(ClusterClient::new(seeds)?))
    }

    /// A connection of the queue's own (never the adapter's), with deadlines.
    pub async fn connect(&self, response: Duration) -> RedisResult<Conn> {
        match self {
            Target::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(CONNECT)
                    .set_response_timeout(response);
                let conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                Ok(Conn::Single(conn))
            }
            Target::Cluster(client) => {
                let config = ClusterConfig::new()
                    .set_connection_timeout(CONNECT)
                    .set_response_timeout(response);
                let conn = client.get_async_connection_with_config(config).await?;
                Ok(Conn::Cluster(conn))
            }
        }
    }
}

/// A connection of either kind.
#[derive(Clone)]
pub(super) enum Conn {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
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
            Conn::Cluster(c) => c.req_packed_commands(pipe, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Single(c) => c.get_db(),
            Conn::Cluster(c) => c.get_db(),
        }
    }
}
