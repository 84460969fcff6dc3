//! The scenarios' report: one table row per step on stdout, one JSON line per step.

use super::*;
use std::io::Write;

fn unix_time() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `v` with `p` decimals, or `-`.
fn opt(v: Option<f64>, p: usize) -> String {
    v.map(|v| format!("{v:.p$}")).unwrap_or("-".into())
}

/// Add the fields of `extra` (an object) to `v` (an object).
fn extend(v: &mut Value, extra: Value) {
    if let (Value::Object(m), Value::Object(x)) = (v, extra) {
        m.extend(x);
    }
}

impl Step {
    /// Server CPU (us) per delivery, when both are known.
    fn srv_us_per_delivery(&self) -> Option<f64> {
        (self.d.srv_cpu_us)
            .filter(|_| self.delivered > 0)
            .map(|c| c / self.delivered as f64)
    }

    /// Server CPU (us) per successful publish, when both are known.
    fn srv_us_per_publish(&self) -> Option<f64> {
        (self.d.srv_cpu_us)
            .filter(|_| self.publishes.ok > 0)
            .map(|c| c / self.publishes.ok as f64)
    }
}

/// The table row of a publish step.
fn print_step(scenario: &str, label: &str, s: &Step) {
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
        fmt_us(s.publishes.lag.summary().p99),
        opt(s.d.srv_pct(), 0),
        s.d.gen_pct(),
        s.d.other_pct(),
        opt(s.d.srv_rss_kib.map(|k| k as f64 / 1024.0), 1),
        opt(s.srv_us_per_delivery(), 2),
        opt(s.srv_us_per_publish(), 1),
    );
    if let Some(e) = &s.publishes.first_error {
        println!(
            "          ! {} publish errors, first: {e}",
            s.publishes.errors
        );
    }
}

/// The JSON line of a publish step (before `extra` and the label are added).
fn step_json(scenario: &str, label: &str, s: &Step, batch: usize) -> Value {
    json!({
        "scenario": scenario,
        "step": label,
        "unix_time": unix_time(),
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
        "server_cpu_us_per_delivery": s.srv_us_per_delivery().map(r3),
        "server_cpu_us_per_publish": s.srv_us_per_publish().map(r3),
        "healthy": s.healthy(),
        "events_per_request": batch,
    })
}

impl Bench {
    pub(super) fn write_json(&mut self, mut v: Value) {
        if let (Some(l), Value::Object(m)) = (&self.o.label, &mut v) {
            m.insert("label".into(), json!(l));
        }
        if let Some(f) = self.json.as_mut() {
            let _ = writeln!(f, "{v}");
        }
    }

    pub(super) fn header(&mut self) {
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
        print_step(scenario, label, s);
        let mut v = step_json(scenario, label, s, self.batch);
        extend(&mut v, extra);
        self.write_json(v);
    }

    /// Print and record a step that is not a publish step.
    pub fn emit_other(&mut self, scenario: &str, label: &str, text: String, v: Value) {
        self.header();
        println!("{scenario:<9} {label:<22} {text}");
        let mut base = json!({
            "scenario": scenario,
            "step": label,
            "unix_time": unix_time(),
        });
        extend(&mut base, v);
        self.write_json(base);
    }

    pub(super) fn note(&self, s: String) {
        println!("          > {s}");
    }
}
