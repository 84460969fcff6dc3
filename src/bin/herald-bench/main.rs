//! herald-bench: an open-loop load generator for any Pusher-protocol (v7)
//! server. It opens WebSocket subscribers with its own minimal client, signs
//! HTTP publishes (`POST /apps/{id}/events`) on keep-alive connections, and
//! measures end-to-end latency from the intended send time carried in every
//! payload, delivery ratio, and the server's CPU and RSS from /proc.
//!
//! Scenarios: idle, fanout, channels, publish, churn, slow, latency, all;
//! and `soak` (not part of `all`: see soak.rs and scripts/soak.sh).
//! `--procs N` spreads the subscribers over N processes (`fleet.rs`).
//! See BENCHMARKS.md for the method and results.

mod fleet;
mod hist;
mod procstat;
mod publisher;
mod scenarios;
mod soak;
mod subs;
mod ws;

use clap::Parser;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};

#[derive(Parser, Debug, Clone)]
#[command(
    name = "herald-bench",
    about = "Open-loop benchmark for Pusher-protocol servers"
)]
pub struct Opts {
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    #[arg(long, default_value_t = 6001)]
    pub port: u16,
    #[arg(long, default_value = "app-id")]
    pub app_id: String,
    #[arg(long, default_value = "app-key")]
    pub key: String,
    #[arg(long, default_value = "app-secret")]
    pub secret: String,
    /// Hosts for subscribers (comma list, round-robin); default --host
    #[arg(long)]
    pub sub_hosts: Option<String>,
    /// Ports for subscribers (comma list, round-robin), e.g. 6001,6002; default --port
    #[arg(long)]
    pub sub_ports: Option<String>,
    /// Host for HTTP publishes; default --host
    #[arg(long)]
    pub pub_host: Option<String>,
    /// Port for HTTP publishes; default --port
    #[arg(long)]
    pub pub_port: Option<u16>,
    /// Server process id: RSS from /proc/PID/status, CPU from /proc/PID/stat.
    /// A comma list (the nodes of a cluster) reports their sums.
    #[arg(long)]
    pub server_pid: Option<String>,
    /// Start this server binary on a free port with a temporary config and benchmark it
    #[arg(long)]
    pub spawn: Option<PathBuf>,
    /// idle | fanout | channels | publish | churn | slow | latency | all (comma list allowed)
    #[arg(long, default_value = "all")]
    pub scenario: String,
    /// Number of subscribers (scenario-specific default)
    #[arg(long)]
    pub subscribers: Option<usize>,
    /// Number of channels (channels scenario; presence channels in churn)
    #[arg(long)]
    pub channels: Option<usize>,
    /// Publish rate per second: run only this rate instead of the sweep
    #[arg(long)]
    pub rate: Option<f64>,
    /// Seconds per measured step
    #[arg(long, default_value_t = 3.0)]
    pub duration: f64,
    /// Payload (`data`) size in bytes: run only this size instead of 100 B and 1 KiB
    #[arg(long)]
    pub payload: Option<usize>,
    /// Concurrent keep-alive HTTP publisher connections (one thread each)
    #[arg(long)]
    pub publishers: Option<usize>,
    /// Events per publish request: 1 = `POST /events`, 2..=10 = `POST /batch_events`
    /// (default: 1, and the publish scenario adds a run with 10)
    #[arg(long)]
    pub batch: Option<usize>,
    /// Tag every JSON record with `"label": TEXT` (to tell runs apart in one file)
    #[arg(long)]
    pub label: Option<String>,
    /// Append one JSON record per measured step to this file (JSON lines)
    #[arg(long)]
    pub json: Option<PathBuf>,
    /// Spread subscriber connections over this many source addresses 127.0.0.1..N
    #[arg(long, default_value_t = 1)]
    pub src_ips: u32,
    /// Handshakes in flight while opening connections
    #[arg(long, default_value_t = 256)]
    pub connect_concurrency: usize,
    /// Ramp: open at most this many connections per second in all (default: as
    /// fast as --connect-concurrency allows)
    #[arg(long)]
    pub connect_rate: Option<f64>,
    /// Share of subscribers that stop reading in the slow scenario
    #[arg(long, default_value_t = 0.1)]
    pub slow_share: f64,
    /// Tiny sizes for a CI smoke test (a few subscribers, 2 s steps)
    #[arg(long)]
    pub smoke: bool,
    /// Generator processes holding subscribers (each may hold up to ~19,900
    /// sockets and reads on its own core); this one is the first
    #[arg(long, default_value_t = 1)]
    pub procs: usize,
    /// Soak: the nodes' pids, rewritten when a node restarts (comma or space list)
    #[arg(long)]
    pub pid_file: Option<PathBuf>,
    /// Soak: inject faults by running `CMD kill N`, `CMD start N`, `CMD redis-stop`, `CMD redis-start`
    #[arg(long)]
    pub fault_hook: Option<String>,
    /// Soak: seconds of warm-up before the baseline (default: a tenth of --duration, 10..120)
    #[arg(long)]
    pub warmup: Option<f64>,
    /// Soak: seconds between table rows
    #[arg(long, default_value_t = 10.0)]
    pub interval: f64,
    /// Soak: seconds to wait after everyone left before sampling RSS and descriptors
    #[arg(long, default_value_t = 5.0)]
    pub settle: f64,
    /// Soak: write the table (TSV) here too
    #[arg(long)]
    pub report: Option<PathBuf>,
    /// Soak: RSS at the end may exceed the baseline by this many MiB ...
    #[arg(long, default_value_t = 16)]
    pub rss_margin_mib: u64,
    /// Soak: ... or by this percentage of the baseline, whichever is larger
    #[arg(long, default_value_t = 25)]
    pub rss_margin_pct: u64,
    /// Soak: descriptors at the end may exceed the baseline by this many
    #[arg(long, default_value_t = 2)]
    pub fd_margin: u64,
    /// Soak: members who left while Redis was down and are still listed at the end are
    /// reported, not failed (the known gap when Redis restarts without its data)
    #[arg(long)]
    pub allow_presence_gap: bool,
    /// Internal: serve subscriber commands from stdin (started by --procs)
    #[arg(long, hide = true)]
    pub worker: bool,
}

impl Opts {
    /// The ports subscribers connect to: `--sub-ports`, else `--port`.
    pub fn sub_port_list(&self) -> anyhow::Result<Vec<u16>> {
        match self.sub_ports.as_deref() {
            Some(s) => Ok(s
                .split(',')
                .map(|p| p.trim().parse())
                .collect::<Result<_, _>>()?),
            None => Ok(vec![self.port]),
        }
    }
}

pub fn resolve(host: &str, port: u16) -> anyhow::Result<SocketAddr> {
    (host, port)
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| anyhow::anyhow!("cannot resolve {host}:{port}"))
}

/// A server started by `--spawn`, killed on drop.
struct Spawned(std::process::Child, PathBuf);
impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        let _ = std::fs::remove_file(&self.1);
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

/// Write the server's temporary config; with `extra`, also a loopback metrics
/// listener on a free port and no node connection cap.
fn write_config(opts: &Opts, port: u16, extra: bool) -> anyhow::Result<PathBuf> {
    let cfg = std::env::temp_dir().join(format!("herald-bench-{}.toml", std::process::id()));
    let extra_lines = if extra {
        format!(
            "metrics_host = \"127.0.0.1\"\nmetrics_port = {}\nmax_node_connections = 1000000\n",
            free_port()?
        )
    } else {
        String::new()
    };
    std::fs::write(
        &cfg,
        format!(
            "[server]\nhost = \"127.0.0.1\"\nport = {port}\n{extra_lines}\n[[apps]]\nid = \"{}\"\nkey = \"{}\"\nsecret = \"{}\"\nmax_client_events_per_sec = -1\n",
            opts.app_id, opts.key, opts.secret
        ),
    )?;
    Ok(cfg)
}

/// Wait until the spawned server listens on `port` (it must not exit; 15 s at most).
fn wait_listening(guard: &mut Spawned, bin: &Path, addr: SocketAddr) -> anyhow::Result<()> {
    let port = addr.port();
    let t0 = std::time::Instant::now();
    loop {
        if std::net::TcpStream::connect(addr).is_ok() {
            return Ok(());
        }
        if let Ok(Some(status)) = guard.0.try_wait() {
            anyhow::bail!("{} exited: {status}", bin.display());
        }
        if t0.elapsed().as_secs() > 15 {
            anyhow::bail!("{} did not listen on {port}", bin.display());
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Start the server with a temporary config. A first attempt also moves
/// herald's second (health/metrics) listener to a free loopback port and lifts
/// its node connection cap to the descriptor limit (the capacity scenario holds
/// 19,900 sockets; the default cap keeps a sixteenth back); if the binary rejects
/// those keys (older herald, or another server), retry without them.
fn spawn_server(opts: &mut Opts, bin: &PathBuf) -> anyhow::Result<Spawned> {
    let mut last_err = None;
    for extra in [true, false] {
        let port = free_port()?;
        let cfg = write_config(opts, port, extra)?;
        let child = std::process::Command::new(bin)
            .arg("--config")
            .arg(&cfg)
            .arg("--port")
            .arg(port.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::inherit())
            .spawn()?;
        let mut guard = Spawned(child, cfg);
        let addr = resolve("127.0.0.1", port)?;
        if let Err(e) = wait_listening(&mut guard, bin, addr) {
            last_err = Some(e);
            continue;
        }
        opts.host = "127.0.0.1".into();
        opts.port = port;
        opts.server_pid = Some(guard.0.id().to_string());
        eprintln!(
            "herald-bench: started {} (pid {}) on 127.0.0.1:{port}",
            bin.display(),
            guard.0.id()
        );
        return Ok(guard);
    }
    Err(last_err.unwrap_or_else(|| anyhow::anyhow!("could not start the server")))
}

fn main() -> anyhow::Result<()> {
    let mut opts = Opts::parse();
    if opts.worker {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        return tokio::task::LocalSet::new().block_on(&rt, fleet::worker_main(opts));
    }
    if opts.scenario == "soak" {
        return soak::main(opts);
    }
    let server = match opts.spawn.clone() {
        Some(bin) => Some(spawn_server(&mut opts, &bin)?),
        None => None,
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    // only `idle` delivers nothing
    let delivers = opts.scenario.split(',').any(|s| s.trim() != "idle");
    let delivered = local.block_on(&rt, scenarios::run_all(opts));
    drop(server);
    let delivered = delivered?;
    if delivered == 0 && delivers {
        eprintln!("herald-bench: FAILED: zero deliveries");
        std::process::exit(1);
    }
    Ok(())
}
