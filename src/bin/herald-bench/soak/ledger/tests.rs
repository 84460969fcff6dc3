//! The ledger's check on hand-made records.

use super::*;

fn rec(seq: u32, send_ns: u64, status: u16) -> PubRec {
    PubRec {
        ch: 0,
        seq,
        send_ns,
        done_ns: send_ns + 1,
        status,
    }
}

/// One publisher on node 0, one session on node `node` subscribed from 10 to 100.
fn ledger(node: u8, got: &[u32]) -> Ledger {
    let mut l = Ledger::default();
    l.set_node(0, 0);
    l.put_publishes(
        0,
        vec![
            rec(0, 5, 200),
            rec(1, 20, 200),
            rec(2, 30, 503),
            rec(3, 40, 200),
        ],
    );
    let mut s = Session::new(0, node, 10);
    for seq in got {
        s.got_publish(0, *seq);
    }
    s.finish(End::Left, 100);
    l.sessions.push(s);
    l
}

#[test]
fn counts_what_was_promised_lost_duplicated_and_reordered() {
    let (t, _) = ledger(0, &[1, 3]).check(&Faults::default());
    assert_eq!((t.promised, t.delivered, t.lost_total()), (2, 2, 0));
    let (t, _) = ledger(0, &[3, 1, 1]).check(&Faults::default());
    assert_eq!((t.duplicated, t.reordered), (1, 2));
    let (t, _) = ledger(0, &[1]).check(&Faults::default());
    assert_eq!((t.unexplained(), t.examples.len()), (1, 1));
    // seq 0 was sent before the subscription, seq 2 was refused: neither promised
    let (t, _) = ledger(0, &[0, 2, 1, 3]).check(&Faults::default());
    assert_eq!((t.promised, t.lost_total()), (2, 0));
}

#[test]
fn classifies_losses_by_fault() {
    let redis = Faults {
        redis: Some((35, 45)),
        ..Default::default()
    };
    // on another node the 200 must come a second before the end: nothing promised here
    assert_eq!(ledger(1, &[]).check(&redis).0.promised, 0);
    let (t, _) = ledger(0, &[1]).check(&redis);
    assert_eq!(t.lost.get(&Class::RedisSameNode), Some(&1));
}
