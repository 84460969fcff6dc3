//! The handle through which senders hand jobs to a durable queue's task (the
//! Redis stream or SQS): a bounded buffer of jobs and flush requests, the same
//! for every queue; each queue's task reads it ([`Push`]) its own way.

use super::queue::Job;
use tokio::sync::{mpsc, oneshot};

pub(crate) enum Push {
    Job(Job),
    /// Answered once everything queued before it is in the queue.
    Flush(oneshot::Sender<()>),
}

/// The handle senders push jobs through.
pub(crate) struct Producer {
    tx: mpsc::Sender<Push>,
}

impl Producer {
    /// A handle with room for `buffer` jobs, and what its task reads.
    pub(crate) fn new(buffer: usize) -> (Producer, mpsc::Receiver<Push>) {
        let (tx, rx) = mpsc::channel(buffer.max(1));
        (Producer { tx }, rx)
    }

    /// Whether the task reading it has ended.
    pub(crate) fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Queue a job without waiting; `false` when the buffer is full.
    pub(crate) fn push(&self, job: Job) -> bool {
        self.tx.try_send(Push::Job(job)).is_ok()
    }

    /// Wait until the jobs pushed so far are in the queue (callers bound the wait).
    pub(crate) async fn flush(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Push::Flush(done)).await.is_ok() {
            let _ = wait.await;
        }
    }
}
