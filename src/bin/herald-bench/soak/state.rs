//! State shared by the soak's socket tasks: targets, channels, the ledger,
//! presence truth and views, counters and the stop signals.

use super::ledger::Ledger;
use crate::hist::Hist;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use tokio::sync::watch;

#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Kind {
    Public,
    Private,
    Presence,
    /// the busy channel stalled readers subscribe to
    Busy,
}

pub struct Watcher {
    pub pch: usize,
    pub view: HashSet<String>,
    pub live: bool,
}

/// Who is really in each presence channel, and what each watcher believes.
#[derive(Default)]
pub struct Presence {
    /// per presence channel: user -> sockets joined (acknowledged, not yet left)
    pub truth: Vec<HashMap<String, u32>>,
    pub watchers: Vec<Watcher>,
    /// (channel, user) gone from the truth at this time; `true` if its socket dropped
    pending: HashMap<(usize, String), (u64, bool)>,
    /// from a member's leave (or drop) to a watcher's `member_removed`
    pub leave_lat: Hist,
    pub drop_lat: Hist,
}

impl Presence {
    pub fn new(channels: usize) -> Presence {
        Presence {
            truth: vec![HashMap::new(); channels],
            ..Default::default()
        }
    }

    pub fn joined(&mut self, pch: usize, user: &str) {
        *self.truth[pch].entry(user.to_string()).or_default() += 1;
        self.pending.remove(&(pch, user.to_string()));
    }

    pub fn left(&mut self, pch: usize, user: &str, dropped: bool, now: u64) {
        let t = &mut self.truth[pch];
        if let Some(n) = t.get_mut(user) {
            *n -= 1;
            if *n == 0 {
                t.remove(user);
                self.pending.insert((pch, user.to_string()), (now, dropped));
            }
        }
    }

    /// When (channel, user) last left the truth, if it is absent.
    pub fn left_at(&self, pch: usize, user: &str) -> Option<u64> {
        self.pending.get(&(pch, user.to_string())).map(|p| p.0)
    }

    /// Members still absent who left between `a` and `b`.
    pub fn left_between(&self, a: u64, b: u64) -> u64 {
        self.pending
            .values()
            .filter(|(t, _)| *t >= a && *t <= b)
            .count() as u64
    }

    pub fn watch(&mut self, pch: usize, ids: Vec<String>) -> usize {
        self.watchers.push(Watcher {
            pch,
            view: ids.into_iter().collect(),
            live: true,
        });
        self.watchers.len() - 1
    }

    pub fn seen(&mut self, w: usize, user: &str, added: bool, now: u64) {
        let pch = self.watchers[w].pch;
        if added {
            self.watchers[w].view.insert(user.to_string());
            return;
        }
        self.watchers[w].view.remove(user);
        if let Some((t, dropped)) = self.pending.get(&(pch, user.to_string())) {
            let h = match dropped {
                true => &mut self.drop_lat,
                false => &mut self.leave_lat,
            };
            h.record(now.saturating_sub(*t));
        }
    }

    /// Live watchers whose member list differs from the truth: (watcher, missing, extra).
    pub fn diverged(&self) -> Vec<(usize, Vec<String>, Vec<String>)> {
        let mut out = Vec::new();
        for (i, w) in self.watchers.iter().enumerate().filter(|(_, w)| w.live) {
            let truth = &self.truth[w.pch];
            let missing: Vec<String> = (truth.keys())
                .filter(|u| !w.view.contains(*u))
                .cloned()
                .collect();
            let extra: Vec<String> = (w.view.iter())
                .filter(|u| !truth.contains_key(*u))
                .cloned()
                .collect();
            if !missing.is_empty() || !extra.is_empty() {
                out.push((i, missing, extra));
            }
        }
        out
    }
}

pub struct Soak {
    pub nodes: Vec<SocketAddr>,
    pub key: String,
    pub secret: String,
    /// (name, kind, index among the presence channels)
    pub channels: Vec<(String, Kind, usize)>,
    pub index: HashMap<Vec<u8>, u16>,
    pub ledger: RefCell<Ledger>,
    pub presence: RefCell<Presence>,
    pub counters: RefCell<BTreeMap<String, u64>>,
    pub open: Cell<u64>,
    pub delivered: Cell<u64>,
    pub lat: RefCell<Hist>,
    /// latency since the last table row
    pub lat_row: RefCell<Hist>,
    /// churn stops and churning sockets leave
    pub quiet: RefCell<watch::Receiver<bool>>,
    /// every socket leaves
    pub stop: RefCell<watch::Receiver<bool>>,
    rng: Cell<u64>,
}

impl Soak {
    pub fn new(nodes: Vec<SocketAddr>, key: &str, secret: &str) -> Soak {
        let mut channels = Vec::new();
        for i in 0..8 {
            channels.push((format!("soak-{i}"), Kind::Public, 0));
        }
        for i in 0..4 {
            channels.push((format!("private-soak-{i}"), Kind::Private, 0));
        }
        for i in 0..3 {
            channels.push((format!("presence-soak-{i}"), Kind::Presence, i));
        }
        channels.push(("soak-busy".into(), Kind::Busy, 0));
        let index = (channels.iter().enumerate())
            .map(|(i, c)| (c.0.as_bytes().to_vec(), i as u16))
            .collect();
        let (_, rx) = watch::channel(false);
        Soak {
            nodes,
            key: key.into(),
            secret: secret.into(),
            channels,
            index,
            ledger: RefCell::default(),
            presence: RefCell::new(Presence::new(3)),
            counters: RefCell::default(),
            open: Cell::new(0),
            delivered: Cell::new(0),
            lat: RefCell::default(),
            lat_row: RefCell::default(),
            quiet: RefCell::new(rx.clone()),
            stop: RefCell::new(rx),
            rng: Cell::new(0x9E37_79B9_7F4A_7C15),
        }
    }

    /// Channel indices of one kind.
    pub fn of(&self, kind: Kind) -> Vec<u16> {
        (self.channels.iter().enumerate())
            .filter(|(_, c)| c.1 == kind)
            .map(|(i, _)| i as u16)
            .collect()
    }

    /// A number in 0..n (xorshift64).
    pub fn rand(&self, n: u64) -> u64 {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        x % n.max(1)
    }

    pub fn count(&self, what: &str) {
        *self
            .counters
            .borrow_mut()
            .entry(what.to_string())
            .or_default() += 1;
    }

    pub fn delivered(&self, lat_ns: u64) {
        self.delivered.set(self.delivered.get() + 1);
        self.lat.borrow_mut().record(lat_ns);
        self.lat_row.borrow_mut().record(lat_ns);
    }

    /// `pusher:subscribe`, signed for private and presence channels.
    pub fn subscribe_msg(&self, socket_id: &str, channel: &str, user: Option<&str>) -> String {
        let data = user.map(|u| format!(r#"{{"user_id":"{u}","user_info":{{"n":"{u}"}}}}"#));
        if !channel.starts_with("private-") && !channel.starts_with("presence-") {
            return crate::ws::subscribe_msg(channel);
        }
        let sig = herald::auth::sign(
            &self.secret,
            &herald::auth::channel_string(socket_id, channel, data.as_deref()),
        );
        let mut d = serde_json::json!({"auth": format!("{}:{sig}", self.key), "channel": channel});
        if let Some(data) = data {
            d["channel_data"] = data.into();
        }
        serde_json::json!({"event": "pusher:subscribe", "data": d}).to_string()
    }
}
