//! Bus messages: `origin\nkind\napp\ntarget\nexcept\nframe`, as with Redis,
//! and what a node does with one from another node.

use super::Cluster;
use crate::socket::Frame;
use bytes::Bytes;

/// Kinds of bus messages.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Bus {
    Broadcast,
    ToUser,
    Terminate,
    /// `member_added` with the join's sequence number.
    Member(u64),
    /// The sender's subscription count of the channel changed (written to `P_subs`).
    Count,
    /// A user came online (`true`) or went offline anywhere: the frame for watchers.
    Watch(bool),
}

impl Cluster {
    /// `origin\nkind\napp\ntarget\nexcept\nframe`
    pub(super) fn bus_message(
        &self,
        kind: Bus,
        app: &str,
        target: &str,
        except: Option<&str>,
        frame: &Frame,
    ) -> Bytes {
        let tag = match kind {
            Bus::Broadcast => "B".to_string(),
            Bus::ToUser => "U".to_string(),
            Bus::Terminate => "T".to_string(),
            Bus::Member(seq) => format!("M{seq}"),
            Bus::Count => "C".to_string(),
            Bus::Watch(online) => format!("W{}", u8::from(online)),
        };
        let except = except.unwrap_or("");
        let node = &self.names.node;
        Bytes::from(format!(
            "{node}\n{tag}\n{app}\n{target}\n{except}\n{}",
            frame.as_str()
        ))
    }

    /// Handle a bus message from another node.
    pub(super) fn deliver(&self, payload: &[u8]) {
        let payload = String::from_utf8_lossy(payload);
        let mut parts = payload.splitn(6, '\n');
        let (Some(origin), Some(kind), Some(app), Some(target), Some(except), Some(frame)) = (
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
            parts.next(),
        ) else {
            tracing::warn!("malformed cluster bus message ignored");
            return;
        };
        let Some(app) = self.registry.app(app).filter(|_| origin != self.names.node) else {
            return;
        };
        let except = (!except.is_empty()).then_some(except);
        let frame = Frame::from(frame);
        match kind {
            "B" => drop(app.broadcast(target, &frame, except)),
            "U" => drop(app.send_to_user(target, &frame, except)),
            "T" => drop(app.terminate_user(target)),
            "C" => self.peer_count_changed(&app, target),
            "W1" | "W0" => drop(app.tell_watchers(target, kind == "W1", &frame)),
            member if member.starts_with('M') => match member[1..].parse() {
                Ok(seq) => drop(app.announce_member(target, &frame, seq, except)),
                Err(_) => tracing::warn!(kind, "malformed cluster bus member message"),
            },
            _ => tracing::warn!(kind, "unknown cluster bus message kind"),
        }
    }
}
