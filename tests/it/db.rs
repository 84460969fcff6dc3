//! What the app-table tests (PostgreSQL, MariaDB) share: who we run as, herald
//! started with `SOKETI_*` variables only, and waiting for it to listen.

use crate::support::free_port;
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Whether this process runs as root, read from /proc (no libc call needed).
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .is_some_and(|l| l.split_whitespace().nth(1) == Some("0"))
    })
}

/// herald on `port` with nothing but these variables (and a 1 s app refresh),
/// as a Soketi container would run it. Its output (logs on stdout, a failed
/// start on stderr) is kept for the test to read: small at the `warn` default.
pub fn herald_with(port: u16, vars: &[(&str, String)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_herald"))
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HERALD_LOG", "warn")
        .env("SOKETI_PORT", port.to_string())
        .env("SOKETI_METRICS_ENABLED", "false")
        .env("SOKETI_METRICS_SERVER_PORT", free_port().to_string())
        .env("SOKETI_APP_MANAGER_CACHE_TTL", "1")
        .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

pub async fn wait_listening(addr: SocketAddr) {
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("herald did not listen on {addr}");
}
