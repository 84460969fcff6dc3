//! Redis Sentinel: which server is the master. The sentinels are asked in the
//! configured order; the address the first answering one names must answer
//! `ROLE` as a master. A link to the master is watched: once the sentinels name
//! another master (a planned failover leaves the old one answering as a master
//! for seconds), the link is closed from outside, so its users reconnect.

use super::TIMEOUT;
use ::redis::aio::MultiplexedConnection;
use ::redis::{
    ConnectionAddr, ConnectionInfo, ErrorKind, RedisConnectionInfo, RedisError, RedisResult, Value,
};
use std::sync::Weak;
use std::time::Duration;

/// How often a link to the master checks that the sentinels still name it.
const WATCH: Duration = Duration::from_secs(1);

/// The sentinels (with their password), the master's name and its login.
#[derive(Clone, Debug)]
pub(crate) struct Sentinel {
    sentinels: Vec<ConnectionInfo>,
    master: String,
    login: RedisConnectionInfo,
}

impl Sentinel {
    /// `login`: the master's username, password and database (from `redis_url`).
    pub(super) fn new(
        cfg: &crate::config::Redis,
        login: RedisConnectionInfo,
    ) -> RedisResult<Sentinel> {
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
        let sentinels = cfg.sentinels.iter().map(sentinel);
        Ok(Sentinel {
            sentinels: sentinels.collect::<RedisResult<_>>()?,
            master: cfg.master_name.clone(),
            login,
        })
    }

    /// The master: the first address a sentinel names that answers `ROLE` as one.
    pub(super) async fn master(&self) -> RedisResult<ConnectionInfo> {
        let mut last = bad("no sentinel configured".into());
        for sentinel in &self.sentinels {
            let info = match self.named_by(sentinel).await {
                Ok(info) => info,
                Err(e) => {
                    last = e;
                    continue;
                }
            };
            match is_master(&info).await {
                Ok(true) => return Ok(info),
                Ok(false) => last = bad(format!("{} is not the master (yet)", info.addr)),
                Err(e) => last = e,
            }
        }
        tracing::debug!(error = %last, master = %self.master, "no sentinel named a live master");
        Err(last)
    }

    /// The master's address as the first answering sentinel names it.
    async fn named(&self) -> RedisResult<ConnectionInfo> {
        let mut last = bad("no sentinel configured".into());
        for sentinel in &self.sentinels {
            match self.named_by(sentinel).await {
                Ok(info) => return Ok(info),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn named_by(&self, sentinel: &ConnectionInfo) -> RedisResult<ConnectionInfo> {
        let mut ask = ::redis::cmd("SENTINEL");
        ask.arg("get-master-addr-by-name").arg(&self.master);
        let named: Option<(String, u16)> = ask.query_async(&mut short(sentinel).await?).await?;
        let (host, port) = named.ok_or_else(|| bad(format!("unknown master {:?}", self.master)))?;
        Ok(ConnectionInfo {
            addr: ConnectionAddr::Tcp(host, port),
            redis: self.login.clone(),
        })
    }

    /// Every second while `alive` is: if the sentinels name (and `ROLE` confirms)
    /// another master than `at`, close the link (client `id` there) and end.
    pub(super) async fn watch(self, at: ConnectionInfo, id: i64, alive: Weak<()>) {
        let here = at.addr.to_string();
        loop {
            tokio::time::sleep(WATCH).await;
            if alive.strong_count() == 0 {
                return;
            }
            if self.named().await.is_ok_and(|n| n.addr.to_string() == here) {
                continue;
            }
            let Ok(new) = self.master().await else {
                continue;
            };
            if new.addr.to_string() != here {
                tracing::warn!(old = %here, new = %new.addr, "Redis Sentinel names another master: reconnecting");
                let mut kill = ::redis::cmd("CLIENT");
                kill.arg("KILL").arg("ID").arg(id);
                if let Ok(mut old) = short(&at).await {
                    let _ = kill.query_async::<()>(&mut old).await;
                }
                return;
            }
        }
    }
}

/// Whether the server answers `ROLE` as a master.
async fn is_master(info: &ConnectionInfo) -> RedisResult<bool> {
    let role: Vec<Value> = ::redis::cmd("ROLE")
        .query_async(&mut short(info).await?)
        .await?;
    Ok(matches!(role.first(), Some(Value::BulkString(r)) if r == b"master"))
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
    let config = ::redis::AsyncConnectionConfig::new()
        .set_connection_timeout(TIMEOUT)
        .set_response_timeout(TIMEOUT);
    let client = ::redis::Client::open(info.clone())?;
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sentinel(nodes: &[&str]) -> RedisResult<Sentinel> {
        let cfg = crate::config::Redis {
            redis_url: String::new(),
            cluster_nodes: Vec::new(),
            prefix: String::new(),
            sentinels: nodes.iter().map(|n| n.to_string()).collect(),
            master_name: "m".into(),
            sentinel_password: Some("spw".into()),
        };
        Sentinel::new(&cfg, RedisConnectionInfo::default())
    }

    #[test]
    fn sentinels_default_to_port_26379_and_carry_their_password() {
        let s = sentinel(&["10.0.0.1:26380", "s2", "[::1]:26381"]).unwrap();
        let addrs: Vec<String> = s.sentinels.iter().map(|i| i.addr.to_string()).collect();
        assert_eq!(addrs, ["10.0.0.1:26380", "s2:26379", "::1:26381"]);
        assert!(s
            .sentinels
            .iter()
            .all(|i| i.redis.password.as_deref() == Some("spw")));
        assert!(sentinel(&["s:notaport"]).is_err());
    }
}
