//! The WebSocket decoder (`herald::ws::Decoder`) on arbitrary client bytes.
//!
//! Input: `[max_hi, max_lo, n, split_1 .. split_n, stream ..]`. The stream is fed
//! once whole and once in the chunks the splits give, the way the connection
//! task feeds it (append what was read, decode frames from the front, keep the
//! rest). Checked: no panic; both feeds yield the same messages and the same
//! error; every step consumes bytes it was given; no message exceeds the
//! decoder's maximum, no ping payload exceeds 125 bytes.
#![no_main]

use herald::ws::{DecodeError, Decoder, Inbound};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let [hi, lo, n, rest @ ..] = data else { return };
    let max = usize::from(u16::from_be_bytes([*hi, *lo]));
    let n = usize::from(*n % 8).min(rest.len());
    let (splits, stream) = rest.split_at(n);
    let whole = feed(max, stream, &[]);
    let chunked = feed(max, stream, splits);
    assert_eq!(whole, chunked, "chunk boundaries changed the outcome");
});

/// Messages decoded and the error that stopped decoding, if any.
type Outcome = (Vec<Inbound>, Option<DecodeError>);

fn feed(max: usize, stream: &[u8], splits: &[u8]) -> Outcome {
    let mut decoder = Decoder::new(max);
    let mut inbuf: Vec<u8> = Vec::new();
    let mut out = Vec::new();
    let mut at = 0;
    let sizes = splits
        .iter()
        .map(|&s| usize::from(s))
        .chain(std::iter::once(usize::MAX));
    for size in sizes {
        let end = at + size.min(stream.len() - at);
        inbuf.extend_from_slice(&stream[at..end]);
        at = end;
        if let Err(e) = drain(&mut decoder, &mut inbuf, max, &mut out) {
            return (out, Some(e));
        }
        if at == stream.len() {
            break;
        }
    }
    (out, None)
}

/// Decode every whole frame at the front of `inbuf` and remove it.
fn drain(
    decoder: &mut Decoder,
    inbuf: &mut Vec<u8>,
    max: usize,
    out: &mut Vec<Inbound>,
) -> Result<(), DecodeError> {
    let mut used = 0;
    let result = loop {
        match decoder.decode(&mut inbuf[used..]) {
            Ok(None) => break Ok(()),
            Ok(Some((n, message))) => {
                assert!(
                    n > 0 && used + n <= inbuf.len(),
                    "consumed {n} of {}",
                    inbuf.len() - used
                );
                used += n;
                if let Some(m) = message {
                    check(&m, max);
                    out.push(m);
                }
            }
            Err(e) => break Err(e),
        }
    };
    inbuf.drain(..used);
    result
}

fn check(m: &Inbound, max: usize) {
    match m {
        Inbound::Text(t) => assert!(t.len() <= max, "text of {} > max {max}", t.len()),
        Inbound::Binary(b) => assert!(b.len() <= max, "binary of {} > max {max}", b.len()),
        Inbound::Ping(p) => assert!(p.len() <= 125, "ping of {}", p.len()),
        Inbound::Pong | Inbound::Close(_) => {}
    }
}
