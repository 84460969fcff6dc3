//! Subscribers spread over several generator processes (`--procs N`).
//!
//! One process may hold at most 20,000 descriptors here, and one subscriber
//! thread reads every frame in turn, so large runs need more than one. The
//! controller (the process the user started) keeps share 0 of the connections
//! on its own runtime and starts `N - 1` copies of itself with `--worker`; each
//! copy runs the same subscriber code on its own thread and core and answers
//! one JSON command per line on stdin with one JSON line on stdout. Connection
//! `g` of the run goes to process `g % N` but keeps its global index, so the
//! target node and source address it gets do not depend on `N`.

use crate::hist::{Hist, HistWire};
use crate::publisher::now_ns;
use crate::subs::{self, Ctx, Kind, OpenReport, Stats};
use crate::Opts;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::rc::Rc;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Cmd {
    Open { kinds: Vec<(u64, Kind)> },
    Run { run: u64 },
    Reset,
    Progress,
    Stats,
    Go,
    Resume,
    Stop { stop: bool },
    Close,
}

/// What the controller polls while it waits for deliveries.
#[derive(Serialize, Deserialize, Default, Clone, Copy)]
pub struct Progress {
    pub delivered: u64,
    pub member_added: u64,
    pub acks: u64,
    /// wall clock (ns) of the last delivery, 0 if none
    pub last_ns: u64,
}

impl Progress {
    fn of(s: &Stats) -> Progress {
        Progress {
            delivered: s.delivered,
            member_added: s.member_added,
            acks: s.acks,
            last_ns: s.last_ns,
        }
    }
    fn merge(&mut self, o: Progress) {
        self.delivered += o.delivered;
        self.member_added += o.member_added;
        self.acks += o.acks;
        self.last_ns = self.last_ns.max(o.last_ns);
    }
}

#[derive(Serialize, Deserialize)]
struct StatsWire {
    lat: HistWire,
    lat_actual: HistWire,
    cycle_lat: HistWire,
    delivered: u64,
    stale: u64,
    closes: BTreeMap<u16, u64>,
    resets: u64,
    last_ns: u64,
    cycles: u64,
    member_added: u64,
    acks: u64,
}

impl From<&Stats> for StatsWire {
    fn from(s: &Stats) -> Self {
        StatsWire {
            lat: (&s.lat).into(),
            lat_actual: (&s.lat_actual).into(),
            cycle_lat: (&s.cycle_lat).into(),
            delivered: s.delivered,
            stale: s.stale,
            closes: s.closes.clone(),
            resets: s.resets,
            last_ns: s.last_ns,
            cycles: s.cycles,
            member_added: s.member_added,
            acks: s.acks,
        }
    }
}

/// Add `o` into `s`.
fn merge_stats(s: &mut Stats, o: &StatsWire) {
    s.lat.merge(&Hist::from(&o.lat));
    s.lat_actual.merge(&Hist::from(&o.lat_actual));
    s.cycle_lat.merge(&Hist::from(&o.cycle_lat));
    s.delivered += o.delivered;
    s.stale += o.stale;
    for (code, n) in &o.closes {
        *s.closes.entry(*code).or_default() += n;
    }
    s.resets += o.resets;
    s.last_ns = s.last_ns.max(o.last_ns);
    s.cycles += o.cycles;
    s.member_added += o.member_added;
    s.acks += o.acks;
}

#[derive(Serialize, Deserialize)]
struct OpenWire {
    ok: u64,
    failed: u64,
    first_error: Option<String>,
    secs: f64,
    handshake: HistWire,
}

struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

impl Worker {
    async fn send(&mut self, cmd: &Cmd) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(cmd)?;
        line.push(b'\n');
        self.stdin.write_all(&line).await?;
        Ok(self.stdin.flush().await?)
    }

    async fn recv<T: for<'de> Deserialize<'de>>(&mut self) -> anyhow::Result<T> {
        match self.stdout.next_line().await? {
            Some(line) => Ok(serde_json::from_str(&line)?),
            None => anyhow::bail!("generator worker {:?} exited", self.child.id()),
        }
    }
}

/// All subscriber connections of a run: the local share and the workers'.
pub struct Fleet {
    pub local: Rc<Ctx>,
    workers: Vec<Worker>,
    /// connections asked for since the last `close_all` (index of the next one)
    next: u64,
}

impl Fleet {
    /// Start `o.procs - 1` worker processes (copies of this executable).
    pub fn start(o: &Opts, local: Rc<Ctx>) -> anyhow::Result<Fleet> {
        let exe = std::env::current_exe()?;
        let mut workers = Vec::new();
        for _ in 1..o.procs.max(1) {
            let mut child = Command::new(&exe)
                .args(worker_args(o))
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::inherit())
                .kill_on_drop(true)
                .spawn()?;
            let stdin = child.stdin.take().expect("piped stdin");
            let stdout = BufReader::new(child.stdout.take().expect("piped stdout")).lines();
            workers.push(Worker {
                child,
                stdin,
                stdout,
            });
        }
        Ok(Fleet {
            local,
            workers,
            next: 0,
        })
    }

    /// Process ids of the workers (their CPU counts as the generator's).
    pub fn pids(&self) -> Vec<u32> {
        self.workers.iter().filter_map(|w| w.child.id()).collect()
    }

    pub fn procs(&self) -> usize {
        self.workers.len() + 1
    }

    pub fn run(&self) -> u64 {
        self.local.run.get()
    }

    /// Connections asked for since the last `close_all`.
    pub fn opened(&self) -> u64 {
        self.next
    }

    /// Send `cmd` to every worker, then read one reply from each.
    async fn all<T: for<'de> Deserialize<'de>>(&mut self, cmd: &Cmd) -> Vec<T> {
        for w in &mut self.workers {
            if let Err(e) = w.send(cmd).await {
                eprintln!("herald-bench: worker: {e:#}");
            }
        }
        let mut out = Vec::new();
        for w in &mut self.workers {
            match w.recv().await {
                Ok(v) => out.push(v),
                Err(e) => eprintln!("herald-bench: worker: {e:#}"),
            }
        }
        out
    }

    /// Open connections, spread round-robin over the processes.
    pub async fn open(&mut self, kinds: Vec<Kind>) -> OpenReport {
        let n = self.procs();
        let mut shares: Vec<Vec<(u64, Kind)>> = vec![Vec::new(); n];
        for kind in kinds {
            let g = self.next;
            self.next += 1;
            shares[(g % n as u64) as usize].push((g, kind));
        }
        let mine = std::mem::take(&mut shares[0]);
        for (w, share) in self.workers.iter_mut().zip(shares.into_iter().skip(1)) {
            if let Err(e) = w.send(&Cmd::Open { kinds: share }).await {
                eprintln!("herald-bench: worker: {e:#}");
            }
        }
        let mut rep = subs::open(&self.local, mine).await;
        for w in &mut self.workers {
            match w.recv::<OpenWire>().await {
                Ok(o) => {
                    rep.ok += o.ok;
                    rep.failed += o.failed;
                    if rep.first_error.is_none() {
                        rep.first_error = o.first_error;
                    }
                    rep.secs = rep.secs.max(o.secs);
                    rep.handshake.merge(&Hist::from(&o.handshake));
                }
                Err(e) => {
                    rep.failed += 1;
                    rep.first_error.get_or_insert(e.to_string());
                }
            }
        }
        rep
    }

    /// Start a new measured run: deliveries of older runs count as stale.
    pub async fn new_run(&mut self) -> u64 {
        let run = self.run() + 1;
        self.local.run.set(run);
        self.local.reset_stats();
        let _: Vec<serde_json::Value> = self.all(&Cmd::Run { run }).await;
        run
    }

    pub async fn reset(&mut self) {
        self.local.reset_stats();
        let _: Vec<serde_json::Value> = self.all(&Cmd::Reset).await;
    }

    pub async fn progress(&mut self) -> Progress {
        let mut p = Progress::of(&self.local.stats.borrow());
        for o in self.all::<Progress>(&Cmd::Progress).await {
            p.merge(o);
        }
        p
    }

    /// Everything recorded since the last reset, over all processes.
    pub async fn stats(&mut self) -> Stats {
        let mut s = Stats::default();
        merge_stats(&mut s, &StatsWire::from(&*self.local.stats.borrow()));
        for o in self.all::<StatsWire>(&Cmd::Stats).await {
            merge_stats(&mut s, &o);
        }
        s
    }

    /// Release churners and presence members waiting for the start signal.
    pub async fn go(&mut self) {
        self.local.go.notify_waiters();
        let _: Vec<serde_json::Value> = self.all(&Cmd::Go).await;
    }

    /// Let stalled subscribers read again.
    pub async fn resume(&mut self) {
        self.local.resume.notify_waiters();
        let _: Vec<serde_json::Value> = self.all(&Cmd::Resume).await;
    }

    pub async fn stop(&mut self, stop: bool) {
        self.local.stop.set(stop);
        let _: Vec<serde_json::Value> = self.all(&Cmd::Stop { stop }).await;
    }

    pub async fn close_all(&mut self) {
        self.next = 0;
        let _: Vec<serde_json::Value> = self.all(&Cmd::Close).await;
        self.local.close_all().await;
    }
}

/// The command line of a worker: the controller's connection options.
fn worker_args(o: &Opts) -> Vec<String> {
    let mut a = vec![
        "--worker".to_string(),
        format!("--host={}", o.host),
        format!("--port={}", o.port),
        format!("--key={}", o.key),
        format!("--secret={}", o.secret),
        format!("--src-ips={}", o.src_ips),
        format!("--connect-concurrency={}", o.connect_concurrency),
    ];
    if let Some(r) = o.connect_rate {
        a.push(format!("--connect-rate={r}"));
        a.push(format!("--procs={}", o.procs));
    }
    if let Some(h) = &o.sub_hosts {
        a.push(format!("--sub-hosts={h}"));
    }
    if let Some(p) = &o.sub_ports {
        a.push(format!("--sub-ports={p}"));
    }
    a
}

/// The worker side: serve commands from stdin until it closes.
pub async fn worker_main(o: Opts) -> anyhow::Result<()> {
    let ctx = Rc::new(Ctx::new(&o)?);
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    let mut out = tokio::io::stdout();
    let ack = serde_json::json!({});
    while let Some(line) = lines.next_line().await? {
        let reply = match serde_json::from_str::<Cmd>(&line)? {
            Cmd::Open { kinds } => {
                let r = subs::open(&ctx, kinds).await;
                serde_json::to_value(OpenWire {
                    ok: r.ok,
                    failed: r.failed,
                    first_error: r.first_error,
                    secs: r.secs,
                    handshake: (&r.handshake).into(),
                })?
            }
            Cmd::Run { run } => {
                ctx.run.set(run);
                ctx.reset_stats();
                ack.clone()
            }
            Cmd::Reset => {
                ctx.reset_stats();
                ack.clone()
            }
            Cmd::Progress => serde_json::to_value(Progress::of(&ctx.stats.borrow()))?,
            Cmd::Stats => serde_json::to_value(StatsWire::from(&*ctx.stats.borrow()))?,
            Cmd::Go => {
                ctx.go.notify_waiters();
                ack.clone()
            }
            Cmd::Resume => {
                ctx.resume.notify_waiters();
                ack.clone()
            }
            Cmd::Stop { stop } => {
                ctx.stop.set(stop);
                ack.clone()
            }
            Cmd::Close => {
                ctx.close_all().await;
                ack.clone()
            }
        };
        let mut buf = serde_json::to_vec(&reply)?;
        buf.push(b'\n');
        out.write_all(&buf).await?;
        out.flush().await?;
    }
    Ok(())
}

/// Quiet time since the last delivery (or since `since_ns` if none yet).
pub fn quiet_ns(last_ns: u64, since_ns: u64) -> u64 {
    now_ns().saturating_sub(last_ns.max(since_ns))
}
