//! Subscriber connections on the generator's single-threaded runtime.

use crate::hist::Hist;
use crate::publisher::now_ns;
use crate::ws::{find, num_after, subscribe_msg, unsubscribe_msg, ConnOpts, Frame, Ws};
use crate::{resolve, Opts};
use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, Notify, Semaphore};
use tokio::task::JoinHandle;

#[derive(Default)]
pub struct Stats {
    /// delivery latency from the intended send time (open loop)
    pub lat: Hist,
    /// delivery latency from the actual send time
    pub lat_actual: Hist,
    pub delivered: u64,
    pub stale: u64,
    pub closes: BTreeMap<u16, u64>,
    pub resets: u64,
    /// wall clock (ns) of the last delivery or `member_added`, 0 if none:
    /// comparable across generator processes
    pub last_ns: u64,
    // churn / presence
    pub cycles: u64,
    pub cycle_lat: Hist,
    pub member_added: u64,
    pub acks: u64,
}

pub struct Ctx {
    pub key: String,
    pub secret: String,
    pub sub_addrs: Vec<SocketAddr>,
    pub src_ips: u32,
    pub concurrency: usize,
    /// connections per second this process opens (its share of --connect-rate)
    pub connect_rate: Option<f64>,
    pub run: Cell<u64>,
    pub stats: RefCell<Stats>,
    pub tasks: RefCell<Vec<JoinHandle<()>>>,
    pub resume: Rc<Notify>,
    pub go: Rc<Notify>,
    pub stop: Cell<bool>,
    pub opened: Cell<u64>,
}

impl Ctx {
    /// The subscriber side of the options: targets, credentials, source addresses.
    pub fn new(o: &Opts) -> anyhow::Result<Ctx> {
        let hosts: Vec<String> = o
            .sub_hosts
            .as_deref()
            .map(|s| s.split(',').map(|h| h.trim().to_string()).collect())
            .unwrap_or_else(|| vec![o.host.clone()]);
        let ports = o.sub_port_list()?;
        let mut sub_addrs = Vec::new();
        for h in &hosts {
            for p in &ports {
                sub_addrs.push(resolve(h, *p)?);
            }
        }
        Ok(Ctx {
            key: o.key.clone(),
            secret: o.secret.clone(),
            sub_addrs,
            src_ips: o.src_ips.max(1),
            concurrency: o.connect_concurrency.max(1),
            connect_rate: (o.connect_rate)
                .filter(|r| *r > 0.0)
                .map(|r| r / o.procs.max(1) as f64),
            run: Cell::new(0),
            stats: RefCell::new(Default::default()),
            tasks: RefCell::new(Vec::new()),
            resume: Rc::new(Notify::new()),
            go: Rc::new(Notify::new()),
            stop: Cell::new(false),
            opened: Cell::new(0),
        })
    }

    pub fn reset_stats(&self) {
        let mut s = self.stats.borrow_mut();
        *s = Stats::default();
    }

    pub fn conn_opts(&self, i: u64, rcvbuf: Option<u32>) -> ConnOpts {
        let addr = self.sub_addrs[(i as usize) % self.sub_addrs.len()];
        let src = if self.src_ips > 1 && addr.ip().is_loopback() && addr.is_ipv4() {
            Some(IpAddr::V4(Ipv4Addr::new(
                127,
                0,
                0,
                1 + (i % self.src_ips as u64) as u8,
            )))
        } else {
            None
        };
        ConnOpts {
            addr,
            src,
            rcvbuf,
            host_header: addr.to_string(),
            key: self.key.clone(),
        }
    }

    /// Abort every connection task (closing its socket).
    pub async fn close_all(&self) {
        for t in self.tasks.borrow_mut().drain(..) {
            t.abort();
        }
        self.opened.set(0);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

#[derive(Clone, serde::Serialize, serde::Deserialize)]
pub enum Kind {
    /// subscribe to one channel and record deliveries
    Sub { channel: String, stall: bool },
    /// subscribe / unsubscribe between two channels until `until`
    Churn { a: String, b: String },
    /// presence member: connect, wait for `go`, join `channel` as `user`
    Presence { channel: String, user: String },
}

pub struct OpenReport {
    pub ok: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    pub secs: f64,
    pub handshake: Hist,
}

/// Open `kinds.len()` connections (at most `ctx.concurrency` handshakes in
/// flight) and wait until each is ready (subscribed, or connected for
/// presence members). Each kind comes with its connection's index across all
/// generator processes, which picks its target and source address.
pub async fn open(ctx: &Rc<Ctx>, kinds: Vec<(u64, Kind)>) -> OpenReport {
    let t0 = Instant::now();
    let sem = Arc::new(Semaphore::new(ctx.concurrency));
    let (tx, mut rx) = mpsc::unbounded_channel::<Result<Duration, String>>();
    let n = kinds.len();
    let start = tokio::time::Instant::now();
    for (j, (i, kind)) in kinds.into_iter().enumerate() {
        if let Some(rate) = ctx.connect_rate {
            tokio::time::sleep_until(start + Duration::from_secs_f64(j as f64 / rate)).await;
        }
        let permit = sem.clone().acquire_owned().await.unwrap();
        ctx.opened.set(ctx.opened.get() + 1);
        let ctx2 = ctx.clone();
        let tx = tx.clone();
        let h = tokio::task::spawn_local(async move {
            conn_task(ctx2, i, kind, tx, permit).await;
        });
        ctx.tasks.borrow_mut().push(h);
    }
    drop(tx);
    let mut rep = OpenReport {
        ok: 0,
        failed: 0,
        first_error: None,
        secs: 0.0,
        handshake: Hist::new(),
    };
    for _ in 0..n {
        match tokio::time::timeout(Duration::from_secs(60), rx.recv()).await {
            Ok(Some(Ok(d))) => {
                rep.ok += 1;
                rep.handshake.record(d.as_nanos() as u64);
            }
            Ok(Some(Err(e))) => {
                rep.failed += 1;
                rep.first_error.get_or_insert(e);
            }
            _ => {
                rep.failed += 1;
                rep.first_error.get_or_insert("timeout".into());
                break;
            }
        }
    }
    rep.secs = t0.elapsed().as_secs_f64();
    rep
}

/// Connect, and subscribe unless `kind` is a presence member (which waits for `go`).
async fn connect(opts: &ConnOpts, i: u64, kind: &Kind) -> std::io::Result<Ws> {
    let mut ws = Ws::connect(opts, (i as u32).wrapping_mul(2654435761)).await?;
    ws.established().await?;
    if let Kind::Sub { channel, .. } | Kind::Churn { a: channel, .. } = kind {
        ws.send_text(&subscribe_msg(channel)).await?;
        ws.wait_subscribed().await?;
    }
    Ok(ws)
}

async fn conn_task(
    ctx: Rc<Ctx>,
    i: u64,
    kind: Kind,
    ready: mpsc::UnboundedSender<Result<Duration, String>>,
    permit: tokio::sync::OwnedSemaphorePermit,
) {
    let t0 = Instant::now();
    let stall = matches!(kind, Kind::Sub { stall: true, .. });
    let opts = ctx.conn_opts(i, if stall { Some(4096) } else { None });
    let mut ws = match connect(&opts, i, &kind).await {
        Ok(ws) => ws,
        Err(e) => {
            let _ = ready.send(Err(e.to_string()));
            return;
        }
    };
    let _ = ready.send(Ok(t0.elapsed()));
    drop(permit);
    drop(ready);
    match kind {
        Kind::Sub { stall: true, .. } => {
            ctx.resume.notified().await;
            drain(&ctx, &mut ws).await;
        }
        Kind::Sub { .. } => receive(&ctx, &mut ws).await,
        Kind::Churn { a, b } => churn(&ctx, &mut ws, a, b).await,
        Kind::Presence { channel, user } => presence(&ctx, &mut ws, &channel, &user).await,
    }
}

/// After `go`: unsubscribe from one channel and subscribe to the other, waiting
/// for each acknowledgement, until `stop`; then read.
async fn churn(ctx: &Rc<Ctx>, ws: &mut Ws, a: String, b: String) {
    ctx.go.notified().await;
    let (mut cur, mut next) = (a, b);
    while !ctx.stop.get() {
        let t = Instant::now();
        let u = unsubscribe_msg(&cur);
        let s = subscribe_msg(&next);
        if ws.send_texts(&[&u, &s]).await.is_err() || ws.wait_subscribed().await.is_err() {
            ctx.stats.borrow_mut().resets += 1;
            return;
        }
        let mut st = ctx.stats.borrow_mut();
        st.cycles += 1;
        st.cycle_lat.record(t.elapsed().as_nanos() as u64);
        drop(st);
        std::mem::swap(&mut cur, &mut next);
    }
    receive(ctx, ws).await;
}

/// After `go`: join `channel` as `user` (the join time in `user_info`), then read.
async fn presence(ctx: &Rc<Ctx>, ws: &mut Ws, channel: &str, user: &str) {
    ctx.go.notified().await;
    let t = now_ns();
    let channel_data = format!(r#"{{"user_id":"{user}","user_info":{{"t":"@T{t}@"}}}}"#);
    let sig = herald::auth::sign(
        &ctx.secret,
        &herald::auth::channel_string(&ws.socket_id, channel, Some(&channel_data)),
    );
    let msg = serde_json::json!({
        "event": "pusher:subscribe",
        "data": {"auth": format!("{}:{}", ctx.key, sig), "channel_data": channel_data, "channel": channel}
    })
    .to_string();
    if ws.send_text(&msg).await.is_err() || ws.wait_subscribed().await.is_err() {
        ctx.stats.borrow_mut().resets += 1;
        return;
    }
    {
        let mut st = ctx.stats.borrow_mut();
        st.acks += 1;
        st.cycle_lat.record(now_ns().saturating_sub(t));
    }
    receive(ctx, ws).await;
}

/// Read frames forever: record deliveries, presence events, answer pings.
async fn receive(ctx: &Rc<Ctx>, ws: &mut Ws) {
    loop {
        let mut pong = false;
        match ws.next().await {
            Ok(Frame::Text(t)) => {
                let now = now_ns();
                if let Some(run) = num_after(t, b"@R") {
                    let mut st = ctx.stats.borrow_mut();
                    if run == ctx.run.get() {
                        st.delivered += 1;
                        if let Some(it) = num_after(t, b"@T") {
                            st.lat.record(now.saturating_sub(it));
                        }
                        if let Some(a) = num_after(t, b"@A") {
                            st.lat_actual.record(now.saturating_sub(a));
                        }
                        st.last_ns = now;
                    } else {
                        st.stale += 1;
                    }
                } else if find(t, b"member_added").is_some() {
                    let mut st = ctx.stats.borrow_mut();
                    st.member_added += 1;
                    if let Some(it) = num_after(t, b"@T") {
                        st.lat.record(now.saturating_sub(it));
                    }
                    st.last_ns = now;
                } else if find(t, b"subscription_succeeded").is_some() {
                    // (re)subscription acknowledged: nothing to record here
                } else if find(t, b"pusher:ping").is_some() {
                    pong = true;
                }
            }
            Ok(Frame::Close(c)) => {
                *ctx.stats.borrow_mut().closes.entry(c).or_default() += 1;
                return;
            }
            Ok(Frame::Other) => {}
            Err(_) => {
                ctx.stats.borrow_mut().resets += 1;
                return;
            }
        }
        if pong
            && ws
                .send_text(r#"{"event":"pusher:pong","data":{}}"#)
                .await
                .is_err()
        {
            return;
        }
    }
}

/// A stalled subscriber reads again: drain until close / EOF / 3 s of silence.
async fn drain(ctx: &Rc<Ctx>, ws: &mut Ws) {
    loop {
        match tokio::time::timeout(Duration::from_secs(3), ws.next()).await {
            Ok(Ok(Frame::Close(c))) => {
                *ctx.stats.borrow_mut().closes.entry(c).or_default() += 1;
                return;
            }
            Ok(Ok(_)) => {}
            Ok(Err(_)) => {
                ctx.stats.borrow_mut().resets += 1;
                return;
            }
            Err(_) => return,
        }
    }
}
