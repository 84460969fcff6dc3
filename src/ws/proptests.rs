//! Property tests of the decoder. The server's encoders write unmasked frames and
//! the decoder reads masked client frames, so "decode(encode(x)) == x" is stated
//! for a client-side encoder written here: any messages, cut into any fragments,
//! with control frames between the fragments, masked with any keys and delivered
//! in any chunks, decode to exactly those messages. The server's own header
//! encoder is covered by masking its frames the way a client would.

use super::*;
use proptest::prelude::*;

/// A client frame: header with the mask bit, the key, the masked payload.
pub(super) fn client_frame(fin: bool, opcode: u8, mask: [u8; 4], payload: &[u8]) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
    match payload.len() {
        n if n < 126 => out.push(0x80 | n as u8),
        n if n < 65536 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&mask);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    out
}

/// A server frame as a client would send it: mask bit set, key after the length.
fn masked_server_frame(frame: &[u8], head: usize, mask: [u8; 4]) -> Vec<u8> {
    let mut out = frame[..head].to_vec();
    out[1] |= 0x80;
    out.extend_from_slice(&mask);
    out.extend(
        frame[head..]
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ mask[i % 4]),
    );
    out
}

#[derive(Debug, Clone)]
enum Message {
    Text(String),
    Binary(Vec<u8>),
}

impl Message {
    fn bytes(&self) -> &[u8] {
        match self {
            Message::Text(t) => t.as_bytes(),
            Message::Binary(b) => b,
        }
    }

    fn inbound(&self) -> Inbound {
        match self {
            Message::Text(t) => Inbound::Text(t.clone()),
            Message::Binary(b) => Inbound::Binary(b.clone()),
        }
    }
}

fn message() -> impl Strategy<Value = Message> {
    let text = proptest::collection::vec(any::<char>(), 0..300);
    let binary = proptest::collection::vec(any::<u8>(), 0..300);
    prop_oneof![
        text.prop_map(|c| Message::Text(c.into_iter().collect())),
        binary.prop_map(Message::Binary),
    ]
}

/// One message with its fragment cuts (byte offsets, may split a UTF-8
/// character), a ping after each fragment or not, and a mask key per frame.
fn plan() -> impl Strategy<Value = (Message, Vec<usize>, Vec<bool>, [u8; 4])> {
    (
        message(),
        proptest::collection::vec(any::<usize>(), 0..4),
        proptest::collection::vec(any::<bool>(), 4),
        any::<[u8; 4]>(),
    )
}

/// The client's bytes for `m` and what the decoder must return for them.
fn encode(
    (m, cuts, pings, mask): &(Message, Vec<usize>, Vec<bool>, [u8; 4]),
    out: &mut Vec<u8>,
    expect: &mut Vec<Inbound>,
) {
    let bytes = m.bytes();
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
    cuts.sort_unstable();
    cuts.push(bytes.len());
    let mut start = 0;
    for (i, &end) in cuts.iter().enumerate() {
        let opcode = match (i, m) {
            (0, Message::Text(_)) => OP_TEXT,
            (0, Message::Binary(_)) => OP_BINARY,
            _ => OP_CONTINUATION,
        };
        let fin = i + 1 == cuts.len();
        let key = [mask[0], mask[1], mask[2], mask[3].wrapping_add(i as u8)];
        out.extend(client_frame(fin, opcode, key, &bytes[start..end]));
        start = end;
        if !fin && pings[i % pings.len()] {
            out.extend(client_frame(true, OP_PING, key, b"ka"));
            expect.push(Inbound::Ping(b"ka".to_vec()));
        }
    }
    expect.push(m.inbound());
}

/// Feed `stream` in chunks of the given sizes, decoding as the connection does.
fn decode_chunked(
    stream: &[u8],
    chunks: &[usize],
    max: usize,
) -> Result<Vec<Inbound>, DecodeError> {
    let mut d = Decoder::new(max);
    let (mut buf, mut out, mut at) = (Vec::new(), Vec::new(), 0);
    let sizes = chunks.iter().copied().chain(std::iter::repeat(usize::MAX));
    for size in sizes {
        let end = at + size.max(1).min(stream.len() - at);
        buf.extend_from_slice(&stream[at..end]);
        at = end;
        let mut used = 0;
        while let Some((n, m)) = d.decode(&mut buf[used..])? {
            used += n;
            out.extend(m);
        }
        buf.drain(..used);
        if at == stream.len() {
            return Ok(out);
        }
    }
    unreachable!("the last chunk takes the rest")
}

proptest! {
    #[test]
    fn messages_decode_to_what_the_client_sent(
        plans in proptest::collection::vec(plan(), 1..5),
        chunks in proptest::collection::vec(1usize..64, 0..20),
        close in proptest::option::of(1000u16..5000),
    ) {
        let (mut stream, mut expect) = (Vec::new(), Vec::new());
        for p in &plans {
            encode(p, &mut stream, &mut expect);
        }
        if let Some(code) = close {
            stream.extend(client_frame(true, OP_CLOSE, [9, 8, 7, 6], &code.to_be_bytes()));
            expect.push(Inbound::Close(Some(code)));
        }
        prop_assert_eq!(decode_chunked(&stream, &chunks, 1 << 16)?, expect);
    }

    #[test]
    fn only_messages_over_the_maximum_are_too_big(
        plan in plan(),
        slack in -3i64..=3,
    ) {
        // Maximums around the message's own size, where an off-by-one would show
        // (at least the 2 bytes of the pings between fragments, which count alone).
        let max = (plan.0.bytes().len() as i64 + slack).max(2) as usize;
        let (mut stream, mut expect) = (Vec::new(), Vec::new());
        encode(&plan, &mut stream, &mut expect);
        let got = decode_chunked(&stream, &[], max);
        if plan.0.bytes().len() > max {
            prop_assert_eq!(got, Err(DecodeError::TooBig));
        } else {
            prop_assert_eq!(got, Ok(expect));
        }
    }
}

proptest! {
    // Each of the three length forms (chars are 1 to 4 bytes, so up to 280 KB): few cases
    // keep `cargo test` quick.
    #![proptest_config(ProptestConfig::with_cases(32))]

    #[test]
    fn server_frames_masked_by_a_client_decode_to_their_payload(
        text in prop_oneof![0..40usize, 40..16_000usize, 16_000..70_000usize]
            .prop_flat_map(|n| proptest::collection::vec(any::<char>(), n))
            .prop_map(String::from_iter),
        mask in any::<[u8; 4]>(),
    ) {
        let mut frame = Vec::new();
        super::text(text.as_bytes(), &mut frame);
        prop_assert_eq!(frame.len(), framed_len(text.len()));
        let head = framed_len(text.len()) - text.len();
        let client = masked_server_frame(&frame, head, mask);
        prop_assert_eq!(decode_chunked(&client, &[], 1 << 20)?, vec![Inbound::Text(text)]);
    }
}
