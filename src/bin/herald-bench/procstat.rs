//! Process CPU time and RSS from /proc.

use std::time::Instant;

const CLK_TCK: f64 = 100.0; // USER_HZ on Linux

/// utime + stime in microseconds (includes exited threads).
pub fn cpu_us(pid: &str) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    // after the comm field: state is index 0, utime is field 14 overall => index 11
    let ut: f64 = f.get(11)?.parse().ok()?;
    let st: f64 = f.get(12)?.parse().ok()?;
    Some((ut + st) / CLK_TCK * 1e6)
}

/// VmRSS in KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Busy CPU time of the whole box (all cores) in microseconds, from /proc/stat.
pub fn box_busy_us() -> f64 {
    let s = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let line = s.lines().next().unwrap_or("");
    let f: Vec<f64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal
    let busy: f64 = f
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4 && *i < 8)
        .map(|(_, v)| v)
        .sum();
    busy / CLK_TCK * 1e6
}

/// A CPU/RSS sample of the server (if known) and of this process.
#[derive(Clone, Copy, Debug)]
pub struct Sample {
    pub at: Instant,
    pub srv_cpu_us: Option<f64>,
    pub srv_rss_kib: Option<u64>,
    pub gen_cpu_us: f64,
    pub box_busy_us: f64,
}

/// Sum `f` over a comma list of pids; `None` if no pid answered.
fn sum_over<T: std::iter::Sum<T>>(pids: &str, f: fn(&str) -> Option<T>) -> Option<T> {
    let vals: Vec<T> = pids.split(',').filter_map(|p| f(p.trim())).collect();
    (!vals.is_empty()).then(|| vals.into_iter().sum())
}

/// `server_pid`: one pid, or a comma list of nodes (summed).
/// `workers`: the generator's other processes, whose CPU counts as its own.
pub fn sample(server_pid: Option<&str>, workers: &[u32]) -> Sample {
    let workers_us: f64 = (workers.iter())
        .filter_map(|p| cpu_us(&p.to_string()))
        .sum();
    Sample {
        at: Instant::now(),
        srv_cpu_us: server_pid.and_then(|p| sum_over(p, cpu_us)),
        srv_rss_kib: server_pid.and_then(|p| sum_over(p, rss_kib)),
        gen_cpu_us: cpu_us("self").unwrap_or(0.0) + workers_us,
        box_busy_us: box_busy_us(),
    }
}

/// Differences between two samples.
#[derive(Clone, Copy, Debug, Default)]
pub struct Delta {
    pub secs: f64,
    pub srv_cpu_us: Option<f64>,
    pub gen_cpu_us: f64,
    pub srv_rss_kib: Option<u64>,
    /// busy CPU of everything else on the box (neither server nor generator)
    pub other_cpu_us: f64,
}

impl Delta {
    pub fn between(a: &Sample, b: &Sample) -> Delta {
        Delta {
            secs: b.at.duration_since(a.at).as_secs_f64(),
            srv_cpu_us: match (a.srv_cpu_us, b.srv_cpu_us) {
                (Some(x), Some(y)) => Some(y - x),
                _ => None,
            },
            gen_cpu_us: b.gen_cpu_us - a.gen_cpu_us,
            srv_rss_kib: b.srv_rss_kib,
            other_cpu_us: ((b.box_busy_us - a.box_busy_us)
                - (b.gen_cpu_us - a.gen_cpu_us)
                - match (a.srv_cpu_us, b.srv_cpu_us) {
                    (Some(x), Some(y)) => y - x,
                    _ => 0.0,
                })
            .max(0.0),
        }
    }
    /// Server CPU utilisation in percent of one core.
    pub fn srv_pct(&self) -> Option<f64> {
        self.srv_cpu_us.map(|c| c / (self.secs * 1e6) * 100.0)
    }
    /// CPU used by other processes, percent of one core: a busy box spoils the figures.
    pub fn other_pct(&self) -> f64 {
        self.other_cpu_us / (self.secs * 1e6) * 100.0
    }
    pub fn gen_pct(&self) -> f64 {
        self.gen_cpu_us / (self.secs * 1e6) * 100.0
    }
}

/// Open descriptors of a process: the entries of /proc/PID/fd.
pub fn fds(pid: &str) -> Option<u64> {
    Some(std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64)
}
