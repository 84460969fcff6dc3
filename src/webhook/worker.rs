//! A running queue worker (Redis or SQS): its loop, told when to stop.

use tokio::sync::oneshot;
use tokio::time::Instant;

/// A queue worker's loop and the way to stop it.
pub(crate) struct Worker {
    stop: oneshot::Sender<Instant>,
    done: tokio::task::JoinHandle<()>,
}

impl Worker {
    /// Spawn `run`, which ends once told (at most at the instant it is given).
    pub(crate) fn spawn<F>(run: impl FnOnce(oneshot::Receiver<Instant>) -> F) -> Worker
    where
        F: std::future::Future<Output = ()> + Send + 'static,
    {
        let (stop, stopped) = oneshot::channel();
        let done = tokio::spawn(run(stopped));
        Worker { stop, done }
    }

    /// Stop taking jobs, let deliveries in flight finish until `until`, then
    /// leave what is left to other workers at once (and wait for it).
    pub(crate) async fn stop(self, until: Instant) {
        let _ = self.stop.send(until);
        let _ = self.done.await;
    }
}
