//! Many entries of a bucket at once: the stream's subjects matching a pattern
//! (one stream-info request, paged), then each key's last value (direct gets,
//! 32 at a time). Requests and answers only: an ordered push consumer would
//! race its first messages against its own subscription and stall on a busy
//! server.

use super::chan::{kv_err, KvError};
use async_nats::jetstream::kv::{Operation, Store};
use bytes::Bytes;
use futures_util::{StreamExt, TryStreamExt};

/// A live key and its value.
pub(crate) struct Item {
    pub key: String,
    pub value: Bytes,
}

/// Gets in flight at once.
const IN_FLIGHT: usize = 32;

/// The live entries whose keys match `pattern` (NATS wildcards `*`, `>`).
pub(crate) async fn scan(kv: &Store, pattern: &str) -> Result<Vec<Item>, KvError> {
    let filter = format!("{}{pattern}", kv.prefix);
    let subjects = kv.stream.info_with_subjects(filter).await.map_err(kv_err)?;
    let keys: Vec<String> = subjects
        .map_err(kv_err)
        .try_filter_map(|(subject, _)| async move {
            Ok(subject.strip_prefix(&kv.prefix).map(str::to_string))
        })
        .try_collect()
        .await?;
    let entries = futures_util::stream::iter(keys)
        .map(|key| async move { kv.entry(key).await.map_err(kv_err) })
        .buffer_unordered(IN_FLIGHT)
        .try_collect::<Vec<_>>()
        .await?;
    let live = entries.into_iter().flatten();
    let items = live
        .filter(|e| e.operation == Operation::Put)
        .map(|e| Item {
            key: e.key,
            value: e.value,
        });
    Ok(items.collect())
}
