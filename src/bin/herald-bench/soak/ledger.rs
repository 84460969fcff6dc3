//! What the soak promised and what arrived: every publish and client event sent,
//! every subscription session (acknowledged .. ended), and the check that
//! finds, per session, what was lost, duplicated or reordered.
//!
//! An event is promised to a session when it was sent after the session's
//! `subscription_succeeded` arrived and (HTTP publishes) answered 200 before the
//! session ended (unsubscribe sent, socket closed, or socket found dropped).
//! On another node than the publisher's, the 200 must come [`CROSS_NODE_GRACE_NS`]
//! before the end. Client events have no answer: they are promised when sent at least
//! [`CLIENT_GRACE_NS`] before both the receiver's and the sender's session ended.

use std::collections::HashMap;

/// Client events sent this close to either end of a session are not promised.
pub const CLIENT_GRACE_NS: u64 = 1_000_000_000;

/// A 200 promises delivery on other nodes once the event crossed the bus: a
/// subscriber on another node that unsubscribes within this time after the 200
/// may miss it (on the publishing node, the frame is queued before the 200).
pub const CROSS_NODE_GRACE_NS: u64 = 1_000_000_000;

/// One HTTP publish.
#[derive(Clone, Copy)]
pub struct PubRec {
    pub ch: u16,
    pub seq: u32,
    pub send_ns: u64,
    pub done_ns: u64,
    /// HTTP status, 0 for a connection error
    pub status: u16,
}

/// One client event, sent by the socket of session `session`.
#[derive(Clone, Copy)]
pub struct CliRec {
    pub session: u32,
    pub seq: u32,
    pub send_ns: u64,
}

/// How a session ended.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum End {
    Open,
    /// we unsubscribed or closed
    Left,
    /// the socket dropped under us (EOF, reset, close frame we did not ask for)
    Dropped,
}

pub struct Session {
    pub ch: u16,
    pub node: u8,
    pub ack_ns: u64,
    pub end_ns: u64,
    pub end: End,
    /// (publisher, seq) of HTTP publishes received
    pub got_pub: Vec<(u8, u32)>,
    /// (sending session, seq) of client events received
    pub got_cli: Vec<(u32, u32)>,
    /// deliveries whose sequence number was below the last one from the same source
    pub reordered: u64,
    last: Vec<(u32, u32)>,
}

impl Session {
    pub fn new(ch: u16, node: u8, ack_ns: u64) -> Session {
        Session {
            ch,
            node,
            ack_ns,
            end_ns: 0,
            end: End::Open,
            got_pub: Vec::new(),
            got_cli: Vec::new(),
            reordered: 0,
            last: Vec::new(),
        }
    }

    fn order(&mut self, src: u32, seq: u32) {
        match self.last.iter_mut().find(|(s, _)| *s == src) {
            Some((_, last)) => {
                if seq < *last {
                    self.reordered += 1;
                }
                *last = seq.max(*last);
            }
            None => self.last.push((src, seq)),
        }
    }

    pub fn got_publish(&mut self, publisher: u8, seq: u32) {
        self.order(publisher as u32, seq);
        self.got_pub.push((publisher, seq));
    }

    pub fn got_client(&mut self, sender: u32, seq: u32) {
        self.order(u32::MAX - sender, seq);
        self.got_cli.push((sender, seq));
    }

    pub fn describe(&self, id: usize) -> String {
        format!(
            "session {id} on channel {} node {}: acknowledged {}, ended {} ({:?}), {} received",
            self.ch,
            self.node,
            self.ack_ns,
            self.end_ns,
            self.end,
            self.got_pub.len() + self.got_cli.len()
        )
    }

    pub fn finish(&mut self, end: End, at: u64) {
        if self.end == End::Open {
            self.end = end;
            self.end_ns = at;
        }
    }
}

/// Faults injected, as the checker needs them.
#[derive(Default, Clone)]
pub struct Faults {
    /// (node, kill time)
    pub kill: Option<(u8, u64)>,
    /// Redis outage: from the shutdown to the last 503 answered after the restart
    pub redis: Option<(u64, u64)>,
}

/// Why a promised event did not arrive.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum Class {
    /// the subscriber's socket was on the node killed with SIGKILL
    KilledNode,
    /// published through the killed node shortly before it was killed
    SentViaKilledNode,
    /// sent during the Redis outage by another node than the subscriber's
    RedisCrossNode,
    /// sent during the Redis outage on the subscriber's own node
    RedisSameNode,
    /// none of the above: a broken promise
    Unexplained,
}

impl Class {
    pub fn name(self) -> &'static str {
        match self {
            Class::KilledNode => "subscriber on the killed node",
            Class::SentViaKilledNode => "sent via the killed node < 1 s before the kill",
            Class::RedisCrossNode => "cross-node, during the Redis outage",
            Class::RedisSameNode => "same node, during the Redis outage",
            Class::Unexplained => "UNEXPLAINED",
        }
    }
}

fn classify(f: &Faults, s: &Session, src_node: u8, send_ns: u64) -> Class {
    if let Some((node, kill)) = f.kill {
        if s.node == node && s.end == End::Dropped && s.end_ns >= kill {
            return Class::KilledNode;
        }
        if src_node == node && send_ns + 1_000_000_000 >= kill && send_ns <= kill {
            return Class::SentViaKilledNode;
        }
    }
    if let Some((down, up)) = f.redis {
        if send_ns + 200_000_000 >= down && send_ns <= up + 200_000_000 {
            return match src_node == s.node {
                true => Class::RedisSameNode,
                false => Class::RedisCrossNode,
            };
        }
    }
    Class::Unexplained
}

/// The whole record of a run.
#[derive(Default)]
pub struct Ledger {
    /// publishes per publisher; publisher `p` sends to node `pub_node[p]`
    pub pubs: Vec<Vec<PubRec>>,
    pub pub_node: Vec<u8>,
    pub clients: Vec<CliRec>,
    pub sessions: Vec<Session>,
}

/// Counts for one kind of event.
#[derive(Default, Debug)]
pub struct Tally {
    pub promised: u64,
    pub delivered: u64,
    pub lost: HashMap<Class, u64>,
    pub duplicated: u64,
    pub reordered: u64,
    /// (send time, count) of each loss, for the table
    pub lost_at: Vec<(u64, Class)>,
    pub dup_at: Vec<u64>,
    /// the first unexplained losses, described
    pub examples: Vec<String>,
}

impl Tally {
    pub fn lost_total(&self) -> u64 {
        self.lost.values().sum()
    }
    pub fn unexplained(&self) -> u64 {
        self.lost.get(&Class::Unexplained).copied().unwrap_or(0)
    }
    fn lose(&mut self, c: Class, at: u64, what: impl FnOnce() -> String) {
        *self.lost.entry(c).or_default() += 1;
        self.lost_at.push((at, c));
        if c == Class::Unexplained && self.examples.len() < 10 {
            self.examples.push(what());
        }
    }
}

impl Ledger {
    /// Publisher `id` sends to node `node`.
    pub fn set_node(&mut self, id: usize, node: u8) {
        if self.pub_node.len() <= id {
            self.pub_node.resize(id + 1, 0);
            self.pubs.resize_with(id + 1, Vec::new);
        }
        self.pub_node[id] = node;
    }

    pub fn put_publishes(&mut self, id: usize, recs: Vec<PubRec>) {
        self.pubs[id] = recs;
    }

    /// Count, over every session, what was promised, delivered, lost (classified), duplicated.
    pub fn check(&self, f: &Faults) -> (Tally, Tally) {
        let mut by_ch: PubsByCh = HashMap::new();
        for (p, recs) in self.pubs.iter().enumerate() {
            for r in recs.iter().filter(|r| r.status == 200) {
                by_ch.entry(r.ch).or_default().push((p as u8, r));
            }
        }
        let mut cli_by_ch: HashMap<u16, Vec<&CliRec>> = HashMap::new();
        for c in &self.clients {
            let ch = self.sessions[c.session as usize].ch;
            cli_by_ch.entry(ch).or_default().push(c);
        }
        let (mut pubs, mut clis) = (Tally::default(), Tally::default());
        for (id, s) in self.sessions.iter().enumerate() {
            let pubs_here = by_ch.get(&s.ch).into_iter().flatten();
            self.check_pubs(f, id, s, pubs_here, &mut pubs);
            let clis_here = cli_by_ch.get(&s.ch).into_iter().flatten().copied();
            self.check_clients(f, id, s, clis_here, &mut clis);
        }
        (pubs, clis)
    }

    /// The successful HTTP publishes on session `id`'s channel, against what it received.
    fn check_pubs<'a>(
        &self,
        f: &Faults,
        id: usize,
        s: &Session,
        recs: impl Iterator<Item = &'a (u8, &'a PubRec)>,
        t: &mut Tally,
    ) {
        let end = end_ns(s);
        let seen = count(&s.got_pub);
        for (p, r) in recs {
            let got = seen.get(&(*p, r.seq)).copied().unwrap_or(0);
            if got > 1 {
                t.duplicated += (got - 1) as u64;
                t.dup_at.push(r.send_ns);
            }
            let node = self.pub_node[*p as usize];
            let grace = if node == s.node {
                0
            } else {
                CROSS_NODE_GRACE_NS
            };
            if r.send_ns <= s.ack_ns || r.done_ns.saturating_add(grace) >= end {
                continue;
            }
            t.promised += 1;
            match got {
                0 => t.lose(classify(f, s, node, r.send_ns), r.send_ns, || {
                    format!(
                        "publisher {p} (node {node}) seq {} sent {} answered {} ms later; {}",
                        r.seq,
                        r.send_ns,
                        (r.done_ns - r.send_ns) / 1_000_000,
                        s.describe(id)
                    )
                }),
                _ => t.delivered += 1,
            }
        }
        t.reordered += s.reordered;
    }

    /// The client events sent on session `id`'s channel, against what it received.
    fn check_clients<'a>(
        &self,
        f: &Faults,
        id: usize,
        s: &Session,
        recs: impl Iterator<Item = &'a CliRec>,
        t: &mut Tally,
    ) {
        let end = end_ns(s);
        let seen = count(&s.got_cli);
        for c in recs {
            let sender = &self.sessions[c.session as usize];
            let got = seen.get(&(c.session, c.seq)).copied().unwrap_or(0);
            if got > 1 {
                t.duplicated += (got - 1) as u64;
                t.dup_at.push(c.send_ns);
            }
            let promised = c.session as usize != id
                && c.send_ns > s.ack_ns
                && c.send_ns.saturating_add(CLIENT_GRACE_NS) < end.min(end_ns(sender));
            if !promised {
                continue;
            }
            t.promised += 1;
            match got {
                0 => t.lose(classify(f, s, sender.node, c.send_ns), c.send_ns, || {
                    format!(
                        "client event from session {} (node {}) seq {} sent {}; {}",
                        c.session,
                        sender.node,
                        c.seq,
                        c.send_ns,
                        s.describe(id)
                    )
                }),
                _ => t.delivered += 1,
            }
        }
    }
}

/// Successful publishes by channel: (publisher, record).
type PubsByCh<'a> = HashMap<u16, Vec<(u8, &'a PubRec)>>;

/// When a session ended, `u64::MAX` while open.
fn end_ns(s: &Session) -> u64 {
    match s.end {
        End::Open => u64::MAX,
        _ => s.end_ns,
    }
}

/// How many times each key was received.
fn count<K: std::hash::Hash + Eq + Copy>(got: &[K]) -> HashMap<K, u32> {
    let mut seen = HashMap::new();
    for k in got {
        *seen.entry(*k).or_default() += 1;
    }
    seen
}

#[cfg(test)]
mod tests;
