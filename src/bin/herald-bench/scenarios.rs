//! The benchmark scenarios and their report (table on stdout, JSON lines).

use crate::fleet::{quiet_ns, Fleet};
use crate::hist::Summary;
use crate::procstat::{self, Delta, Sample};
use crate::publisher::now_ns;
use crate::publisher::{self, PubCfg, PubResult};
use crate::subs::{self, Ctx, Kind};
use crate::{resolve, Opts};
use serde_json::{json, Value};
use std::io::Write;
use std::net::SocketAddr;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

mod load;
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

    fn write_json(&mut self, mut v: Value) {
        if let (Some(l), Value::Object(m)) = (&self.o.label, &mut v) {
            m.insert("label".into(), json!(l));
        }
        if let Some(f) = self.json.as_mut() {
            let _ = writeln!(f, "{v}");
        }
    }

    fn header(&mut self) {
        if !self.header_done {
            self.header_done = true;
            println!(
                "{:<9} {:<22} {:>6} {:>8} {:>8} {:>9} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>5} {:>5} {:>7} {:>6} {:>6}",
                "scenario", "step", "subs", "pub/s", "pub ok/s", "deliv/s", "deliv%", "p50us", "p90us", "p99us",
                "p999us", "max us", "lag99", "srv%", "gen%", "oth%", "srv MiB", "us/dlv", "us/pub"
            );
        }
    }

    /// Print and record a publish step.
    pub fn emit(&mut self, scenario: &str, label: &str, s: &Step, extra: Value) {
        self.header();
        let srv_cpu = s.d.srv_cpu_us;
        let per_dlv = srv_cpu
            .filter(|_| s.delivered > 0)
            .map(|c| c / s.delivered as f64);
        let per_pub = srv_cpu
            .filter(|_| s.publishes.ok > 0)
            .map(|c| c / s.publishes.ok as f64);
        let lag99 = s.publishes.lag.summary().p99;
        let opt = |v: Option<f64>, p: usize| v.map(|v| format!("{v:.p$}")).unwrap_or("-".into());
        println!(
            "{:<9} {:<22} {:>6} {:>8.0} {:>8.0} {:>9.0} {:>7.2} {:>7} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>5.0} {:>5.0} {:>7} {:>6} {:>6}",
            scenario,
            label,
            s.subs,
            s.rate,
            s.pub_rate(),
            s.deliv_rate(),
            s.pct(),
            fmt_us(s.lat.p50),
            fmt_us(s.lat.p90),
            fmt_us(s.lat.p99),
            fmt_us(s.lat.p999),
            fmt_us(s.lat.max),
            fmt_us(lag99),
            opt(s.d.srv_pct(), 0),
            s.d.gen_pct(),
            s.d.other_pct(),
            opt(s.d.srv_rss_kib.map(|k| k as f64 / 1024.0), 1),
            opt(per_dlv, 2),
            opt(per_pub, 1),
        );
        if let Some(e) = &s.publishes.first_error {
            println!(
                "          ! {} publish errors, first: {e}",
                s.publishes.errors
            );
        }
        let mut v = json!({
            "scenario": scenario,
            "step": label,
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
            "subscribers": s.subs,
            "payload_bytes": s.payload,
            "rate_target": s.rate,
            "publishes_scheduled": s.publishes.scheduled,
            "publishes_ok": s.publishes.ok,
            "publish_errors": s.publishes.errors,
            "publishes_per_s": r1(s.pub_rate()),
            "expected": s.expected,
            "delivered": s.delivered,
            "delivery_pct": r3(s.pct()),
            "deliveries_per_s": r1(s.deliv_rate()),
            "latency": s.lat.json(),
            "latency_from_actual_send": s.lat_actual.json(),
            "http_response": s.publishes.http.summary().json(),
            "publisher_lag": s.publishes.lag.summary().json(),
            "secs": r3(s.d.secs),
            "server_cpu_pct": s.d.srv_pct().map(r1),
            "generator_cpu_pct": r1(s.d.gen_pct()),
            "other_cpu_pct": r1(s.d.other_pct()),
            "server_rss_kib": s.d.srv_rss_kib,
            "server_cpu_us_per_delivery": per_dlv.map(r3),
            "server_cpu_us_per_publish": per_pub.map(r3),
            "healthy": s.healthy(),
            "events_per_request": self.batch,
        });
        if let (Value::Object(m), Value::Object(x)) = (&mut v, extra) {
            m.extend(x);
        }
        self.write_json(v);
    }

    /// Print and record a step that is not a publish step.
    pub fn emit_other(&mut self, scenario: &str, label: &str, text: String, v: Value) {
        self.header();
        println!("{scenario:<9} {label:<22} {text}");
        let mut base = json!({
            "scenario": scenario,
            "step": label,
            "unix_time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(),
        });
        if let (Value::Object(m), Value::Object(x)) = (&mut base, v) {
            m.extend(x);
        }
        self.write_json(base);
    }

    fn note(&self, s: String) {
        println!("          > {s}");
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

    // ---------------------------------------------------------------- idle
}

pub async fn run_all(o: Opts) -> anyhow::Result<u64> {
    let ctx = Rc::new(Ctx::new(&o)?);
    let fleet = Fleet::start(&o, ctx)?;
    let pub_addr = resolve(
        o.pub_host.as_deref().unwrap_or(&o.host),
        o.pub_port.unwrap_or(o.port),
    )?;
    let json = match &o.json {
        Some(p) => Some(
            std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(p)?,
        ),
        None => None,
    };
    let list: Vec<String> = if o.scenario == "all" {
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
    };
    let pid = o.server_pid.clone();
    let batch = o.batch.unwrap_or(1).max(1);
    if pid.is_none() {
        eprintln!("herald-bench: no --server-pid: server CPU and RSS are not reported");
    }
    let mut b = Bench {
        o,
        fleet,
        pub_addr,
        pid,
        json,
        total_delivered: 0,
        header_done: false,
        batch,
    };
    println!(
        "herald-bench: subscribers -> {:?} from {} process(es), publishes -> {}, server pid {}, {} s per step; latency in us from the intended send time",
        b.fleet.local.sub_addrs,
        b.fleet.procs(),
        b.pub_addr,
        b.pid.as_deref().unwrap_or("-"),
        b.o.duration
    );
    for s in list {
        let r = match s.as_str() {
            "idle" => b.idle().await,
            "fanout" => b.fanout().await,
            "channels" => b.channels().await,
            "publish" => b.publish().await,
            "churn" => b.churn().await,
            "slow" => b.slow().await,
            "latency" => b.latency().await,
            other => Err(anyhow::anyhow!("unknown scenario {other:?}")),
        };
        if let Err(e) = r {
            println!("{s:<9} ERROR: {e:#}");
            b.fleet.close_all().await;
        }
    }
    Ok(b.total_delivered)
}
