//! Where the listening sockets come from, and how a leaving node lets go of
//! its own so that a restart costs clients no refused connection.
//!
//! - **Inherited** (systemd socket activation: `LISTEN_PID` is this process,
//!   `LISTEN_FDS` ≥ 1): descriptor 3 is the main port, 4 (if passed) the metrics
//!   port. systemd keeps the socket across `systemctl restart`, so the kernel
//!   queues connection attempts while no herald runs, and the next one takes them.
//! - **Bound** with `SO_REUSEPORT` (and `SO_REUSEADDR`): a new herald binds the
//!   same port while the old one still serves, and the kernel spreads new
//!   connections over both. The leaving one closes its socket first, after
//!   taking what is already queued on it (a closing `SO_REUSEPORT` socket resets
//!   its queue), so from then on every new connection reaches the new process.

use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// How a listener was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// From the service manager, which keeps its own copy.
    Inherited,
    /// Bound by this process (`SO_REUSEPORT`).
    Bound,
}

/// A listening socket and where it came from.
#[derive(Debug)]
pub struct Listener {
    pub socket: TcpListener,
    pub origin: Origin,
}

impl Listener {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.socket.local_addr()
    }
}

impl From<TcpListener> for Listener {
    fn from(socket: TcpListener) -> Listener {
        Listener {
            socket,
            origin: Origin::Bound,
        }
    }
}

/// Bind with a deep backlog so connection storms do not overflow it, with
/// `SO_REUSEPORT` so that a new herald can bind beside this one.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(4096)
}

/// The listeners systemd passed (main port first, then the metrics port), if
/// it passed any to this process. Reads and clears `LISTEN_FDS` and `LISTEN_PID`.
pub fn inherited() -> std::io::Result<(Option<Listener>, Option<Listener>)> {
    let mut fds = listenfd::ListenFd::from_env();
    let mut take = |i| -> std::io::Result<Option<Listener>> {
        let Some(std) = fds.take_tcp_listener(i)? else {
            return Ok(None);
        };
        std.set_nonblocking(true)?;
        Ok(Some(Listener {
            socket: TcpListener::from_std(std)?,
            origin: Origin::Inherited,
        }))
    };
    let main = take(0)?;
    let metrics = take(1)?;
    Ok((main, metrics))
}

/// Stop listening. A bound socket first hands over the connections the kernel
/// already queued on it (they would be reset), an inherited one leaves them
/// queued for the next process.
pub(crate) fn close(listener: Listener) -> Vec<(TcpStream, SocketAddr)> {
    let mut queued = Vec::new();
    if listener.origin == Origin::Inherited {
        return queued;
    }
    let std = match listener.socket.into_std() {
        Ok(std) => std,
        Err(e) => {
            tracing::warn!(error = %e, "cannot take the queued connections");
            return queued;
        }
    };
    // Non-blocking already (tokio's), so this ends at the first WouldBlock.
    while let Ok((stream, peer)) = std.accept() {
        match stream
            .set_nonblocking(true)
            .and_then(|()| TcpStream::from_std(stream))
        {
            Ok(stream) => queued.push((stream, peer)),
            Err(e) => tracing::warn!(error = %e, "cannot serve a queued connection"),
        }
    }
    queued
}
