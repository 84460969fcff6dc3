//! Steady-load scenarios: idle memory, fan-out, many channels, signed publishes.

use super::*;

impl Bench {
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
        let rep = self
            .open_subs("fanout", readers(n, |_| "fanout".into()))
            .await?;
        let subs = rep.ok;
        let levels = self.levels(vec![10.0, 50.0], || {
            [
                20e3, 50e3, 100e3, 200e3, 300e3, 400e3, 600e3, 800e3, 1.2e6, 1.6e6,
            ]
            .iter()
            .map(|d| (d / subs as f64).max(1.0))
            .collect()
        });
        for payload in self.payloads() {
            let knee = self.fanout_knee(subs, payload, &levels).await;
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

    /// Step up through `levels` until a step is unhealthy: the last healthy delivery rate.
    async fn fanout_knee(&mut self, subs: u64, payload: usize, levels: &[f64]) -> Option<f64> {
        let mut knee = None;
        for &rate in levels {
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
            if !s.healthy() {
                break;
            }
            knee = Some(s.deliv_rate());
        }
        knee
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
        self.open_subs("channels", readers(n, |i| format!("ch-{}", i % c)))
            .await?;
        let knee = self.channels_knee(n, c).await;
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

    /// `n` subscribers over `c` channels: step up until unhealthy; the last healthy delivery rate.
    async fn channels_knee(&mut self, n: usize, c: usize) -> Option<f64> {
        let names: Vec<String> = (0..c).map(|i| format!("ch-{i}")).collect();
        let mut per = vec![0u64; c];
        for i in 0..n {
            per[i % c] += 1;
        }
        let per_ch = n as f64 / c as f64;
        let levels = self.levels(vec![20.0], || {
            [10e3, 25e3, 50e3, 100e3, 150e3, 200e3, 300e3]
                .iter()
                .map(|d| d / per_ch)
                .collect()
        });
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
            if !s.healthy() {
                break;
            }
            knee = Some(s.deliv_rate());
        }
        knee
    }

    // ---------------------------------------------------------------- publish
    pub async fn publish(&mut self) -> anyhow::Result<()> {
        self.fleet.close_all().await;
        let clients = self
            .o
            .publishers
            .unwrap_or(if self.o.smoke { 2 } else { 8 });
        // (subscribers, events per request): /events with 0 and 1 subscriber,
        // then /batch_events with 10 events per request
        let runs: Vec<(u64, usize)> = match self.o.batch {
            Some(b) => vec![(0, b.max(1)), (1, b.max(1))],
            None => vec![(0, 1), (1, 1), (0, 10)],
        };
        for (subs, batch) in runs {
            self.publish_max(subs, batch, clients).await?;
        }
        self.batch = self.o.batch.unwrap_or(1).max(1);
        self.fleet.close_all().await;
        Ok(())
    }

    /// The highest rate of signed publishes with `subs` subscribers, `batch` events per request.
    async fn publish_max(&mut self, subs: u64, batch: usize, clients: usize) -> anyhow::Result<()> {
        self.batch = batch;
        let ch = if subs == 0 { "pub-none" } else { "pub-one" };
        if subs == 1 && self.fleet.opened() == 0 {
            self.open_subs("publish", readers(1, |_| ch.into())).await?;
        }
        let what = if batch > 1 {
            format!("{batch}/req ")
        } else {
            String::new()
        };
        let best = self.publish_steps(ch, subs, clients, &what).await;
        let text = if batch > 1 {
            format!("best achieved {best:.0} signed events/s in /batch_events requests of {batch} with {clients} keep-alive clients")
        } else {
            format!("best achieved {best:.0} signed publishes/s with {clients} keep-alive clients")
        };
        self.emit_other(
            "publish",
            &format!("max {what}{subs}sub"),
            text,
            json!({"subscribers": subs, "max_publishes_per_s": r1(best), "http_clients": clients,
                   "events_per_request": batch}),
        );
        Ok(())
    }

    /// Step up until the publisher falls behind or errs: the best publish rate achieved.
    async fn publish_steps(&mut self, ch: &str, subs: u64, clients: usize, what: &str) -> f64 {
        let batch = self.batch;
        let levels = self.levels(vec![100.0 * batch as f64], || {
            [5e3, 10e3, 20e3, 30e3, 40e3, 50e3, 60e3, 80e3]
                .iter()
                .map(|r| r * (batch as f64 / 2.0).max(1.0))
                .collect()
        });
        let payload = self.o.payload.unwrap_or(100);
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
        best
    }
}
