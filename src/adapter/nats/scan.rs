//! Many entries of a bucket at once: an ordered consumer that delivers the last
//! value of every key matching a pattern, read until nothing is pending.

use super::chan::{kv_err, KvError};
use async_nats::jetstream::consumer::push::OrderedConfig;
use async_nats::jetstream::consumer::{DeliverPolicy, ReplayPolicy};
use async_nats::jetstream::kv::Store;
use async_nats::Client;
use bytes::Bytes;
use futures_util::StreamExt;
use std::time::Duration;

/// A live key and its value.
pub struct Item {
    pub key: String,
    pub value: Bytes,
}

/// Longest wait for the next entry of a scan.
const STALL: Duration = Duration::from_secs(5);

/// The live entries whose keys match `pattern` (NATS wildcards `*`, `>`).
pub async fn scan(client: &Client, kv: &Store, pattern: &str) -> Result<Vec<Item>, KvError> {
    let consumer = kv
        .stream
        .create_consumer(OrderedConfig {
            deliver_subject: client.new_inbox(),
            filter_subject: format!("{}{pattern}", kv.prefix),
            deliver_policy: DeliverPolicy::LastPerSubject,
            replay_policy: ReplayPolicy::Instant,
            ..Default::default()
        })
        .await
        .map_err(kv_err)?;
    let mut out = Vec::new();
    if consumer.cached_info().num_pending == 0 {
        return Ok(out);
    }
    let mut messages = consumer.messages().await.map_err(kv_err)?;
    loop {
        let next = tokio::time::timeout(STALL, messages.next()).await;
        let msg = match next {
            Ok(Some(Ok(msg))) => msg,
            Ok(Some(Err(e))) => return Err(kv_err(e)),
            Ok(None) => return Ok(out),
            Err(_) => return Err(KvError::JetStream("scan stalled".into())),
        };
        let pending = msg.info().map_err(kv_err)?.pending;
        let deleted = msg
            .headers
            .as_ref()
            .and_then(|h| h.get("KV-Operation"))
            .is_some_and(|op| matches!(op.as_str(), "DEL" | "PURGE"));
        if let (false, Some(key)) = (deleted, msg.subject.as_str().strip_prefix(&kv.prefix)) {
            out.push(Item {
                key: key.to_string(),
                value: msg.payload.clone(),
            });
        }
        if pending == 0 {
            return Ok(out);
        }
    }
}
