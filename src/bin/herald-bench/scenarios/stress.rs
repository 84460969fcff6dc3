//! Stress scenarios: subscription churn, presence storms, slow consumers, latency.

use super::*;
use std::collections::BTreeMap;

/// What the `slow` scenario measured before the stalled readers were let go.
struct Slow {
    healthy: usize,
    stalled: usize,
    /// healthy readers' p99 (us) without, then with the stalled readers
    base_p99: f64,
    p99: f64,
    /// server RSS (KiB) before and after the step with stalled readers
    rss: (Option<u64>, Option<u64>),
}

/// KiB as MiB with one decimal, or `-`.
fn mib(kib: Option<u64>) -> String {
    kib.map(|k| format!("{:.1}", k as f64 / 1024.0))
        .unwrap_or("-".into())
}

impl Bench {
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
        self.wait_storm(members, expected_added, t0, t0_ns).await;
        let s1 = self.sample();
        let st = self.fleet.stats().await;
        self.total_delivered += st.member_added;
        let d = Delta::between(&s0, &s1);
        self.storm_report((pc, pm), expected_added, &st, t0_ns, &d);
        self.fleet.close_all().await;
        Ok(())
    }

    /// Until every member is acknowledged and every `member_added` arrived, or 2 s of
    /// silence (max 30 s).
    async fn wait_storm(&mut self, members: u64, expected_added: u64, t0: Instant, t0_ns: u64) {
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
    }

    /// `pc` presence channels of `pm` members each joined at once at `t0_ns`.
    fn storm_report(
        &mut self,
        (pc, pm): (usize, usize),
        expected_added: u64,
        st: &subs::Stats,
        t0_ns: u64,
        d: &Delta,
    ) {
        let members = (pc * pm) as u64;
        let done = st.last_ns.saturating_sub(t0_ns) as f64 / 1e9;
        let (acks, added) = (st.acks, st.member_added);
        let (ack, lat) = (st.cycle_lat.summary(), st.lat.summary());
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
                mib(d.srv_rss_kib),
            ),
            json!({"channels": pc, "members_per_channel": pm, "acks": acks, "ack_latency": ack.json(),
                   "member_added": added, "member_added_expected": expected_added, "member_added_latency": lat.json(),
                   "storm_secs": r3(done), "server_cpu_us_per_member_added": per.map(r3),
                   "server_rss_kib": d.srv_rss_kib, "generator_cpu_pct": r1(d.gen_pct())}),
        );
    }

    // ---------------------------------------------------------------- slow
    pub async fn slow(&mut self) -> anyhow::Result<()> {
        let n = self.size(50, 20);
        let stalled = ((n as f64 * self.o.slow_share).round() as usize).max(1);
        // long enough for a stalled socket to overflow a 1024-frame server queue at the default rate
        let saved = self.o.duration;
        if !self.o.smoke {
            self.o.duration = saved.max(4.0);
        }
        self.fleet.close_all().await;
        let r = self.slow_steps(n - stalled, stalled).await?;
        self.o.duration = saved;
        // let the stalled sockets read again and see how the server treated them
        self.fleet.reset().await;
        self.fleet.resume().await;
        tokio::time::sleep(Duration::from_secs(4)).await;
        let st = self.fleet.stats().await;
        self.slow_report(&r, &st.closes, st.resets);
        self.fleet.close_all().await;
        Ok(())
    }

    /// A step with `healthy` readers only, then one with `stalled` readers added.
    async fn slow_steps(&mut self, healthy: usize, stalled: usize) -> anyhow::Result<Slow> {
        let rate = self
            .o
            .rate
            .unwrap_or(if self.o.smoke { 20.0 } else { 1000.0 });
        let payload = self.o.payload.unwrap_or(1024);
        self.open_subs("slow", readers(healthy, |_| "slow".into()))
            .await?;
        let clients = self.o.publishers.unwrap_or(1);
        let subs = vec![healthy as u64];
        let base = self
            .step(vec!["slow".into()], subs.clone(), rate, payload, clients)
            .await;
        let label = format!("baseline {rate:.0}/s");
        self.emit("slow", &label, &base, json!({"stalled": 0}));
        let kinds = (0..stalled)
            .map(|_| Kind::Sub {
                channel: "slow".into(),
                stall: true,
            })
            .collect();
        self.open_subs("slow", kinds).await?;
        let rss_before = self.sample().srv_rss_kib;
        let s = self
            .step(vec!["slow".into()], subs, rate, payload, clients)
            .await;
        let label = format!("{stalled} stalled {rate:.0}/s");
        self.emit("slow", &label, &s, json!({"stalled": stalled}));
        let rss_after = self.sample().srv_rss_kib;
        Ok(Slow {
            healthy,
            stalled,
            base_p99: base.lat.p99,
            p99: s.lat.p99,
            rss: (rss_before, rss_after),
        })
    }

    /// How the server treated the stalled readers, and what they cost the healthy ones.
    fn slow_report(&mut self, r: &Slow, closes: &BTreeMap<u16, u64>, resets: u64) {
        let (healthy, stalled) = (r.healthy, r.stalled);
        let (rss_before, rss_after) = r.rss;
        let c4100 = closes.get(&4100).copied().unwrap_or(0);
        let p99_change = if r.base_p99 > 0.0 {
            (r.p99 / r.base_p99 - 1.0) * 100.0
        } else {
            0.0
        };
        self.emit_other(
            "slow",
            "result",
            format!(
                "healthy p99 {} -> {} us ({p99_change:+.0}%); {stalled} stalled: {c4100} closed with 4100, other closes {:?}, resets {resets}; srv RSS {} -> {} MiB",
                fmt_us(r.base_p99),
                fmt_us(r.p99),
                closes.iter().filter(|(k, _)| **k != 4100).collect::<Vec<_>>(),
                mib(rss_before),
                mib(rss_after),
            ),
            json!({"stalled": stalled, "healthy": healthy, "healthy_p99_before_us": r1(r.base_p99),
                   "healthy_p99_after_us": r1(r.p99), "p99_change_pct": r1(p99_change), "closed_4100": c4100,
                   "closes": closes.iter().map(|(k, v)| (k.to_string(), json!(v))).collect::<serde_json::Map<_, _>>(),
                   "resets": resets, "server_rss_before_kib": rss_before, "server_rss_after_kib": rss_after}),
        );
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
