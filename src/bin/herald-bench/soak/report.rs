//! The soak's table over time, its resource samples and its verdict.

use super::ledger::Tally;
use super::load::Pubs;
use super::state::Soak;
use crate::procstat::{fds, rss_kib};
use crate::publisher::now_ns;
use crate::Opts;
use std::fmt::Write;
use std::sync::atomic::Ordering;
use std::time::Duration;

struct Row {
    t: f64,
    end_ns: u64,
    nodes: Vec<(u64, u64)>,
    conns: u64,
    p50_ms: f64,
    p99_ms: f64,
    published: u64,
    refused: u64,
    delivered: u64,
}

pub struct Table {
    t0: u64,
    rows: Vec<Row>,
    last: (u64, u64, u64),
    nodes: usize,
}

impl Table {
    pub fn new(_o: &Opts, nodes: usize) -> Table {
        eprintln!("{}", Self::header(nodes));
        Table {
            t0: now_ns(),
            rows: Vec::new(),
            last: (0, 0, 0),
            nodes,
        }
    }

    fn header(nodes: usize) -> String {
        let mut h = "t_s".to_string();
        for n in 0..nodes {
            let _ = write!(h, "\trss_mib_{n}\tfds_{n}");
        }
        h + "\tconns\tp50_ms\tp99_ms\tpublished\trefused\tdelivered\tlost\tduplicated"
    }

    /// Sample now: one row (printed to stderr as it comes; the full table, with
    /// losses, at the end).
    pub fn row(&mut self, o: &Opts, soak: &Soak, pubs: &Pubs) {
        let pids = super::pids(o);
        let nodes = (0..self.nodes)
            .map(|i| {
                let pid = pids.get(i).map(String::as_str).unwrap_or("0");
                (rss_kib(pid).unwrap_or(0), fds(pid).unwrap_or(0))
            })
            .collect();
        let mut h = soak.lat_row.borrow_mut();
        let (ok, failed) = (
            pubs.ok.load(Ordering::Relaxed),
            pubs.failed.load(Ordering::Relaxed),
        );
        let delivered = soak.delivered.get();
        let (lo, lf, ld) = self.last;
        let now = now_ns();
        let row = Row {
            t: (now - self.t0) as f64 / 1e9,
            end_ns: now,
            nodes,
            conns: soak.open.get(),
            p50_ms: h.quantile(0.5) as f64 / 1e6,
            p99_ms: h.quantile(0.99) as f64 / 1e6,
            published: ok.saturating_sub(lo),
            refused: failed.saturating_sub(lf),
            delivered: delivered - ld,
        };
        *h = Default::default();
        self.last = (ok, failed, delivered);
        eprintln!("{}", self.line(&row, None));
        self.rows.push(row);
    }

    /// A phase starts: its publishers count from zero.
    pub fn new_phase(&mut self) {
        self.last.0 = 0;
        self.last.1 = 0;
    }

    fn line(&self, r: &Row, loss: Option<(u64, u64)>) -> String {
        let mut s = format!("{:.0}", r.t);
        for (rss, fds) in &r.nodes {
            let _ = write!(s, "\t{:.1}\t{fds}", *rss as f64 / 1024.0);
        }
        let _ = write!(
            s,
            "\t{}\t{:.2}\t{:.2}\t{}\t{}\t{}",
            r.conns, r.p50_ms, r.p99_ms, r.published, r.refused, r.delivered
        );
        if let Some((lost, dup)) = loss {
            let _ = write!(s, "\t{lost}\t{dup}");
        }
        s
    }

    /// The table with losses and duplicates put in the row of their send time.
    pub fn render(&self, pubs: &Tally, clis: &Tally) -> String {
        let mut out = Self::header(self.nodes) + "\n";
        let mut start = self.t0;
        for r in &self.rows {
            let within = |t: &u64| *t >= start && *t < r.end_ns;
            let lost = (pubs.lost_at.iter().chain(&clis.lost_at))
                .filter(|(t, _)| within(t))
                .count() as u64;
            let dup = (pubs.dup_at.iter().chain(&clis.dup_at))
                .filter(|t| within(t))
                .count() as u64;
            out += &self.line(r, Some((lost, dup)));
            out.push('\n');
            start = r.end_ns;
        }
        out
    }
}

/// RSS (KiB) and descriptors of each node at rest.
pub struct Quiet {
    pub nodes: Vec<(String, u64, u64)>,
}

impl Quiet {
    pub fn show(&self) -> String {
        (self.nodes.iter())
            .map(|(p, rss, fds)| format!("pid {p}: {:.1} MiB, {fds} fds", *rss as f64 / 1024.0))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Wait `--settle` seconds after everyone left, then the median of three samples.
pub async fn quiet_sample(o: &Opts) -> Quiet {
    tokio::time::sleep(Duration::from_secs_f64(o.settle)).await;
    let mut samples = Vec::new();
    for _ in 0..3 {
        let s: Vec<(String, u64, u64)> = (super::pids(o).into_iter())
            .map(|p| {
                let (r, f) = (rss_kib(&p).unwrap_or(0), fds(&p).unwrap_or(0));
                (p, r, f)
            })
            .collect();
        samples.push(s);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let n = samples[0].len();
    let nodes = (0..n)
        .map(|i| {
            let mut r: Vec<u64> = samples
                .iter()
                .filter_map(|s| s.get(i).map(|x| x.1))
                .collect();
            let mut f: Vec<u64> = samples
                .iter()
                .filter_map(|s| s.get(i).map(|x| x.2))
                .collect();
            r.sort();
            f.sort();
            (samples[0][i].0.clone(), r[r.len() / 2], f[f.len() / 2])
        })
        .collect();
    Quiet { nodes }
}

/// At the end of a phase, once churn has left: every live watcher's member list
/// must equal the true set of members. A member still listed who left while Redis
/// was down is counted apart (the gap the README states); anything else fails.
pub fn presence_check(soak: &Soak, phase: usize, outage: Option<(u64, u64)>) {
    let p = soak.presence.borrow();
    let bad = p.diverged();
    let live = p.watchers.iter().filter(|w| w.live).count();
    eprintln!(
        "soak: phase {phase}: presence: {live} live watchers, {} with a wrong member list",
        bad.len()
    );
    let in_outage = |pch: usize, u: &String| match (outage, p.left_at(pch, u)) {
        (Some((down, up)), Some(t)) => t + 200_000_000 >= down && t <= up + 200_000_000,
        _ => false,
    };
    let (mut wrong, mut gap) = (0, 0);
    for (w, missing, extra) in &bad {
        let pch = p.watchers[*w].pch;
        let (known, other): (Vec<&String>, Vec<&String>) =
            extra.iter().partition(|u| in_outage(pch, u));
        eprintln!(
            "  watcher {w} (presence channel {pch}): missing {missing:?}, extra {other:?}, \
             extra and left during the Redis outage {known:?}"
        );
        gap += known.len() as u64;
        wrong += (missing.len() + other.len()) as u64;
    }
    let mut c = soak.counters.borrow_mut();
    if let Some((down, up)) = outage {
        let n = p.left_between(down.saturating_sub(200_000_000), up + 200_000_000);
        *c.entry("presence: members gone while Redis was down".into())
            .or_default() += n;
    }
    if wrong > 0 {
        *c.entry("presence: wrong member lists".into()).or_default() += wrong;
    }
    if gap > 0 {
        *c.entry("presence: listed after leaving during the Redis outage".into())
            .or_default() += gap;
    }
}
