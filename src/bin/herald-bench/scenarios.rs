//! The benchmark scenarios and their report (table on stdout, JSON lines).

use crate::fleet::{quiet_ns, Fleet};
use crate::hist::Summary;
use crate::procstat::{self, Delta, Sample};
use crate::publisher::now_ns;
use crate::publisher::{self, PubCfg, PubResult};
use crate::subs::{self, Ctx, Kind};
use crate::{resolve, Opts};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod load;
mod report;
mod stress;

pub struct Bench {
    pub o: Opts,
    pub fleet: Fleet,
    pub pub_addr: SocketAddr,
    pub pid: Option<String>,
    pub json: Option<std::fs::File>,
    pub total_delivered: u64,
    pub header_done: bool,
    /// events per publish request in the next steps
    pub batch: usize,
}

/// Everything measured in one publish step.
pub struct Step {
    pub publishes: PubResult,
    pub expected: u64,
    pub delivered: u64,
    pub lat: Summary,
    pub lat_actual: Summary,
    pub d: Delta,
    pub rate: f64,
    pub subs: usize,
    pub payload: usize,
}

impl Step {
    pub fn pct(&self) -> f64 {
        if self.expected == 0 {
            100.0
        } else {
            self.delivered as f64 * 100.0 / self.expected as f64
        }
    }
    pub fn pub_rate(&self) -> f64 {
        self.publishes.ok as f64 / self.publishes.secs.max(1e-9)
    }
    pub fn deliv_rate(&self) -> f64 {
        self.delivered as f64 / self.publishes.secs.max(1e-9)
    }
    /// Healthy: everything delivered, p99 under 100 ms, publisher kept the schedule.
    pub fn healthy(&self) -> bool {
        self.pct() >= 99.9
            && self.lat.p99 < 100_000.0
            && self.pub_rate() >= 0.95 * self.rate
            && self.publishes.errors == 0
    }
}

fn r1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn r3(v: f64) -> f64 {
    (v * 1000.0).round() / 1000.0
}

fn fmt_us(v: f64) -> String {
    if v >= 100_000.0 {
        format!("{:.0}ms", v / 1000.0)
    } else if v >= 10_000.0 {
        format!("{:.1}ms", v / 1000.0)
    } else {
        format!("{v:.0}")
    }
}

impl Bench {
    fn sample(&self) -> Sample {
        procstat::sample(self.pid.as_deref(), &self.fleet.pids())
    }

    fn pub_cfg(&self, channels: Vec<String>, rate: f64, payload: usize, clients: usize) -> PubCfg {
        PubCfg {
            addr: self.pub_addr,
            app_id: self.o.app_id.clone(),
            key: self.o.key.clone(),
            secret: self.o.secret.clone(),
            channels: Arc::new(channels),
            rate,
            duration: Duration::from_secs_f64(self.o.duration),
            payload,
            run: self.fleet.run(),
            clients,
            event: "bench".into(),
            batch: self.batch,
        }
    }

    /// One open-loop publish step: `subs_per[i]` subscribers listen on `channels[i]`.
    pub async fn step(
        &mut self,
        channels: Vec<String>,
        subs_per: Vec<u64>,
        rate: f64,
        payload: usize,
        clients: usize,
    ) -> Step {
        self.fleet.new_run().await;
        let cfg = self.pub_cfg(channels, rate, payload, clients);
        let s0 = self.sample();
        let pr = tokio::task::spawn_blocking(move || publisher::run(cfg))
            .await
            .unwrap();
        let expected: u64 = pr
            .ok_per_channel
            .iter()
            .zip(&subs_per)
            .map(|(a, b)| a * b)
            .sum();
        // drain: until all expected arrived, or 1 s without progress (max 10 s)
        let t_end = Instant::now();
        let t_end_ns = now_ns();
        loop {
            let p = self.fleet.progress().await;
            if p.delivered >= expected {
                break;
            }
            if quiet_ns(p.last_ns, t_end_ns) > 1_000_000_000
                || t_end.elapsed() > Duration::from_secs(10)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s1 = self.sample();
        let st = self.fleet.stats().await;
        let step = Step {
            expected,
            delivered: st.delivered,
            lat: st.lat.summary(),
            lat_actual: st.lat_actual.summary(),
            d: Delta::between(&s0, &s1),
            rate,
            subs: subs_per.iter().sum::<u64>() as usize,
            payload,
            publishes: pr,
        };
        self.total_delivered += step.delivered;
        step
    }

    async fn open_subs(
        &mut self,
        scenario: &str,
        kinds: Vec<Kind>,
    ) -> anyhow::Result<subs::OpenReport> {
        let n = kinds.len();
        let rep = self.fleet.open(kinds).await;
        if rep.failed > 0 {
            self.note(format!(
                "{scenario}: {} of {n} connections failed: {}",
                rep.failed,
                rep.first_error.clone().unwrap_or_default()
            ));
        }
        if rep.ok == 0 && n > 0 {
            anyhow::bail!("{scenario}: no connection could be opened");
        }
        Ok(rep)
    }

    fn size(&self, normal: usize, smoke: usize) -> usize {
        self.o
            .subscribers
            .unwrap_or(if self.o.smoke { smoke } else { normal })
    }

    fn payloads(&self) -> Vec<usize> {
        match self.o.payload {
            Some(p) => vec![p],
            None if self.o.smoke => vec![100],
            None => vec![100, 1024],
        }
    }

    /// The rates to step through: `--rate`, else `smoke` under `--smoke`, else `full()`.
    fn levels(&self, smoke: Vec<f64>, full: impl FnOnce() -> Vec<f64>) -> Vec<f64> {
        if let Some(r) = self.o.rate {
            vec![r]
        } else if self.o.smoke {
            smoke
        } else {
            full()
        }
    }
}

/// `n` subscribers that read, subscriber `i` on channel `channel(i)`.
fn readers(n: usize, channel: impl Fn(usize) -> String) -> Vec<Kind> {
    (0..n)
        .map(|i| Kind::Sub {
            channel: channel(i),
            stall: false,
        })
        .collect()
}

/// `--json FILE`, opened for appending.
fn open_json(o: &Opts) -> anyhow::Result<Option<std::fs::File>> {
    Ok(match &o.json {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    })
}

/// The scenarios to run, in order: `--scenario all` or a comma-separated list.
fn scenario_list(o: &Opts) -> Vec<String> {
    if o.scenario == "all" {
        [
            "idle", "fanout", "channels", "publish", "churn", "slow", "latency",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    } else {
        o.scenario
            .split(',')
            .map(|s| s.trim().to_string())
            .collect()
    }
}

impl Bench {
    fn new(o: Opts) -> anyhow::Result<Bench> {
        let ctx = Rc::new(Ctx::new(&o)?);
        let fleet = Fleet::start(&o, ctx)?;
        let pub_addr = resolve(
            o.pub_host.as_deref().unwrap_or(&o.host),
            o.pub_port.unwrap_or(o.port),
        )?;
        let json = open_json(&o)?;
        let pid = o.server_pid.clone();
        let batch = o.batch.unwrap_or(1).max(1);
        if pid.is_none() {
            eprintln!("herald-bench: no --server-pid: server CPU and RSS are not reported");
        }
        Ok(Bench {
            o,
            fleet,
            pub_addr,
            pid,
            json,
            total_delivered: 0,
            header_done: false,
            batch,
        })
    }

    fn banner(&self) {
        println!(
            "herald-bench: subscribers -> {:?} from {} process(es), publishes -> {}, server pid {}, {} s per step; latency in us from the intended send time",
            self.fleet.local.sub_addrs,
            self.fleet.procs(),
            self.pub_addr,
            self.pid.as_deref().unwrap_or("-"),
            self.o.duration
        );
    }

    /// Run one scenario by name; on error, print it and close every connection.
    async fn run_one(&mut self, s: &str) {
        let r = match s {
            "idle" => self.idle().await,
            "fanout" => self.fanout().await,
            "channels" => self.channels().await,
            "publish" => self.publish().await,
            "churn" => self.churn().await,
            "slow" => self.slow().await,
            "latency" => self.latency().await,
            other => Err(anyhow::anyhow!("unknown scenario {other:?}")),
        };
        if let Err(e) = r {
            println!("{s:<9} ERROR: {e:#}");
            self.fleet.close_all().await;
        }
    }
}

pub async fn run_all(o: Opts) -> anyhow::Result<u64> {
    let list = scenario_list(&o);
    let mut b = Bench::new(o)?;
    b.banner();
    for s in list {
        b.run_one(&s).await;
    }
    Ok(b.total_delivered)
}
