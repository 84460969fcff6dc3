//! Figures of this process and machine read from `/proc`: resident memory, CPU
//! seconds, the `/usage` body and the share of memory used.

use std::fmt::Write;
use std::sync::atomic::Ordering;

pub(super) fn process_metrics(out: &mut String, prefix: &str, port: u16) {
    let mut gauge = |name: &str, kind: &str, help: &str, value: f64| {
        let _ = writeln!(
            out,
            "# HELP {prefix}{name} {help}\n# TYPE {prefix}{name} {kind}\n{prefix}{name}{{port=\"{port}\"}} {value}"
        );
    };
    gauge(
        "cluster_bus_messages_received_total",
        "counter",
        "Messages this node received from the cluster bus.",
        super::BUS_RECEIVED.load(Ordering::Relaxed) as f64,
    );
    if let Some(rss) = resident_bytes() {
        gauge(
            "process_resident_memory_bytes",
            "gauge",
            "Resident memory size in bytes.",
            rss as f64,
        );
    }
    if let Some((user, system)) = cpu_seconds() {
        gauge(
            "process_cpu_user_seconds_total",
            "counter",
            "Total user CPU time spent in seconds.",
            user,
        );
        gauge(
            "process_cpu_system_seconds_total",
            "counter",
            "Total system CPU time spent in seconds.",
            system,
        );
        gauge(
            "process_cpu_seconds_total",
            "counter",
            "Total user and system CPU time spent in seconds.",
            user + system,
        );
    }
}

/// This process's resident set size, from `/proc/self/status`.
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    kb_field(&status, "VmRSS:")
}

/// Total memory of the machine (or container view), from `/proc/meminfo`.
pub fn total_memory_bytes() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    kb_field(&meminfo, "MemTotal:")
}

fn kb_field(text: &str, name: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with(name))?;
    let kb: u64 = line[name.len()..].split_whitespace().next()?.parse().ok()?;
    Some(kb * 1024)
}

/// User and system CPU seconds from `/proc/self/stat` (clock ticks of 1/100 s,
/// the value Linux reports to user space on every common architecture).
pub(super) fn cpu_seconds() -> Option<(f64, f64)> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the parenthesised command name; utime and stime are fields 14 and 15.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i)?.parse::<f64>().ok();
    Some((ticks(11)? / 100.0, ticks(12)? / 100.0))
}

/// Resident bytes, total bytes and the share used in percent.
fn memory() -> (u64, u64, f64) {
    let used = resident_bytes().unwrap_or(0);
    let total = total_memory_bytes().unwrap_or(0).max(used);
    let percent = if total == 0 {
        0.0
    } else {
        used as f64 * 100.0 / total as f64
    };
    (used, total, percent)
}

/// The share of memory this process uses, in percent (for `/accept-traffic`).
pub fn memory_percent() -> f64 {
    memory().2
}

/// The `/usage` body, shaped like Soketi's.
pub fn usage_json() -> String {
    let (used, total, percent) = memory();
    serde_json::json!({
        "memory": { "free": total - used, "used": used, "total": total, "percent": percent }
    })
    .to_string()
}
