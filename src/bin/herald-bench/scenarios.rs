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
    pub async fn idle(&mut self) -> anyhow::Result<()> {
        let n2 = self.size(15_000, 20);
        let n1 = (n2 / 3).max(1);
        self.fleet.close_all().await;
        tokio::time::sleep(Duration::from_millis(500)).await;
        let s0 = self.sample();
        let mut points = vec![(0usize, s0.srv_rss_kib)];
        let mut prev = 0;
        for n in [n1, n2] {
            let kinds = (prev..n)
                .map(|i| Kind::Sub {
                    channel: format!("idle-{i}"),
                    stall: false,
                })
                .collect();
            let a = self.sample();
            let rep = self.open_subs("idle", kinds).await?;
            let b = self.sample();
            tokio::time::sleep(Duration::from_secs(2)).await;
            let s = self.sample();
            let d = Delta::between(&a, &b);
            let held = self.fleet.opened() as usize - (rep.failed as usize);
            points.push((held, s.srv_rss_kib));
            let hs = rep.handshake.summary();
            let rate = rep.ok as f64 / rep.secs;
            let srv_us_per_conn = d.srv_cpu_us.map(|c| c / rep.ok.max(1) as f64);
            self.emit_other(
                "idle",
                &format!("hold {held}"),
                format!(
                    "opened {} in {:.2}s = {:.0} conn+sub/s, handshake+subscribe p50 {} p99 {} us, srv RSS {} MiB, srv {} us CPU/conn, gen {:.0}%",
                    rep.ok,
                    rep.secs,
                    rate,
                    fmt_us(hs.p50),
                    fmt_us(hs.p99),
                    s.srv_rss_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into()),
                    srv_us_per_conn.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
                    d.gen_pct()
                ),
                json!({"connections": held, "opened": rep.ok, "failed": rep.failed, "connect_secs": r3(rep.secs),
                       "connects_per_s": r1(rate), "handshake": hs.json(), "server_rss_kib": s.srv_rss_kib,
                       "server_cpu_us_per_connect": srv_us_per_conn.map(r1), "generator_cpu_pct": r1(d.gen_pct())}),
            );
            prev = n;
        }
        if let [(0, Some(r0)), (a, Some(ra)), (b, Some(rb))] = points[..] {
            let slope = (rb as f64 - ra as f64) * 1024.0 / (b as f64 - a as f64);
            let avg = (rb as f64 - r0 as f64) * 1024.0 / b as f64;
            self.emit_other(
                "idle",
                "rss per connection",
                format!("slope {slope:.0} B/conn between {a} and {b}; (RSS_{b} - RSS_0)/{b} = {avg:.0} B/conn"),
                json!({"rss_slope_bytes_per_conn": slope.round(), "rss_avg_bytes_per_conn": avg.round(),
                       "from": a, "to": b, "rss0_kib": r0, "rss_a_kib": ra, "rss_b_kib": rb}),
            );
        }
        self.fleet.close_all().await;
        Ok(())
    }

    // ---------------------------------------------------------------- fanout
    pub async fn fanout(&mut self) -> anyhow::Result<()> {
        let n = self.size(1_000, 20);
        self.fleet.close_all().await;
        let kinds = (0..n)
            .map(|_| Kind::Sub {
                channel: "fanout".into(),
                stall: false,
            })
            .collect();
        let rep = self.open_subs("fanout", kinds).await?;
        let subs = rep.ok;
        let levels: Vec<f64> = if let Some(r) = self.o.rate {
            vec![r]
        } else if self.o.smoke {
            vec![10.0, 50.0]
        } else {
            [
                20e3, 50e3, 100e3, 200e3, 300e3, 400e3, 600e3, 800e3, 1.2e6, 1.6e6,
            ]
            .iter()
            .map(|d| (d / subs as f64).max(1.0))
            .collect()
        };
        for payload in self.payloads() {
            let mut knee: Option<f64> = None;
            for &rate in &levels {
                // Apps publish from many workers at once; one keep-alive client would
                // cap the rate at one request per server round trip.
                let clients = self
                    .o
                    .publishers
                    .unwrap_or(if rate >= 100.0 { 32 } else { 1 });
                let s = self
                    .step(vec!["fanout".into()], vec![subs], rate, payload, clients)
                    .await;
                self.emit(
                    "fanout",
                    &format!("{payload}B {rate:.0}/s"),
                    &s,
                    json!({"channels": 1}),
                );
                if s.healthy() {
                    knee = Some(s.deliv_rate());
                } else {
                    break;
                }
            }
            let text = match knee {
                Some(k) => format!("{payload} B: knee at {k:.0} deliveries/s ({subs} subscribers)"),
                None => format!("{payload} B: no healthy step"),
            };
            self.emit_other(
                "fanout",
                &format!("knee {payload}B"),
                text,
                json!({"subscribers": subs, "payload_bytes": payload, "knee_deliveries_per_s": knee.map(r1)}),
            );
        }
        self.fleet.close_all().await;
        Ok(())
    }

    // ---------------------------------------------------------------- channels
    pub async fn channels(&mut self) -> anyhow::Result<()> {
        let n = self.size(2_000, 20);
        let c = self
            .o
            .channels
            .unwrap_or(if self.o.smoke { 4 } else { 200 })
            .max(1);
        self.fleet.close_all().await;
        let kinds = (0..n)
            .map(|i| Kind::Sub {
                channel: format!("ch-{}", i % c),
                stall: false,
            })
            .collect();
        self.open_subs("channels", kinds).await?;
        let names: Vec<String> = (0..c).map(|i| format!("ch-{i}")).collect();
        let mut per = vec![0u64; c];
        for i in 0..n {
            per[i % c] += 1;
        }
        let per_ch = n as f64 / c as f64;
        let levels: Vec<f64> = if let Some(r) = self.o.rate {
            vec![r]
        } else if self.o.smoke {
            vec![20.0]
        } else {
            [10e3, 25e3, 50e3, 100e3, 150e3, 200e3, 300e3]
                .iter()
                .map(|d| d / per_ch)
                .collect()
        };
        let payload = self.o.payload.unwrap_or(100);
        let mut knee = None;
        for &rate in &levels {
            let clients = self
                .o
                .publishers
                .unwrap_or(if rate > 2000.0 { 6 } else { 2 });
            let s = self
                .step(names.clone(), per.clone(), rate, payload, clients)
                .await;
            self.emit(
                "channels",
                &format!("{c}ch {rate:.0}/s"),
                &s,
                json!({"channels": c}),
            );
            if s.healthy() {
                knee = Some(s.deliv_rate());
            } else {
                break;
            }
        }
        self.emit_other(
            "channels",
            "knee",
            match knee {
                Some(k) => {
                    format!("knee at {k:.0} deliveries/s ({n} subscribers over {c} channels)")
                }
                None => "no healthy step".into(),
            },
            json!({"subscribers": n, "channels": c, "knee_deliveries_per_s": knee.map(r1)}),
        );
        self.fleet.close_all().await;
        Ok(())
    }

    // ---------------------------------------------------------------- publish
    pub async fn publish(&mut self) -> anyhow::Result<()> {
        self.fleet.close_all().await;
        let clients = self
            .o
            .publishers
            .unwrap_or(if self.o.smoke { 2 } else { 8 });
        let payload = self.o.payload.unwrap_or(100);
        // (subscribers, events per request): /events with 0 and 1 subscriber,
        // then /batch_events with 10 events per request
        let runs: Vec<(u64, usize)> = match self.o.batch {
            Some(b) => vec![(0, b.max(1)), (1, b.max(1))],
            None => vec![(0, 1), (1, 1), (0, 10)],
        };
        for (subs, batch) in runs {
            self.batch = batch;
            let levels: Vec<f64> = if let Some(r) = self.o.rate {
                vec![r]
            } else if self.o.smoke {
                vec![100.0 * batch as f64]
            } else {
                [5e3, 10e3, 20e3, 30e3, 40e3, 50e3, 60e3, 80e3]
                    .iter()
                    .map(|r| r * (batch as f64 / 2.0).max(1.0))
                    .collect()
            };
            let ch = if subs == 0 { "pub-none" } else { "pub-one" };
            if subs == 1 && self.fleet.opened() == 0 {
                self.open_subs(
                    "publish",
                    vec![Kind::Sub {
                        channel: ch.into(),
                        stall: false,
                    }],
                )
                .await?;
            }
            let what = if batch > 1 {
                format!("{batch}/req ")
            } else {
                String::new()
            };
            let mut best: f64 = 0.0;
            for &rate in &levels {
                let s = self
                    .step(vec![ch.into()], vec![subs], rate, payload, clients)
                    .await;
                self.emit(
                    "publish",
                    &format!("{what}{subs}sub {rate:.0}/s"),
                    &s,
                    json!({"channels": 1, "http_clients": clients}),
                );
                best = best.max(s.pub_rate());
                let h = s.publishes.http.summary();
                self.note(format!(
                    "HTTP response from intended send: p50 {} p99 {} max {} us ({} clients)",
                    fmt_us(h.p50),
                    fmt_us(h.p99),
                    fmt_us(h.max),
                    clients
                ));
                if s.pub_rate() < 0.9 * rate || s.publishes.errors > 0 {
                    break;
                }
            }
            let text = if batch > 1 {
                format!("best achieved {best:.0} signed events/s in /batch_events requests of {batch} with {clients} keep-alive clients")
            } else {
                format!(
                    "best achieved {best:.0} signed publishes/s with {clients} keep-alive clients"
                )
            };
            self.emit_other(
                "publish",
                &format!("max {what}{subs}sub"),
                text,
                json!({"subscribers": subs, "max_publishes_per_s": r1(best), "http_clients": clients,
                       "events_per_request": batch}),
            );
        }
        self.batch = self.o.batch.unwrap_or(1).max(1);
        self.fleet.close_all().await;
        Ok(())
    }

    // ---------------------------------------------------------------- churn
    pub async fn churn(&mut self) -> anyhow::Result<()> {
        let m = self.size(1_000, 10);
        self.fleet.close_all().await;
        let pool = 100.min(m.max(2));
        let kinds = (0..m)
            .map(|i| Kind::Churn {
                a: format!("churn-{}", i % pool),
                b: format!("churn-{}", (i + pool / 2) % pool),
            })
            .collect();
        self.open_subs("churn", kinds).await?;
        self.fleet.reset().await;
        self.fleet.stop(false).await;
        let s0 = self.sample();
        self.fleet.go().await;
        tokio::time::sleep(Duration::from_secs_f64(self.o.duration)).await;
        let (cycles, lat) = {
            let st = self.fleet.stats().await;
            (st.cycles, st.cycle_lat.summary())
        };
        let s1 = self.sample();
        self.fleet.stop(true).await;
        let d = Delta::between(&s0, &s1);
        let rate = cycles as f64 / d.secs;
        let per = d.srv_cpu_us.map(|c| c / cycles.max(1) as f64);
        self.emit_other(
            "churn",
            &format!("sub/unsub {m} sockets"),
            format!(
                "{rate:.0} cycles/s (unsubscribe+subscribe, wait ack), cycle p50 {} p99 {} max {} us, srv {} us CPU/cycle, srv {}%, gen {:.0}%, other {:.0}%",
                fmt_us(lat.p50),
                fmt_us(lat.p99),
                fmt_us(lat.max),
                per.map(|v| format!("{v:.1}")).unwrap_or("-".into()),
                d.srv_pct().map(|v| format!("{v:.0}")).unwrap_or("-".into()),
                d.gen_pct(),
                d.other_pct()
            ),
            json!({"sockets": m, "channels": pool, "cycles": cycles, "cycles_per_s": r1(rate), "cycle_latency": lat.json(),
                   "server_cpu_us_per_cycle": per.map(r3), "server_cpu_pct": d.srv_pct().map(r1),
                   "generator_cpu_pct": r1(d.gen_pct()), "other_cpu_pct": r1(d.other_pct()), "server_rss_kib": d.srv_rss_kib}),
        );
        self.fleet.close_all().await;
        self.presence_storm().await
    }

    async fn presence_storm(&mut self) -> anyhow::Result<()> {
        let (pc, pm) = if self.o.smoke {
            (2, 5)
        } else {
            (self.o.channels.unwrap_or(50).min(200), 100)
        };
        let kinds = (0..pc * pm)
            .map(|i| Kind::Presence {
                channel: format!("presence-storm-{}", i % pc),
                user: format!("u{i}"),
            })
            .collect();
        self.open_subs("presence", kinds).await?;
        self.fleet.reset().await;
        let expected_added = (pc * pm * (pm - 1) / 2) as u64;
        let members = (pc * pm) as u64;
        let s0 = self.sample();
        let t0 = Instant::now();
        let t0_ns = now_ns();
        self.fleet.go().await;
        loop {
            let p = self.fleet.progress().await;
            if p.acks >= members && p.member_added >= expected_added {
                break;
            }
            if quiet_ns(p.last_ns, t0_ns) > 2_000_000_000 || t0.elapsed() > Duration::from_secs(30)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let s1 = self.sample();
        let (done, acks, added, ack, lat) = {
            let st = self.fleet.stats().await;
            (
                st.last_ns.saturating_sub(t0_ns) as f64 / 1e9,
                st.acks,
                st.member_added,
                st.cycle_lat.summary(),
                st.lat.summary(),
            )
        };
        self.total_delivered += added;
        let d = Delta::between(&s0, &s1);
        let per = d.srv_cpu_us.map(|c| c / added.max(1) as f64);
        self.emit_other(
            "churn",
            &format!("presence {pc}x{pm}"),
            format!(
                "{members} joins at once: acks {acks}/{members} p50 {} p99 {} us; member_added {added}/{expected_added} p50 {} p99 {} max {} us; storm done in {:.3}s; srv {} us CPU/member_added, RSS {} MiB",
                fmt_us(ack.p50),
                fmt_us(ack.p99),
                fmt_us(lat.p50),
                fmt_us(lat.p99),
                fmt_us(lat.max),
                done,
                per.map(|v| format!("{v:.2}")).unwrap_or("-".into()),
                d.srv_rss_kib.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into()),
            ),
            json!({"channels": pc, "members_per_channel": pm, "acks": acks, "ack_latency": ack.json(),
                   "member_added": added, "member_added_expected": expected_added, "member_added_latency": lat.json(),
                   "storm_secs": r3(done), "server_cpu_us_per_member_added": per.map(r3),
                   "server_rss_kib": d.srv_rss_kib, "generator_cpu_pct": r1(d.gen_pct())}),
        );
        self.fleet.close_all().await;
        Ok(())
    }

    // ---------------------------------------------------------------- slow
    pub async fn slow(&mut self) -> anyhow::Result<()> {
        let n = self.size(50, 20);
        let stalled = ((n as f64 * self.o.slow_share).round() as usize).max(1);
        let healthy = n - stalled;
        let rate = self
            .o
            .rate
            .unwrap_or(if self.o.smoke { 20.0 } else { 1000.0 });
        let payload = self.o.payload.unwrap_or(1024);
        // long enough for a stalled socket to overflow a 1024-frame server queue at the default rate
        let saved = self.o.duration;
        if !self.o.smoke {
            self.o.duration = saved.max(4.0);
        }
        self.fleet.close_all().await;
        let kinds = (0..healthy)
            .map(|_| Kind::Sub {
                channel: "slow".into(),
                stall: false,
            })
            .collect();
        self.open_subs("slow", kinds).await?;
        let clients = self.o.publishers.unwrap_or(1);
        let base = self
            .step(
                vec!["slow".into()],
                vec![healthy as u64],
                rate,
                payload,
                clients,
            )
            .await;
        self.emit(
            "slow",
            &format!("baseline {rate:.0}/s"),
            &base,
            json!({"stalled": 0}),
        );
        let kinds = (0..stalled)
            .map(|_| Kind::Sub {
                channel: "slow".into(),
                stall: true,
            })
            .collect();
        self.open_subs("slow", kinds).await?;
        let rss_before = self.sample().srv_rss_kib;
        let s = self
            .step(
                vec!["slow".into()],
                vec![healthy as u64],
                rate,
                payload,
                clients,
            )
            .await;
        self.emit(
            "slow",
            &format!("{stalled} stalled {rate:.0}/s"),
            &s,
            json!({"stalled": stalled}),
        );
        let rss_after = self.sample().srv_rss_kib;
        self.o.duration = saved;
        // let the stalled sockets read again and see how the server treated them
        self.fleet.reset().await;
        self.fleet.resume().await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let (closes, resets) = {
            let st = self.fleet.stats().await;
            (st.closes.clone(), st.resets)
        };
        let c4100 = closes.get(&4100).copied().unwrap_or(0);
        let p99_change = if base.lat.p99 > 0.0 {
            (s.lat.p99 / base.lat.p99 - 1.0) * 100.0
        } else {
            0.0
        };
        self.emit_other(
            "slow",
            "result",
            format!(
                "healthy p99 {} -> {} us ({p99_change:+.0}%); {stalled} stalled: {c4100} closed with 4100, other closes {:?}, resets {resets}; srv RSS {} -> {} MiB",
                fmt_us(base.lat.p99),
                fmt_us(s.lat.p99),
                closes.iter().filter(|(k, _)| **k != 4100).collect::<Vec<_>>(),
                rss_before.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into()),
                rss_after.map(|k| format!("{:.1}", k as f64 / 1024.0)).unwrap_or("-".into()),
            ),
            json!({"stalled": stalled, "healthy": healthy, "healthy_p99_before_us": r1(base.lat.p99),
                   "healthy_p99_after_us": r1(s.lat.p99), "p99_change_pct": r1(p99_change), "closed_4100": c4100,
                   "closes": closes.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                   "resets": resets, "server_rss_before_kib": rss_before, "server_rss_after_kib": rss_after}),
        );
        self.fleet.close_all().await;
        Ok(())
    }

    // ---------------------------------------------------------------- latency
    pub async fn latency(&mut self) -> anyhow::Result<()> {
        let cases: Vec<(usize, f64)> = if self.o.smoke {
            vec![(1, 100.0), (20, 10.0)]
        } else if let (Some(n), Some(r)) = (self.o.subscribers, self.o.rate) {
            vec![(n, r)]
        } else {
            vec![(1, 1000.0), (1000, 10.0), (1000, 100.0)]
        };
        let payload = self.o.payload.unwrap_or(100);
        let saved = self.o.duration;
        self.o.duration = if self.o.smoke { saved } else { saved.max(5.0) };
        for (n, rate) in cases {
            self.fleet.close_all().await;
            let kinds = (0..n)
                .map(|_| Kind::Sub {
                    channel: "lat".into(),
                    stall: false,
                })
                .collect();
            let rep = self.open_subs("latency", kinds).await?;
            let s = self
                .step(vec!["lat".into()], vec![rep.ok], rate, payload, 1)
                .await;
            self.emit(
                "latency",
                &format!("{n}sub {rate:.0}/s"),
                &s,
                json!({"channels": 1}),
            );
            self.note(format!(
                "from actual send: p50 {} p99 {} us; publisher lag p99 {} us",
                fmt_us(s.lat_actual.p50),
                fmt_us(s.lat_actual.p99),
                fmt_us(s.publishes.lag.summary().p99)
            ));
        }
        self.o.duration = saved;
        self.fleet.close_all().await;
        Ok(())
    }
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
