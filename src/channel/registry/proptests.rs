//! Property test of presence bookkeeping: after any sequence of joins and leaves
//! (several sockets per user, sockets joining twice, leaving channels they never
//! joined), each channel's counts and members are exactly those of a model that
//! keeps the set of (socket, user) pairs, and `member_added` / `member_removed`
//! come exactly on a user's first socket in and last socket out.

use super::*;
use crate::socket::Liveness;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const CHANNELS: [&str; 2] = ["presence-a", "presence-b"];

#[derive(Debug, Clone)]
enum Op {
    Join {
        socket: u64,
        user: u8,
        channel: usize,
    },
    Leave {
        socket: u64,
        channel: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        (0u64..6, 0u8..4, 0usize..2).prop_map(|(socket, user, channel)| Op::Join {
            socket,
            user,
            channel
        }),
        (0u64..6, 0usize..2).prop_map(|(socket, channel)| Op::Leave { socket, channel }),
    ]
}

fn member(user: u8) -> Member {
    // Odd users have numeric ids, even ones string ids, as backends send both.
    let channel_data = match user % 2 {
        0 => format!(r#"{{"user_id":"u{user}","user_info":{{"n":{user}}}}}"#),
        _ => format!(r#"{{"user_id":{user}}}"#),
    };
    Member::parse(&channel_data, 2.0).unwrap()
}

fn users_of(model: &BTreeMap<u64, u8>) -> BTreeSet<String> {
    model.values().map(|&u| member(u).id).collect()
}

proptest! {
    #[test]
    fn presence_counts_equal_the_set_of_users(ops in proptest::collection::vec(op(), 0..60)) {
        let config = crate::config::RawConfig::default().build().unwrap();
        let app = AppState::new(config.apps.iter().next().unwrap());
        let sinks: Vec<Arc<Sink>> = (0..6)
            .map(|k| Sink::new(SocketId::new(1, k), 4096, Liveness::new(None)))
            .collect();
        // Per channel: socket -> user.
        let mut model: Vec<BTreeMap<u64, u8>> = vec![BTreeMap::new(); CHANNELS.len()];
        for op in ops {
            match op {
                Op::Join { socket, user, channel } => {
                    let name = CHANNELS[channel];
                    let sink = &sinks[socket as usize];
                    let joined = app.subscribe(name, sink, Some(member(user)), None, true, crate::recovery::Recovery::Off).unwrap();
                    let m = &mut model[channel];
                    prop_assert_eq!(joined.already, m.contains_key(&socket));
                    if !joined.already {
                        let new_user = !users_of(m).contains(&member(user).id);
                        prop_assert_eq!(joined.member_added, new_user);
                        m.insert(socket, user);
                    }
                }
                Op::Leave { socket, channel } => {
                    let name = CHANNELS[channel];
                    let left = app.unsubscribe(name, socket);
                    let m = &mut model[channel];
                    match m.remove(&socket) {
                        None => prop_assert!(left.is_none()),
                        Some(user) => {
                            let left = left.unwrap();
                            let last = !users_of(m).contains(&member(user).id);
                            prop_assert_eq!(left.member_removed.map(|m| m.id), last.then(|| member(user).id));
                            prop_assert_eq!(left.vacated, m.is_empty());
                        }
                    }
                }
            }
            for (channel, m) in model.iter().enumerate() {
                let name = CHANNELS[channel];
                let users = users_of(m);
                let expect = (!m.is_empty()).then_some(Counts { subscriptions: m.len(), users: users.len() });
                prop_assert_eq!(app.counts(name), expect);
                let members: BTreeSet<String> = app.members(name).into_iter().map(|m| m.id).collect();
                prop_assert_eq!(members, users);
            }
        }
    }
}
