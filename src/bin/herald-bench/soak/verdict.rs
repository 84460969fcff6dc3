//! The soak's verdict: what was delivered, lost and kept, and whether every
//! stated guarantee held.

use super::ledger::{Class, Faults, Tally};
use super::report::{Quiet, Table};
use super::state::Soak;
use super::FaultLog;
use crate::Opts;

/// Collects the failures (each printed as it is found).
struct Verdict {
    ok: bool,
}

impl Verdict {
    fn fail(&mut self, why: String) {
        println!("FAIL: {why}");
        self.ok = false;
    }
}

fn tally(what: &str, t: &Tally) {
    for e in &t.examples {
        println!("  unexplained loss: {e}");
    }
    let mut classes: Vec<_> = t.lost.iter().collect();
    classes.sort();
    let lost: Vec<String> = classes
        .iter()
        .map(|(c, n)| format!("{n} {}", c.name()))
        .collect();
    println!(
        "{what}: promised {}, delivered {}, lost {} [{}], duplicated {}, out of order {}",
        t.promised,
        t.delivered,
        t.lost_total(),
        lost.join(", "),
        t.duplicated,
        t.reordered
    );
}

fn ms(ns: u64) -> f64 {
    ns as f64 / 1e6
}

/// Print everything; answer whether every stated guarantee held.
pub fn finish(
    o: &Opts,
    soak: &Soak,
    table: &Table,
    faults: &Faults,
    log: &FaultLog,
    base: &Quiet,
    end: &Quiet,
) -> bool {
    let (pubs, clis) = soak.ledger.borrow().check(faults);
    let tsv = table.render(&pubs, &clis);
    if let Some(path) = &o.report {
        if let Err(e) = std::fs::write(path, &tsv) {
            eprintln!("soak: cannot write {}: {e}", path.display());
        }
    }
    println!("== soak table (TSV; losses and duplicates in the row of their send time)\n{tsv}");
    let mut v = Verdict { ok: true };
    deliveries(soak, &pubs, &clis, &mut v);
    presence(soak, log, &mut v);
    counters(o, soak, &mut v);
    if log.kill.is_some() || log.redis_down.is_some() {
        println!("faults: {log:?}; outage window used: {:?}", faults.redis);
    }
    resources(o, base, end, &mut v);
    v.ok
}

/// The tallies and the latency; fails on an unexplained or same-node loss, a
/// duplicate, a reordering, or nothing delivered at all.
fn deliveries(soak: &Soak, pubs: &Tally, clis: &Tally, v: &mut Verdict) {
    println!(
        "== deliveries ({} sessions)",
        soak.ledger.borrow().sessions.len()
    );
    tally("HTTP publishes", pubs);
    tally("client events", clis);
    let lat = soak.lat.borrow();
    println!(
        "latency (publish sent -> delivered): n {}, p50 {:.2} ms, p99 {:.2} ms, p99.9 {:.2} ms, max {:.1} ms",
        lat.n,
        ms(lat.quantile(0.5)),
        ms(lat.quantile(0.99)),
        ms(lat.quantile(0.999)),
        ms(lat.max)
    );
    for (what, t) in [("HTTP publishes", pubs), ("client events", clis)] {
        if t.unexplained() > 0 {
            v.fail(format!(
                "{what}: {} promised events lost unexplained",
                t.unexplained()
            ));
        }
        if let Some(n) = t.lost.get(&Class::RedisSameNode) {
            v.fail(format!(
                "{what}: {n} lost on the publishing node during the Redis outage"
            ));
        }
        if t.duplicated > 0 || t.reordered > 0 {
            v.fail(format!(
                "{what}: {} duplicated, {} out of order",
                t.duplicated, t.reordered
            ));
        }
    }
    if pubs.delivered == 0 {
        v.fail("nothing was delivered".into());
    }
}

/// How soon watchers saw members leave; fails when healing took over 10 s, or
/// when a node was killed and no watcher saw its members leave.
fn presence(soak: &Soak, log: &FaultLog, v: &mut Verdict) {
    let p = soak.presence.borrow();
    println!(
        "presence: member_removed after a leave: n {}, p50 {:.0} ms, max {:.0} ms; after a socket drop \
         (node killed): n {}, p50 {:.0} ms, max {:.0} ms",
        p.leave_lat.n,
        ms(p.leave_lat.quantile(0.5)),
        ms(p.leave_lat.max),
        p.drop_lat.n,
        ms(p.drop_lat.quantile(0.5)),
        ms(p.drop_lat.max)
    );
    if p.drop_lat.max > 10_000_000_000 {
        v.fail(format!(
            "presence healed only after {:.1} s (> 10 s)",
            ms(p.drop_lat.max) / 1e3
        ));
    }
    if log.kill.is_some() && p.drop_lat.n == 0 {
        v.fail("no watcher saw the killed node's members leave".into());
    }
}

/// The counters; fails on wrong member lists, stalled readers still open, and
/// (unless allowed) members listed after leaving during the Redis outage.
fn counters(o: &Opts, soak: &Soak, v: &mut Verdict) {
    println!("== counters");
    for (k, n) in soak.counters.borrow().iter() {
        println!("{k}: {n}");
        let gap = k.starts_with("presence: listed after") && !o.allow_presence_gap;
        if gap || k.starts_with("presence: wrong") || k.contains("full stall): still open") {
            v.fail(format!("{k}: {n}"));
        }
    }
}

/// RSS and descriptors at rest, baseline against end; fails on growth beyond
/// the margins (a node restarted during the soak is not compared).
fn resources(o: &Opts, base: &Quiet, end: &Quiet, v: &mut Verdict) {
    println!("== resources at rest (baseline after warm-up -> end)");
    let margin = |base_kib: u64| (o.rss_margin_mib * 1024).max(base_kib * o.rss_margin_pct / 100);
    for (i, (pid, rss, fd)) in base.nodes.iter().enumerate() {
        let Some((pid2, rss2, fd2)) = end.nodes.get(i) else {
            continue;
        };
        let line = format!(
            "node {i}: RSS {:.1} -> {:.1} MiB ({:+.1}), fds {fd} -> {fd2} ({:+})",
            *rss as f64 / 1024.0,
            *rss2 as f64 / 1024.0,
            (*rss2 as f64 - *rss as f64) / 1024.0,
            *fd2 as i64 - *fd as i64
        );
        if pid != pid2 {
            println!("{line} (restarted during the soak: not compared)");
            continue;
        }
        println!("{line}");
        if *rss2 > rss + margin(*rss) {
            v.fail(format!(
                "node {i}: RSS {:.1} MiB above the baseline (margin {:.1} MiB)",
                (*rss2 as f64 - *rss as f64) / 1024.0,
                margin(*rss) as f64 / 1024.0
            ));
        }
        if *fd2 > fd + o.fd_margin {
            v.fail(format!(
                "node {i}: {} descriptors above the baseline",
                fd2 - fd
            ));
        }
    }
}
