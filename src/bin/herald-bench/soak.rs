//! `--scenario soak`: hours of mixed, modest load that counts what every honest
//! subscriber lost, and checks that the nodes give their memory and descriptors back.
//!
//! Phases: a warm-up with the full load, then everything leaves and the nodes'
//! RSS and descriptors are sampled (the baseline); the soak itself (optionally with
//! faults: `--fault-hook CMD` is run as `CMD kill N`, `CMD start N`, `CMD redis-stop`,
//! `CMD redis-start`); then everything leaves again and the end is sampled. The
//! load, all at once: steady subscribers on every channel (private and presence ones
//! send client events), connect churn, subscribe churn, presence joins and leaves,
//! one signed HTTP publisher per node plus a busy channel, and stalled readers on it.
//! The ledger (`soak/ledger.rs`) says what was promised; see scripts/soak.sh.

mod client;
mod ledger;
mod load;
mod report;
mod state;
mod verdict;

use crate::publisher::PubCfg;
use crate::{resolve, Opts};
use ledger::Faults;
use load::Pubs;
use state::{Kind, Soak};
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// Rates of the load (modest on purpose: this is about correctness and leaks).
pub struct Rates {
    /// HTTP publishes per second, per node, spread over 15 channels
    pub publish: f64,
    /// events per second on the busy channel, `busy_payload` bytes each
    pub busy: f64,
    pub busy_payload: usize,
    /// steady subscribers per channel (spread over the nodes)
    pub steady: usize,
    /// new passers-by (connect churn) per second
    pub passers: f64,
    /// sockets hopping between channels
    pub hoppers: usize,
    /// new presence members per second
    pub members: f64,
    /// a new stalled reader every this many seconds, stalled this long
    pub stall_every: f64,
    pub stall_for: f64,
}

pub const RATES: Rates = Rates {
    publish: 20.0,
    busy: 100.0,
    busy_payload: 2000,
    steady: 3,
    passers: 4.0,
    hoppers: 6,
    members: 2.0,
    stall_every: 10.0,
    stall_for: 25.0,
};

pub fn main(o: Opts) -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let ok = tokio::task::LocalSet::new().block_on(&rt, run(o))?;
    if !ok {
        eprintln!("soak: FAILED");
        std::process::exit(1);
    }
    println!("soak: PASSED");
    Ok(())
}

fn node_addrs(o: &Opts) -> anyhow::Result<Vec<std::net::SocketAddr>> {
    let ports = o.sub_port_list()?;
    ports.iter().map(|p| resolve(&o.host, *p)).collect()
}

/// The pids of the nodes: `--pid-file` (rewritten when a node restarts) or `--server-pid`.
pub fn pids(o: &Opts) -> Vec<String> {
    let list = match &o.pid_file {
        Some(f) => std::fs::read_to_string(f).unwrap_or_default(),
        None => o.server_pid.clone().unwrap_or_default(),
    };
    (list.split([',', ' ', '\n']))
        .filter(|p| !p.is_empty())
        .map(String::from)
        .collect()
}

async fn run(o: Opts) -> anyhow::Result<bool> {
    let soak = Rc::new(Soak::new(node_addrs(&o)?, &o.key, &o.secret));
    let mut table = report::Table::new(&o, soak.nodes.len());
    let warmup = o.warmup.unwrap_or((o.duration / 10.0).clamp(10.0, 120.0));
    eprintln!(
        "soak: {} node(s), warm-up {warmup:.0} s, soak {:.0} s{}",
        soak.nodes.len(),
        o.duration,
        if o.fault_hook.is_some() {
            ", with faults"
        } else {
            ""
        }
    );
    let mut faults = Faults::default();
    phase(&o, &soak, &mut table, warmup, 0, None).await?;
    let baseline = report::quiet_sample(&o).await;
    eprintln!("soak: baseline after warm-up: {}", baseline.show());
    let log = phase(
        &o,
        &soak,
        &mut table,
        o.duration,
        1,
        o.fault_hook.as_deref(),
    )
    .await?;
    let end = report::quiet_sample(&o).await;
    eprintln!("soak: end: {}", end.show());
    if let Some(k) = log.kill {
        faults.kill = Some(k);
    }
    faults.redis = outage(&soak, &log);
    Ok(verdict::finish(
        &o, &soak, &table, &faults, &log, &baseline, &end,
    ))
}

/// The Redis outage: from the shutdown until the last node answered its last 503.
fn outage(soak: &Soak, log: &FaultLog) -> Option<(u64, u64)> {
    let down = log.redis_down?;
    let last_503 = (soak.ledger.borrow().pubs.iter().flatten())
        .filter(|r| r.status == 503 && r.send_ns >= down)
        .map(|r| r.done_ns)
        .max();
    Some((down, last_503.unwrap_or(log.redis_up.unwrap_or(down))))
}

/// The last fault injected (ns), for stalled readers to tell whether one happened
/// while they waited.
pub static FAULT_AT: AtomicU64 = AtomicU64::new(0);

fn fault_now() -> u64 {
    let t = crate::publisher::now_ns();
    FAULT_AT.store(t, Ordering::Relaxed);
    t
}

/// When the faults happened (ns of CLOCK_REALTIME).
#[derive(Default, Debug)]
pub struct FaultLog {
    pub kill: Option<(u8, u64)>,
    pub restarted: Option<u64>,
    pub redis_down: Option<u64>,
    pub redis_up: Option<u64>,
}

fn hook(cmd: &str, args: &[&str]) {
    let mut parts = cmd.split_whitespace();
    let Some(bin) = parts.next() else { return };
    let status = std::process::Command::new(bin)
        .args(parts)
        .args(args)
        .status();
    if !matches!(status, Ok(s) if s.success()) {
        eprintln!("soak: fault hook {cmd} {args:?} failed: {status:?}");
    }
}

/// The fault schedule, on its own thread: kill node 3 (index 2) at 30 % of the
/// soak and start it 4 s later; stop Redis at 60 % and start it 3 s later.
fn faults(cmd: String, secs: f64, nodes: usize) -> std::thread::JoinHandle<FaultLog> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let at = |f: f64| {
            let due = t0 + Duration::from_secs_f64(secs * f);
            std::thread::sleep(due.saturating_duration_since(Instant::now()));
        };
        let mut log = FaultLog::default();
        let victim = nodes - 1;
        at(0.3);
        log.kill = Some((victim as u8, fault_now()));
        hook(&cmd, &["kill", &victim.to_string()]);
        eprintln!("soak: killed node {victim} (SIGKILL)");
        std::thread::sleep(Duration::from_secs(4));
        hook(&cmd, &["start", &victim.to_string()]);
        log.restarted = Some(fault_now());
        eprintln!("soak: node {victim} started again");
        at(0.6);
        log.redis_down = Some(fault_now());
        hook(&cmd, &["redis-stop"]);
        eprintln!("soak: redis-server stopped");
        std::thread::sleep(Duration::from_secs(3));
        hook(&cmd, &["redis-start"]);
        log.redis_up = Some(fault_now());
        eprintln!("soak: redis-server started again");
        log
    })
}

/// Run the whole load for `secs`, then let everything leave. Phase `n` numbers its publishers.
async fn phase(
    o: &Opts,
    soak: &Rc<Soak>,
    table: &mut report::Table,
    secs: f64,
    n: usize,
    fault_hook: Option<&str>,
) -> anyhow::Result<FaultLog> {
    table.new_phase();
    let (quiet_tx, quiet_rx) = watch::channel(false);
    let (stop_tx, stop_rx) = watch::channel(false);
    *soak.quiet.borrow_mut() = quiet_rx;
    *soak.stop.borrow_mut() = stop_rx;
    let tasks = spawn_sockets(soak);
    let pubs = Arc::new(Pubs::default());
    let threads = start_publishers(o, soak, n, &pubs);
    let fault_thread = fault_hook.map(|h| faults(h.to_string(), secs, soak.nodes.len()));
    // sample while the load runs
    let t_end = Instant::now() + Duration::from_secs_f64(secs);
    while Instant::now() < t_end {
        let left = t_end.saturating_duration_since(Instant::now());
        tokio::time::sleep(left.min(Duration::from_secs_f64(o.interval))).await;
        table.row(o, soak, &pubs);
    }
    // publishers stop; deliveries drain; churn leaves; presence settles; then everyone leaves
    pubs.stop.store(true, Ordering::Relaxed);
    while threads.iter().any(|t| !t.is_finished()) {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let _ = quiet_tx.send(true);
    tokio::time::sleep(Duration::from_secs(4)).await;
    let log = join_faults(fault_thread).await;
    let recs = std::mem::take(&mut *pubs.recs.lock().unwrap());
    for (id, recs) in recs {
        soak.ledger.borrow_mut().put_publishes(id, recs);
    }
    report::presence_check(soak, n, outage(soak, &log));
    let _ = stop_tx.send(true);
    for t in tasks {
        let _ = tokio::time::timeout(Duration::from_secs(10), t).await;
    }
    table.row(o, soak, &pubs);
    Ok(log)
}

/// The sockets of the load: steady subscribers on every channel, hoppers, and
/// spawners of passers-by, presence members and stalled readers.
fn spawn_sockets(soak: &Rc<Soak>) -> Vec<tokio::task::JoinHandle<()>> {
    let r = &RATES;
    let mut tasks = Vec::new();
    let mut idx = 0;
    for ch in 0..soak.channels.len() as u16 {
        for _ in 0..r.steady {
            tasks.push(tokio::task::spawn_local(load::steady(
                soak.clone(),
                ch,
                idx,
            )));
            idx += 1;
        }
    }
    for i in 0..r.hoppers {
        tasks.push(tokio::task::spawn_local(load::hopper(soak.clone(), i)));
    }
    let every = |rate: f64| Duration::from_secs_f64(1.0 / rate);
    tasks.push(load::spawner(soak, every(r.passers), |s, _| {
        load::passer_by(s)
    }));
    tasks.push(load::spawner(soak, every(r.members), |s, _| {
        load::member(s)
    }));
    let stall = Duration::from_secs_f64(r.stall_for);
    tasks.push(load::spawner(
        soak,
        every(1.0 / r.stall_every),
        move |s, i| load::stalled(s, i, stall),
    ));
    tasks
}

/// A soak publisher's HTTP settings.
fn pub_cfg(o: &Opts, addr: std::net::SocketAddr, rate: f64, payload: usize) -> PubCfg {
    PubCfg {
        addr,
        app_id: o.app_id.clone(),
        key: o.key.clone(),
        secret: o.secret.clone(),
        channels: Arc::new(Vec::new()),
        rate,
        duration: Duration::ZERO,
        payload,
        run: 0,
        clients: 1,
        event: "soak".into(),
        batch: 1,
    }
}

/// Publishers: one per node over every channel but the busy one, plus the busy
/// channel's on the first node. Phase `n`'s publishers are numbered from `n * (nodes + 1)`.
fn start_publishers(
    o: &Opts,
    soak: &Soak,
    n: usize,
    pubs: &Arc<Pubs>,
) -> Vec<std::thread::JoinHandle<()>> {
    let r = &RATES;
    let nodes = soak.nodes.len();
    let normal: Vec<(u16, String)> = (soak.channels.iter().enumerate())
        .filter(|(_, c)| c.1 != Kind::Busy)
        .map(|(i, c)| (i as u16, c.0.clone()))
        .collect();
    let busy = soak.of(Kind::Busy)[0];
    let busy = vec![(busy, soak.channels[busy as usize].0.clone())];
    let first = n * (nodes + 1);
    let mut threads = Vec::new();
    for (k, addr) in soak.nodes.iter().enumerate() {
        let (id, ch) = (first + k, normal.clone());
        soak.ledger.borrow_mut().set_node(id, k as u8);
        let cfg = pub_cfg(o, *addr, r.publish, 64);
        threads.push(load::publisher(id, cfg, ch, pubs.clone()));
    }
    let id = first + nodes;
    soak.ledger.borrow_mut().set_node(id, 0);
    let cfg = pub_cfg(o, soak.nodes[0], r.busy, r.busy_payload);
    threads.push(load::publisher(id, cfg, busy, pubs.clone()));
    threads
}

/// The fault thread's log, once it has finished (waited for without blocking the runtime).
async fn join_faults(fault_thread: Option<std::thread::JoinHandle<FaultLog>>) -> FaultLog {
    match fault_thread {
        Some(t) => {
            while !t.is_finished() {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            t.join().unwrap_or_default()
        }
        None => FaultLog::default(),
    }
}
