//! Thread per core: the node serves its connections on `threads` single-threaded
//! runtimes instead of one work-stealing pool.
//!
//! The runtime that calls [`crate::server::run`] accepts every connection and keeps
//! every `threads`-th one; the others go, round-robin, to a shard thread that serves
//! them to the end on its own current-thread runtime. A request and its reply, a
//! socket's reads and its task's writes, all stay on one thread: no worker wakes
//! another to steal work, which on a small VM costs about as much CPU as the work
//! itself (BENCHMARKS.md: 47–48 µs of CPU per publish at 10k/s instead of 65–66 µs,
//! 48–56 µs instead of 98–102 µs at 1k/s with one subscriber).
//! Fan-outs still reach every shard: a publisher writes to small audiences itself,
//! from any thread, and has the sockets' own runtimes wake their tasks for large
//! ones (`crate::socket::wake`).

use super::Edge;
use crate::capacity::Pass;
use crate::node::Node;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// The shard threads beyond the calling runtime, and whose turn is next.
pub(crate) struct Shards {
    others: Vec<mpsc::UnboundedSender<(std::net::TcpStream, Pass)>>,
    next: usize,
}

impl Shards {
    /// Start `threads - 1` shard threads (none for 0 or 1). They end, dropping
    /// whatever they still serve, once `Shards` is dropped.
    pub(crate) fn start(threads: usize, edge: Edge, node: Arc<Node>) -> Shards {
        let mut others = Vec::new();
        for k in 1..threads {
            let (tx, rx) = mpsc::unbounded_channel();
            let (edge, node) = (edge.clone(), node.clone());
            let spawned = std::thread::Builder::new()
                .name(format!("herald-shard-{k}"))
                .spawn(move || serve(rx, edge, node));
            match spawned {
                Ok(_) => others.push(tx),
                Err(e) => tracing::error!(error = %e, shard = k, "cannot start a shard thread"),
            }
        }
        Shards { others, next: 0 }
    }

    /// Threads serving connections, the caller's included.
    pub(crate) fn threads(&self) -> usize {
        self.others.len() + 1
    }

    /// Hand the connection to the next shard, or give it back when it is the
    /// caller's turn (or its shard is gone).
    pub(crate) fn hand_off(&mut self, stream: TcpStream, pass: Pass) -> Option<(TcpStream, Pass)> {
        self.next = (self.next + 1) % self.threads();
        let Some(shard) = self.next.checked_sub(1).map(|i| &self.others[i]) else {
            return Some((stream, pass));
        };
        match stream.into_std() {
            Ok(std) => match shard.send((std, pass)) {
                Ok(()) => None,
                Err(back) => {
                    let (std, pass) = back.0;
                    TcpStream::from_std(std).ok().map(|s| (s, pass))
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot hand a connection to a shard");
                None
            }
        }
    }
}

/// A shard thread: serve each connection handed over until the sender is dropped.
fn serve(
    mut rx: mpsc::UnboundedReceiver<(std::net::TcpStream, Pass)>,
    edge: Edge,
    node: Arc<Node>,
) {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return tracing::error!(error = %e, "cannot start a shard runtime"),
    };
    rt.block_on(async move {
        crate::socket::home::register_current();
        while let Some((std, pass)) = rx.recv().await {
            match TcpStream::from_std(std) {
                Ok(stream) => {
                    tokio::spawn(super::accept(stream, pass, edge.clone(), node.clone()));
                    tokio::task::yield_now().await;
                }
                Err(e) => tracing::warn!(error = %e, "shard cannot register a connection"),
            }
        }
    });
}
