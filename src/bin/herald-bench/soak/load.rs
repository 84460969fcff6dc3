//! The soak's load: what each kind of socket does, the spawners that make them
//! come and go, and the signed HTTP publishers (blocking threads).

use super::client::{nap, Sock};
use super::ledger::{End, PubRec};
use super::state::{Kind, Soak};
use crate::publisher::{now_ns, signed_request, Conn, PubCfg};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::task::JoinHandle;

fn secs(lo: f64, hi: f64, soak: &Soak) -> Duration {
    Duration::from_secs_f64(lo + (hi - lo) * soak.rand(1000) as f64 / 1000.0)
}

/// A long-lived subscriber of `ch` (a presence watcher joins as `w{idx}`); private
/// and presence ones send a client event every second. Reconnects when dropped.
pub async fn steady(soak: Rc<Soak>, ch: u16, idx: usize) {
    let kind = soak.channels[ch as usize].1;
    let user = (kind == Kind::Presence).then(|| format!("w{idx}"));
    let talks = matches!(kind, Kind::Private | Kind::Presence);
    let mut node = idx;
    let mut seq = 0;
    while !*soak.stop.borrow().borrow() {
        let Some(mut s) = Sock::connect(&soak, node, false).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        match s.subscribe(ch, user.as_deref()).await {
            Ok(sid) => loop {
                if s.pump(Duration::from_secs(1), false).await.is_err() {
                    break;
                }
                if *soak.stop.borrow().borrow() {
                    s.leave(false).await;
                    return;
                }
                if talks && s.client_event(ch, sid, seq).await.is_err() {
                    s.end_all(End::Dropped);
                    break;
                }
                seq += 1;
            },
            Err(_) => soak.count("steady subscribe failed"),
        }
        // like pusher-js behind a load balancer: come back, maybe elsewhere
        node = s.node as usize + 1;
        drop(s);
        seq = 0;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Connect churn: connect, subscribe a public or private channel, stay 2-8 s, leave
/// (a Close frame, or the TCP connection just dropped).
pub async fn passer_by(soak: Rc<Soak>) {
    let chans: Vec<u16> = [soak.of(Kind::Public), soak.of(Kind::Private)].concat();
    let node = soak.rand(soak.nodes.len() as u64) as usize;
    let Some(mut s) = Sock::connect(&soak, node, false).await else {
        return;
    };
    let ch = chans[soak.rand(chans.len() as u64) as usize];
    if s.subscribe(ch, None).await.is_err() {
        soak.count("passer-by subscribe failed");
        return;
    }
    if s.pump(secs(2.0, 8.0, &soak), true).await.is_ok() {
        let abrupt = soak.rand(2) == 0;
        s.leave(abrupt).await;
    }
}

/// Subscribe churn: one socket hops between public channels every 1-3 s.
pub async fn hopper(soak: Rc<Soak>, idx: usize) {
    let chans = soak.of(Kind::Public);
    let mut node = idx;
    while !*soak.quiet.borrow().borrow() {
        let Some(mut s) = Sock::connect(&soak, node, false).await else {
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        };
        loop {
            let ch = chans[soak.rand(chans.len() as u64) as usize];
            if s.subscribe(ch, None).await.is_err() {
                soak.count("hopper subscribe failed");
                break;
            }
            if s.pump(secs(1.0, 3.0, &soak), true).await.is_err() {
                break;
            }
            if s.unsubscribe(ch).await.is_err() {
                s.end_all(End::Dropped);
                break;
            }
            if *soak.quiet.borrow().borrow() {
                s.leave(false).await;
                return;
            }
        }
        node = s.node as usize + 1;
    }
}

/// Presence churn: join a presence channel as one of 12 users (some users hold
/// two sockets at once), stay 3-10 s, leave by unsubscribing or closing. A
/// member whose socket drops does not come back (the user went away).
pub async fn member(soak: Rc<Soak>) {
    let chans = soak.of(Kind::Presence);
    let node = soak.rand(soak.nodes.len() as u64) as usize;
    let Some(mut s) = Sock::connect(&soak, node, false).await else {
        return;
    };
    let ch = chans[soak.rand(chans.len() as u64) as usize];
    let user = format!("u{}", soak.rand(12));
    if s.subscribe(ch, Some(&user)).await.is_err() {
        soak.count("presence join refused");
        return;
    }
    if s.pump(secs(3.0, 10.0, &soak), true).await.is_err() {
        return;
    }
    if soak.rand(2) == 0 && s.unsubscribe(ch).await.is_ok() {
        let _ = s.pump(Duration::from_millis(200), true).await;
    }
    s.leave(false).await;
}

/// A socket that subscribes to the busy channel and stops reading for `stall`;
/// then it reads what is left and reports how the server ended it.
pub async fn stalled(soak: Rc<Soak>, idx: usize, stall: Duration) {
    let busy = soak.of(Kind::Busy)[0];
    let Some(mut s) = Sock::connect(&soak, idx, true).await else {
        return;
    };
    let msg = crate::ws::subscribe_msg(&soak.channels[busy as usize].0);
    if s.ws.send_text(&msg).await.is_err() || s.ws.wait_subscribed().await.is_err() {
        soak.count("stalled: subscribe failed");
        return;
    }
    let t0 = Instant::now();
    let t0_ns = now_ns();
    nap(&soak, stall).await;
    let long_enough = t0.elapsed() >= stall;
    let fault = super::FAULT_AT.load(Ordering::Relaxed) > t0_ns;
    let outcome = loop {
        match tokio::time::timeout(Duration::from_secs(3), s.ws.next()).await {
            Ok(Ok(crate::ws::Frame::Close(c))) => break format!("closed {c}"),
            Ok(Ok(_)) => {}
            Ok(Err(_)) => break "reset or EOF".to_string(),
            Err(_) => break "still open".to_string(),
        }
    };
    let age = match (long_enough, fault) {
        (false, _) => "cut short",
        (true, true) => "full stall, a fault meanwhile",
        (true, false) => "full stall",
    };
    soak.count(&format!("stalled ({age}): {outcome}"));
}

/// Start something every `every` until the churn stops.
pub fn spawner<F, Fut>(soak: &Rc<Soak>, every: Duration, f: F) -> JoinHandle<()>
where
    F: Fn(Rc<Soak>, usize) -> Fut + 'static,
    Fut: std::future::Future<Output = ()> + 'static,
{
    let soak = soak.clone();
    tokio::task::spawn_local(async move {
        let mut tick = tokio::time::interval(every);
        let mut quiet = soak.quiet.borrow().clone();
        let mut i = 0;
        let mut tasks: Vec<JoinHandle<()>> = Vec::new();
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = quiet.wait_for(|v| *v) => break,
            }
            tasks.retain(|t| !t.is_finished());
            tasks.push(tokio::task::spawn_local(f(soak.clone(), i)));
            i += 1;
        }
        for t in tasks {
            let _ = t.await;
        }
    })
}

/// What publisher threads share with the soak.
#[derive(Default)]
pub struct Pubs {
    pub stop: AtomicBool,
    pub ok: AtomicU64,
    pub failed: AtomicU64,
    pub recs: Mutex<Vec<(usize, Vec<PubRec>)>>,
}

/// One publisher thread: `cfg.rate` events per second to `cfg.addr`, round-robin
/// over `channels`, each numbered per channel, `cfg.payload` bytes of data.
pub fn publisher(
    id: usize,
    cfg: PubCfg,
    channels: Vec<(u16, String)>,
    pubs: Arc<Pubs>,
) -> std::thread::JoinHandle<()> {
    let (addr, rate, payload) = (cfg.addr, cfg.rate, cfg.payload);
    std::thread::spawn(move || {
        let mut conn = Conn::new(addr);
        let mut recs = Vec::new();
        let mut seqs = vec![0u32; channels.len()];
        let host = addr.to_string();
        let interval = Duration::from_secs_f64(1.0 / rate);
        let mut due = Instant::now();
        let mut i = 0usize;
        while !pubs.stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if due > now {
                std::thread::sleep(due - now);
            } else if now - due > Duration::from_secs(1) {
                due = now; // fell far behind (a node down): no catch-up burst
            }
            due += interval;
            let k = i % channels.len();
            i += 1;
            let (ch, name) = &channels[k];
            let seq = seqs[k];
            seqs[k] += 1;
            let send_ns = now_ns();
            let mut data = format!("@P{id}@S{seq}@T{send_ns}@");
            while data.len() < payload {
                data.push('x');
            }
            let body = format!(r#"{{"name":"soak","channel":"{name}","data":"{data}"}}"#);
            let req = signed_request(&cfg, &host, &body);
            let status = conn.roundtrip(&req).unwrap_or(0);
            let counter = if status == 200 {
                &pubs.ok
            } else {
                &pubs.failed
            };
            counter.fetch_add(1, Ordering::Relaxed);
            if status == 0 {
                std::thread::sleep(Duration::from_millis(50));
            }
            recs.push(PubRec {
                ch: *ch,
                seq,
                send_ns,
                done_ns: now_ns(),
                status,
            });
        }
        pubs.recs.lock().unwrap().push((id, recs));
    })
}
