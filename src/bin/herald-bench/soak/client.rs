//! The soak's sockets: one task each on the generator's single-threaded runtime.
//! Steady subscribers (and presence watchers) reconnect like pusher-js when their
//! socket drops; churning sockets come and go; stalled readers stop reading.

use super::ledger::{CliRec, End, Session};
use super::state::Soak;
use crate::publisher::now_ns;
use crate::ws::{find, num_after, ConnOpts, Frame, Ws};
use std::collections::HashMap;
use std::rc::Rc;
use std::time::Duration;
use tokio::time::{sleep, timeout, Instant};

/// A connected socket and the sessions it holds (channel index -> session id).
pub struct Sock {
    pub ws: Ws,
    pub node: u8,
    /// channel -> its latest session, kept after the session ended: frames in
    /// flight when it ended are still recorded
    subs: HashMap<u16, u32>,
    /// sessions not ended yet
    live: Vec<u32>,
    /// presence watcher index, when this socket keeps a member list
    watcher: Option<usize>,
    /// (presence channel, user) this socket joined as
    member: Option<(usize, String)>,
    soak: Rc<Soak>,
}

impl Drop for Sock {
    fn drop(&mut self) {
        self.soak.open.set(self.soak.open.get() - 1);
    }
}

/// What a frame meant, once its bytes are released.
enum Ev {
    Nothing,
    Ping,
    Ack(u16, Option<Vec<String>>),
    Refused(u16),
    Closed(u16),
}

fn channel_of(t: &[u8]) -> Option<&[u8]> {
    let p = find(t, b"\"channel\":\"")? + 11;
    let e = t[p..].iter().position(|&b| b == b'"')?;
    Some(&t[p..p + e])
}

/// user ids of a JSON value that is a string or a number
fn id_of(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The `data` of a control frame, parsed (it travels as a JSON string).
fn inner_data(t: &[u8]) -> Option<serde_json::Value> {
    let v: serde_json::Value = serde_json::from_slice(t).ok()?;
    match &v["data"] {
        serde_json::Value::String(s) => serde_json::from_str(s).ok(),
        other => Some(other.clone()),
    }
}

impl Sock {
    pub async fn connect(soak: &Rc<Soak>, node: usize, stall: bool) -> Option<Sock> {
        let n = soak.nodes.len();
        for k in 0..n {
            let node = (node + k) % n;
            let addr = soak.nodes[node];
            let o = ConnOpts {
                addr,
                src: None,
                rcvbuf: stall.then_some(4096),
                host_header: addr.to_string(),
                key: soak.key.clone(),
            };
            let seed = soak.rand(u32::MAX as u64) as u32;
            let ws = timeout(Duration::from_secs(10), async {
                let mut ws = Ws::connect(&o, seed).await?;
                ws.established().await?;
                std::io::Result::Ok(ws)
            });
            match ws.await {
                Ok(Ok(ws)) => {
                    soak.open.set(soak.open.get() + 1);
                    soak.count("connect");
                    return Some(Sock {
                        ws,
                        node: node as u8,
                        subs: HashMap::new(),
                        live: Vec::new(),
                        watcher: None,
                        member: None,
                        soak: soak.clone(),
                    });
                }
                _ => soak.count("connect failed"),
            }
        }
        None
    }

    /// Handle one text frame: record deliveries, presence changes; say what else it was.
    fn handle(&mut self, t: &[u8]) -> Ev {
        let soak = &self.soak;
        let ch = channel_of(t).and_then(|c| soak.index.get(c).copied());
        if let Some(seq) = num_after(t, b"@S") {
            let Some(&sid) = ch.and_then(|c| self.subs.get(&c)) else {
                return Ev::Nothing;
            };
            let mut l = soak.ledger.borrow_mut();
            let s = &mut l.sessions[sid as usize];
            if let Some(p) = num_after(t, b"@P") {
                s.got_publish(p as u8, seq as u32);
                if let Some(sent) = num_after(t, b"@T") {
                    soak.delivered(now_ns().saturating_sub(sent));
                }
            } else if let Some(c) = num_after(t, b"@C") {
                s.got_client(c as u32, seq as u32);
            }
            return Ev::Nothing;
        }
        if find(t, b"pusher:ping").is_some() {
            return Ev::Ping;
        }
        let Some(ch) = ch else { return Ev::Nothing };
        if find(t, b"subscription_succeeded").is_some() {
            let ids = inner_data(t).and_then(|d| {
                let ids = d["presence"]["ids"].as_array()?.iter().filter_map(id_of);
                Some(ids.collect())
            });
            return Ev::Ack(ch, ids);
        }
        if find(t, b"subscription_error").is_some() {
            return Ev::Refused(ch);
        }
        let added = find(t, b"member_added").is_some();
        if added || find(t, b"member_removed").is_some() {
            let user = inner_data(t).and_then(|d| id_of(&d["user_id"]));
            if let (Some(w), Some(user)) = (self.watcher, user) {
                soak.presence.borrow_mut().seen(w, &user, added, now_ns());
            }
        }
        Ev::Nothing
    }

    /// Read frames for `dur` (or until the load stops). `Err` = the socket dropped.
    pub async fn pump(&mut self, dur: Duration, quiet: bool) -> Result<(), ()> {
        let deadline = Instant::now() + dur;
        let mut stop = match quiet {
            true => self.soak.quiet.borrow().clone(),
            false => self.soak.stop.borrow().clone(),
        };
        loop {
            if *stop.borrow() {
                return Ok(());
            }
            let ev = tokio::select! {
                r = self.ws.next() => match r {
                    Ok(Frame::Text(t)) => { let t = t.to_vec(); self.handle(&t) }
                    Ok(Frame::Close(c)) => Ev::Closed(c),
                    Ok(Frame::Other) => Ev::Nothing,
                    Err(_) => Ev::Closed(0),
                },
                _ = tokio::time::sleep_until(deadline) => return Ok(()),
                _ = stop.changed() => return Ok(()),
            };
            match ev {
                Ev::Ping => {
                    let pong = r#"{"event":"pusher:pong","data":{}}"#;
                    if self.ws.send_text(pong).await.is_err() {
                        return self.dropped(0);
                    }
                }
                Ev::Closed(c) => return self.dropped(c),
                _ => {}
            }
        }
    }

    fn dropped(&mut self, code: u16) -> Result<(), ()> {
        self.soak.count(&format!("dropped (close {code})"));
        self.end_all(End::Dropped);
        Err(())
    }

    /// End every session on this socket (presence members leave the truth).
    pub fn end_all(&mut self, end: End) {
        let now = now_ns();
        let mut l = self.soak.ledger.borrow_mut();
        for sid in self.live.drain(..) {
            let s = &mut l.sessions[sid as usize];
            s.finish(end, now);
        }
        drop(l);
        let mut p = self.soak.presence.borrow_mut();
        if let Some(w) = self.watcher.take() {
            p.watchers[w].live = false;
        }
        if let Some((pch, user)) = self.member.take() {
            p.left(pch, &user, end == End::Dropped, now);
        }
    }

    /// Subscribe to channel `ch` (signed for private and presence, as `user` on
    /// presence); on success a session starts. Presence answers the member list.
    pub async fn subscribe(&mut self, ch: u16, user: Option<&str>) -> Result<u32, bool> {
        let name = self.soak.channels[ch as usize].0.clone();
        let msg = self.soak.subscribe_msg(&self.ws.socket_id, &name, user);
        if self.ws.send_text(&msg).await.is_err() {
            return Err(true);
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ev = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Ok(Ok(Frame::Text(t))) => {
                    let t = t.to_vec();
                    self.handle(&t)
                }
                Ok(Ok(Frame::Close(c))) => Ev::Closed(c),
                Ok(Ok(Frame::Other)) => Ev::Nothing,
                Ok(Err(_)) => Ev::Closed(0),
                Err(_) => return Err(false),
            };
            match ev {
                Ev::Ack(c, ids) if c == ch => {
                    let now = now_ns();
                    let mut l = self.soak.ledger.borrow_mut();
                    let sid = l.sessions.len() as u32;
                    l.sessions.push(Session::new(ch, self.node, now));
                    drop(l);
                    self.subs.insert(ch, sid);
                    self.live.push(sid);
                    if let (Some(ids), Some(u)) = (ids, user) {
                        let mut p = self.soak.presence.borrow_mut();
                        let pch = self.soak.channels[ch as usize].2;
                        p.joined(pch, u);
                        self.member = Some((pch, u.to_string()));
                        if u.starts_with('w') {
                            self.watcher = Some(p.watch(pch, ids));
                        }
                    }
                    return Ok(sid);
                }
                Ev::Refused(c) if c == ch => return Err(false),
                Ev::Closed(c) => {
                    let _ = self.dropped(c);
                    return Err(true);
                }
                Ev::Ping => {
                    let _ = self
                        .ws
                        .send_text(r#"{"event":"pusher:pong","data":{}}"#)
                        .await;
                }
                _ => {}
            }
        }
    }

    /// Unsubscribe (the session ends as the message leaves).
    pub async fn unsubscribe(&mut self, ch: u16) -> Result<(), ()> {
        if let Some(&sid) = self.subs.get(&ch) {
            self.live.retain(|s| *s != sid);
            self.soak.ledger.borrow_mut().sessions[sid as usize].finish(End::Left, now_ns());
        }
        if let Some((pch, user)) = self.member.take() {
            self.soak
                .presence
                .borrow_mut()
                .left(pch, &user, false, now_ns());
        }
        let name = &self.soak.channels[ch as usize].0;
        let msg = crate::ws::unsubscribe_msg(name);
        self.ws.send_text(&msg).await.map_err(|_| ())
    }

    /// Send a numbered client event on `ch` from session `sid`.
    pub async fn client_event(&mut self, ch: u16, sid: u32, seq: u32) -> Result<(), ()> {
        let t = now_ns();
        let name = &self.soak.channels[ch as usize].0;
        let msg = format!(
            r#"{{"event":"client-soak","channel":"{name}","data":"@C{sid}@S{seq}@T{t}@"}}"#
        );
        self.soak.ledger.borrow_mut().clients.push(CliRec {
            session: sid,
            seq,
            send_ns: t,
        });
        self.ws.send_text(&msg).await.map_err(|_| ())
    }

    /// Leave for good: sessions end, then a Close frame, and what is in flight is
    /// read until the server's Close (the closing handshake). `abrupt`: the TCP
    /// connection is just dropped; what the server sent in the last
    /// [`ABRUPT_GRACE_NS`] may be lost with it, so that is not promised.
    pub async fn leave(mut self, abrupt: bool) {
        if abrupt {
            let at = now_ns().saturating_sub(ABRUPT_GRACE_NS);
            let mut l = self.soak.ledger.borrow_mut();
            for sid in &self.live {
                l.sessions[*sid as usize].finish(End::Left, at);
            }
        }
        self.end_all(End::Left);
        if abrupt {
            return;
        }
        let mut out = Vec::new();
        self.ws.encode(8, &1000u16.to_be_bytes(), &mut out);
        use tokio::io::AsyncWriteExt;
        if self.ws.stream.write_all(&out).await.is_err() {
            return;
        }
        let deadline = Instant::now() + Duration::from_secs(3);
        while let Ok(Ok(f)) = tokio::time::timeout_at(deadline, self.ws.next()).await {
            match f {
                Frame::Text(t) => {
                    let t = t.to_vec();
                    self.handle(&t);
                }
                Frame::Close(_) => return,
                Frame::Other => {}
            }
        }
    }
}

/// Frames sent this long before a socket drops its TCP connection may be lost with it.
pub const ABRUPT_GRACE_NS: u64 = 1_000_000_000;

/// Sleep that ends early when the load stops.
pub async fn nap(soak: &Soak, d: Duration) {
    let mut stop = soak.quiet.borrow().clone();
    tokio::select! {
        _ = sleep(d) => {}
        _ = stop.wait_for(|v| *v) => {}
    }
}
