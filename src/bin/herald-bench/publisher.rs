//! Open-loop signed HTTP publisher: blocking threads, each with one keep-alive
//! HTTP/1.1 connection, sharing one schedule (publish i is due at t0 + i/rate).

use crate::hist::Hist;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

pub fn now_ns() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

#[derive(Clone)]
pub struct PubCfg {
    pub addr: SocketAddr,
    pub app_id: String,
    pub key: String,
    pub secret: String,
    pub channels: Arc<Vec<String>>,
    pub rate: f64,
    pub duration: Duration,
    pub payload: usize,
    pub run: u64,
    pub clients: usize,
    pub event: String,
    /// events per request: 1 = `POST /events`, more = `POST /batch_events`
    pub batch: usize,
}

#[derive(Default)]
pub struct PubResult {
    pub scheduled: u64,
    pub ok: u64,
    pub errors: u64,
    pub first_error: Option<String>,
    /// successful publishes per channel index
    pub ok_per_channel: Vec<u64>,
    /// response time measured from the intended send time
    pub http: Hist,
    /// actual − intended send time
    pub lag: Hist,
    pub secs: f64,
}

pub struct Conn {
    addr: SocketAddr,
    s: Option<TcpStream>,
    rbuf: Vec<u8>,
}

impl Conn {
    pub fn new(addr: SocketAddr) -> Conn {
        Conn {
            addr,
            s: None,
            rbuf: Vec::with_capacity(1024),
        }
    }

    fn stream(&mut self) -> std::io::Result<&mut TcpStream> {
        if self.s.is_none() {
            let s = TcpStream::connect(self.addr)?;
            s.set_nodelay(true)?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            self.s = Some(s);
        }
        Ok(self.s.as_mut().unwrap())
    }

    /// Send one request and read the response; returns the status code.
    pub fn roundtrip(&mut self, req: &[u8]) -> std::io::Result<u16> {
        let mut tries = 0;
        loop {
            tries += 1;
            let r = self.try_roundtrip(req);
            match r {
                Err(e) if tries < 2 && self.s.is_none() => {
                    let _ = e;
                    continue; // stale keep-alive connection: reconnect once
                }
                other => return other,
            }
        }
    }

    fn try_roundtrip(&mut self, req: &[u8]) -> std::io::Result<u16> {
        let res = (|| {
            let s = self.stream()?;
            s.write_all(req)?;
            let mut buf = std::mem::take(&mut self.rbuf);
            buf.clear();
            let mut tmp = [0u8; 4096];
            let s = self.s.as_mut().unwrap();
            let hdr_end = loop {
                let n = s.read(&mut tmp)?;
                if n == 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::UnexpectedEof,
                        "eof",
                    ));
                }
                buf.extend_from_slice(&tmp[..n]);
                if let Some(p) = crate::ws::find(&buf, b"\r\n\r\n") {
                    break p + 4;
                }
            };
            let head = String::from_utf8_lossy(&buf[..hdr_end]).to_ascii_lowercase();
            let status: u16 = head.get(9..12).and_then(|s| s.parse().ok()).unwrap_or(0);
            let close = head.contains("connection: close");
            if let Some(cl) = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse::<usize>().ok())
            {
                while buf.len() < hdr_end + cl {
                    let n = s.read(&mut tmp)?;
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
            } else if head.contains("transfer-encoding: chunked") {
                while crate::ws::find(&buf[hdr_end..], b"0\r\n\r\n").is_none() {
                    let n = s.read(&mut tmp)?;
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&tmp[..n]);
                }
            }
            self.rbuf = buf;
            if close {
                self.s = None;
            }
            Ok(status)
        })();
        if res.is_err() {
            self.s = None;
        }
        res
    }
}

/// Build the payload `data`: run, sequence, intended and actual send time, padding.
pub fn payload(run: u64, seq: u64, intended: u64, actual: u64, size: usize) -> String {
    let mut d = format!("@R{run}@S{seq}@T{intended}@A{actual}@");
    while d.len() < size {
        d.push('x');
    }
    d
}

/// A signed `POST /apps/{id}/events` (or `/batch_events`) request.
pub fn signed_request(cfg: &PubCfg, host: &str, body: &str) -> Vec<u8> {
    let ts = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let md5 = herald::auth::md5_hex(body.as_bytes());
    let params = format!(
        "auth_key={}&auth_timestamp={ts}&auth_version=1.0&body_md5={md5}",
        cfg.key
    );
    let endpoint = if cfg.batch > 1 {
        "batch_events"
    } else {
        "events"
    };
    let path = format!("/apps/{}/{endpoint}", cfg.app_id);
    let sig = herald::auth::sign(&cfg.secret, &format!("POST\n{path}\n{params}"));
    let mut req = format!(
        "POST {path}?{params}&auth_signature={sig} HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    req.extend_from_slice(body.as_bytes());
    req
}

/// The body of request `i`: events `i*batch ..` on channels chosen round-robin.
/// Returns the body and the channel index of each event.
fn body(cfg: &PubCfg, i: u64, intended: u64, actual: u64) -> (String, Vec<usize>) {
    let batch = cfg.batch.max(1) as u64;
    let mut chans = Vec::with_capacity(batch as usize);
    let mut events = Vec::with_capacity(batch as usize);
    for seq in i * batch..(i + 1) * batch {
        let ch = (seq % cfg.channels.len() as u64) as usize;
        chans.push(ch);
        let data = payload(cfg.run, seq, intended, actual, cfg.payload);
        events.push(format!(
            r#"{{"name":"{}","channel":"{}","data":"{}"}}"#,
            cfg.event, cfg.channels[ch], data
        ));
    }
    if batch == 1 {
        (events.pop().unwrap_or_default(), chans)
    } else {
        (format!(r#"{{"batch":[{}]}}"#, events.join(",")), chans)
    }
}

/// The shared schedule: request `i` is due at `t0 + i * interval_ns`.
struct Schedule {
    next: AtomicU64,
    total: u64,
    batch: u64,
    t0: Instant,
    t0_ns: u64,
    interval_ns: f64,
    host: String,
}

impl PubResult {
    fn new(channels: usize) -> PubResult {
        PubResult {
            ok_per_channel: vec![0; channels],
            ..Default::default()
        }
    }

    /// Count the answer to one request carrying `batch` events on `chans`.
    fn record(&mut self, res: std::io::Result<u16>, batch: u64, chans: Vec<usize>, intended: u64) {
        match res {
            Ok(200) => {
                self.ok += batch;
                for ch in chans {
                    self.ok_per_channel[ch] += 1;
                }
                self.http.record(now_ns().saturating_sub(intended));
            }
            Ok(code) => {
                self.errors += batch;
                if self.first_error.is_none() {
                    self.first_error = Some(format!("HTTP {code}"));
                }
            }
            Err(e) => {
                self.errors += batch;
                if self.first_error.is_none() {
                    self.first_error = Some(e.to_string());
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    fn merge(&mut self, mut local: PubResult) {
        self.scheduled += local.scheduled;
        self.ok += local.ok;
        self.errors += local.errors;
        if self.first_error.is_none() {
            self.first_error = local.first_error.take();
        }
        for (a, b) in self.ok_per_channel.iter_mut().zip(&local.ok_per_channel) {
            *a += b;
        }
        self.http.merge(&local.http);
        self.lag.merge(&local.lag);
    }
}

/// One client thread: take the next due request until the schedule is done.
fn client(cfg: &PubCfg, sched: &Schedule) -> PubResult {
    let mut conn = Conn::new(cfg.addr);
    let mut local = PubResult::new(cfg.channels.len());
    loop {
        let i = sched.next.fetch_add(1, Ordering::Relaxed);
        if i >= sched.total {
            break;
        }
        let off = (i as f64 * sched.interval_ns) as u64;
        let due = sched.t0 + Duration::from_nanos(off);
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        let intended = sched.t0_ns + off;
        let actual = now_ns();
        let (body, chans) = body(cfg, i, intended, actual);
        let req = signed_request(cfg, &sched.host, &body);
        local.scheduled += sched.batch;
        local.lag.record(actual.saturating_sub(intended));
        local.record(conn.roundtrip(&req), sched.batch, chans, intended);
    }
    local
}

/// Run the schedule to completion (blocking). `rate` counts events; with
/// `batch` > 1 each request carries that many, so requests are due at
/// `rate / batch` per second and all events of one carry its intended time.
pub fn run(cfg: PubCfg) -> PubResult {
    let batch = cfg.batch.max(1) as u64;
    let events = (cfg.rate * cfg.duration.as_secs_f64()).round().max(1.0) as u64;
    let total = events.div_ceil(batch);
    let result = Arc::new(Mutex::new(PubResult::new(cfg.channels.len())));
    let sched = Arc::new(Schedule {
        next: AtomicU64::new(0),
        total,
        batch,
        t0: Instant::now() + Duration::from_millis(5),
        t0_ns: now_ns() + 5_000_000,
        interval_ns: 1e9 * batch as f64 / cfg.rate,
        host: cfg.addr.to_string(),
    });
    let mut threads = Vec::new();
    for _ in 0..cfg.clients.max(1) {
        let (cfg, sched, result) = (cfg.clone(), sched.clone(), result.clone());
        threads.push(std::thread::spawn(move || {
            let local = client(&cfg, &sched);
            result.lock().unwrap().merge(local);
        }));
    }
    for t in threads {
        let _ = t.join();
    }
    let mut r = std::mem::take(&mut *result.lock().unwrap());
    // nominal schedule length (the last request is due at (total-1)*batch/rate)
    r.secs = (sched.t0.elapsed().as_secs_f64()).max((total * batch) as f64 / cfg.rate);
    r
}
