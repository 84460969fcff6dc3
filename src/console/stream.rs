//! A watcher's Server-Sent Events stream: records as `data:` lines, batched
//! per write, a keep-alive comment while nothing happens, and `event: dropped`
//! when the watcher's queue overflowed (also counted in metrics).

use super::Body;
use crate::metrics::AppMetrics;
use crate::tap::{Record, Watch};
use bytes::Bytes;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use std::convert::Infallible;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

/// A comment line this often keeps proxies from closing an idle stream and
/// lets the server notice a watcher that went away.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Records written together at most.
const BATCH: usize = 256;

struct Streamer {
    watch: Watch,
    label: String,
    metrics: Arc<AppMetrics>,
    reported: u64,
    started: bool,
}

/// The stream's body; dropping it (the watcher left) ends the watch.
pub(crate) fn body(watch: Watch, label: String, metrics: Arc<AppMetrics>) -> Body {
    let streamer = Streamer {
        watch,
        label,
        metrics,
        reported: 0,
        started: false,
    };
    let chunks = futures_util::stream::unfold(streamer, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, Infallible>(Frame::data(chunk)), s))
    });
    StreamBody::new(chunks).boxed()
}

impl Streamer {
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let mut out = String::new();
        if !self.started {
            self.started = true;
            let hello = serde_json::json!({ "node": self.label });
            let _ = write!(out, "retry: 2000\nevent: hello\ndata: {hello}\n\n");
            return Some(out.into());
        }
        let first = tokio::select! {
            got = self.watch.rx.recv() => Some(got?),
            () = tokio::time::sleep(KEEP_ALIVE) => None,
        };
        match first {
            None => out.push_str(": keep-alive\n\n"),
            Some(record) => {
                self.push(&mut out, &record);
                for _ in 1..BATCH {
                    let Ok(record) = self.watch.rx.try_recv() else {
                        break;
                    };
                    self.push(&mut out, &record);
                }
            }
        }
        self.report_dropped(&mut out);
        Some(out.into())
    }

    /// One record, its node named (this node's own carry none).
    fn push(&self, out: &mut String, record: &Arc<Record>) {
        let json = match &record.node {
            Some(_) => serde_json::to_string(record.as_ref()),
            None => {
                let mut named = Record::clone(record);
                named.node = Some(self.label.clone());
                serde_json::to_string(&named)
            }
        };
        if let Ok(json) = json {
            let _ = write!(out, "data: {json}\n\n");
        }
    }

    fn report_dropped(&mut self, out: &mut String) {
        let dropped = self.watch.dropped.load(Ordering::Relaxed);
        if dropped > self.reported {
            self.metrics.console_dropped(dropped - self.reported);
            self.reported = dropped;
            let _ = write!(out, "event: dropped\ndata: {{\"dropped\":{dropped}}}\n\n");
        }
    }
}
