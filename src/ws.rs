//! The server side of RFC 6455, as small as herald needs it: the handshake's
//! accept key, frame headers for what the server sends (unmasked, never
//! fragmented) and a decoder for what clients send (masked, maybe fragmented).
//!
//! Frame headers are parsed by tungstenite (`FrameHeader::parse`); what a
//! server must refuse (unmasked or reserved-bit frames, fragmented or long
//! control frames, messages over the limit) and the reassembly are checked here.
//!
//! It keeps no buffer of its own: outbound frames are appended to the caller's
//! `Vec`, inbound frames are unmasked in place in the caller's buffer, so an idle
//! connection holds no WebSocket memory at all.

use tungstenite::protocol::frame::FrameHeader;

pub(crate) const OP_CONTINUATION: u8 = 0x0;
pub(crate) const OP_TEXT: u8 = 0x1;
pub(crate) const OP_BINARY: u8 = 0x2;
pub(crate) const OP_CLOSE: u8 = 0x8;
pub(crate) const OP_PING: u8 = 0x9;
pub(crate) const OP_PONG: u8 = 0xA;

/// `Sec-WebSocket-Accept` for a client's `Sec-WebSocket-Key` (tungstenite's derivation).
pub(crate) fn accept_key(key: &[u8]) -> String {
    tungstenite::handshake::derive_accept_key(key)
}

/// A final, unmasked frame header for a payload of `len` bytes: the bytes and how many are used.
pub(crate) fn header_bytes(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if let Ok(short) = u16::try_from(len) {
        h[1] = 126;
        h[2..4].copy_from_slice(&short.to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// Append a final, unmasked frame header for a payload of `len` bytes.
pub(crate) fn header(opcode: u8, len: usize, out: &mut Vec<u8>) {
    let (h, n) = header_bytes(opcode, len);
    out.extend_from_slice(&h[..n]);
}

/// Append a whole text frame.
pub(crate) fn text(payload: &[u8], out: &mut Vec<u8>) {
    header(OP_TEXT, payload.len(), out);
    out.extend_from_slice(payload);
}

/// Bytes a text frame of `len` payload bytes takes on the wire.
pub(crate) fn framed_len(len: usize) -> usize {
    len + match len {
        0..126 => 2,
        126..65536 => 4,
        _ => 10,
    }
}

/// Append a close frame; the reason is cut to fit a control frame.
pub(crate) fn close(code: u16, reason: &str, out: &mut Vec<u8>) {
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    header(OP_CLOSE, 2 + end, out);
    out.extend_from_slice(&code.to_be_bytes());
    out.extend_from_slice(&reason.as_bytes()[..end]);
}

/// A complete message from the client.
#[derive(Debug, PartialEq)]
pub enum Inbound {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong,
    Close(Option<u16>),
}

/// Why the client's bytes cannot be read on: each maps to a close code.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum DecodeError {
    #[error("protocol error: {0}")]
    Protocol(&'static str),
    #[error("Message too big")]
    TooBig,
    #[error("text is not UTF-8")]
    NotUtf8,
}

impl DecodeError {
    pub(crate) fn close_code(&self) -> u16 {
        match self {
            DecodeError::Protocol(_) => 1002,
            DecodeError::TooBig => 1009,
            DecodeError::NotUtf8 => 1007,
        }
    }
}

/// Reassembles fragmented messages; holds memory only while one is in flight.
#[derive(Debug)]
pub struct Decoder {
    max_message: usize,
    fragments: Vec<u8>,
    fragment_opcode: Option<u8>,
}

struct Head {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    start: usize,
    len: usize,
}

impl Decoder {
    pub fn new(max_message: usize) -> Decoder {
        Decoder {
            max_message,
            fragments: Vec::new(),
            fragment_opcode: None,
        }
    }

    /// A fragmented message has started and not ended.
    pub(crate) fn in_message(&self) -> bool {
        self.fragment_opcode.is_some()
    }

    /// Read one frame from the front of `buf`, unmasking it in place. Returns
    /// the bytes it used and the message it completed, or `None` if `buf`
    /// does not hold a whole frame yet.
    pub fn decode(
        &mut self,
        buf: &mut [u8],
    ) -> Result<Option<(usize, Option<Inbound>)>, DecodeError> {
        let Some(head) = self.head(buf)? else {
            return Ok(None);
        };
        let end = head.start + head.len;
        if buf.len() < end {
            return Ok(None);
        }
        let payload = &mut buf[head.start..end];
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= head.mask[i & 3];
        }
        let message = self.complete(&head, payload)?;
        Ok(Some((end, message)))
    }

    /// The frame header at the front of `buf` (tungstenite's parser), checked
    /// for what a server must refuse; `None` until it is complete.
    fn head(&self, buf: &[u8]) -> Result<Option<Head>, DecodeError> {
        let mut cursor = std::io::Cursor::new(buf);
        let (header, len) = match FrameHeader::parse(&mut cursor) {
            Ok(Some(parsed)) => parsed,
            Ok(None) => return Ok(None),
            Err(_) => return Err(DecodeError::Protocol("unknown opcode")),
        };
        if header.rsv1 || header.rsv2 || header.rsv3 {
            return Err(DecodeError::Protocol("reserved bits set"));
        }
        let Some(mask) = header.mask else {
            return Err(DecodeError::Protocol("client frames must be masked"));
        };
        let (fin, opcode) = (header.is_final, u8::from(header.opcode));
        if opcode >= OP_CLOSE && (!fin || len > 125) {
            return Err(DecodeError::Protocol("bad control frame"));
        }
        // Control frames may come between fragments: only continuations add to the message.
        let buffered = match opcode {
            OP_CONTINUATION => self.fragments.len() as u64,
            _ => 0,
        };
        if len.saturating_add(buffered) > self.max_message as u64 {
            return Err(DecodeError::TooBig);
        }
        Ok(Some(Head {
            fin,
            opcode,
            mask,
            start: cursor.position() as usize,
            len: len as usize,
        }))
    }

    fn complete(&mut self, head: &Head, payload: &[u8]) -> Result<Option<Inbound>, DecodeError> {
        match (head.opcode, self.fragment_opcode) {
            (OP_PING, _) => Ok(Some(Inbound::Ping(payload.to_vec()))),
            (OP_PONG, _) => Ok(Some(Inbound::Pong)),
            (OP_CLOSE, _) => close_code(payload).map(|c| Some(Inbound::Close(c))),
            (OP_TEXT | OP_BINARY, None) if head.fin => message(head.opcode, payload.to_vec()),
            (OP_TEXT | OP_BINARY, None) => {
                self.fragment_opcode = Some(head.opcode);
                self.fragments.extend_from_slice(payload);
                Ok(None)
            }
            (OP_CONTINUATION, Some(opcode)) => {
                self.fragments.extend_from_slice(payload);
                if !head.fin {
                    return Ok(None);
                }
                self.fragment_opcode = None;
                message(opcode, std::mem::take(&mut self.fragments))
            }
            (OP_CONTINUATION, None) => Err(DecodeError::Protocol("continuation without a start")),
            (OP_TEXT | OP_BINARY, Some(_)) => {
                Err(DecodeError::Protocol("fragmented message interrupted"))
            }
            _ => Err(DecodeError::Protocol("unknown opcode")),
        }
    }
}

fn message(opcode: u8, bytes: Vec<u8>) -> Result<Option<Inbound>, DecodeError> {
    if opcode == OP_BINARY {
        return Ok(Some(Inbound::Binary(bytes)));
    }
    String::from_utf8(bytes)
        .map(|t| Some(Inbound::Text(t)))
        .map_err(|_| DecodeError::NotUtf8)
}

fn close_code(payload: &[u8]) -> Result<Option<u16>, DecodeError> {
    match payload {
        [] => Ok(None),
        [_] => Err(DecodeError::Protocol("close payload of one byte")),
        [a, b, reason @ ..] => {
            std::str::from_utf8(reason).map_err(|_| DecodeError::NotUtf8)?;
            Ok(Some(u16::from_be_bytes([*a, *b])))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn masked(opcode: u8, fin: bool, payload: &[u8]) -> Vec<u8> {
        super::proptests::client_frame(fin, opcode, [1, 2, 3, 4], payload)
    }

    fn decode_all(d: &mut Decoder, mut buf: Vec<u8>) -> Result<Vec<Inbound>, DecodeError> {
        let mut out = Vec::new();
        while let Some((used, msg)) = d.decode(&mut buf)? {
            out.extend(msg);
            buf.drain(..used);
        }
        Ok(out)
    }

    #[test]
    fn accept_key_matches_rfc_example() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn headers_use_the_shortest_length() {
        for (len, head) in [(5, 2), (126, 4), (65535, 4), (65536, 10)] {
            let mut out = Vec::new();
            header(OP_TEXT, len, &mut out);
            assert_eq!(out.len(), head);
            assert_eq!(framed_len(len), len + head);
        }
    }

    #[test]
    fn decodes_masked_text_of_every_length_class() {
        for n in [0, 5, 200, 70_000] {
            let text = "é".repeat(n / 2);
            let mut d = Decoder::new(1 << 20);
            let got = decode_all(&mut d, masked(OP_TEXT, true, text.as_bytes())).unwrap();
            assert_eq!(got, vec![Inbound::Text(text)]);
        }
    }

    #[test]
    fn waits_for_whole_frames_and_reassembles_fragments() {
        let mut bytes = masked(OP_TEXT, false, b"hel");
        bytes.extend(masked(OP_PING, true, b"p"));
        bytes.extend(masked(OP_CONTINUATION, true, b"lo"));
        let mut d = Decoder::new(100);
        assert_eq!(d.decode(&mut bytes[..3].to_vec()).unwrap(), None);
        let got = decode_all(&mut d, bytes).unwrap();
        assert_eq!(
            got,
            vec![Inbound::Ping(b"p".to_vec()), Inbound::Text("hello".into())]
        );
    }

    #[test]
    fn refuses_what_the_rfc_forbids() {
        let unmasked = vec![0x81, 0x01, b'a'];
        let cases = [
            (unmasked, 1002),
            (masked(OP_CONTINUATION, true, b"x"), 1002),
            (masked(OP_PING, false, b"x"), 1002),
            (masked(OP_TEXT, true, &[0xff, 0xfe]), 1007),
            (masked(OP_TEXT, true, &[b'a'; 101]), 1009),
            (masked(0x3, true, b"x"), 1002),
        ];
        for (bytes, code) in cases {
            let err = decode_all(&mut Decoder::new(100), bytes).unwrap_err();
            assert_eq!(err.close_code(), code, "{err}");
        }
    }

    /// Found by `proptests::only_messages_over_the_maximum_are_too_big`: a ping
    /// between the fragments of a message of exactly the maximum size was
    /// counted toward it, and the socket closed with 1009.
    #[test]
    fn a_ping_between_fragments_does_not_count_toward_the_message() {
        let mut bytes = masked(OP_TEXT, false, b"0123456789");
        bytes.extend(masked(OP_PING, true, b"p"));
        bytes.extend(masked(OP_CONTINUATION, true, b""));
        let got = decode_all(&mut Decoder::new(10), bytes.clone()).unwrap();
        let text = Inbound::Text("0123456789".into());
        assert_eq!(got, vec![Inbound::Ping(b"p".to_vec()), text]);
        bytes.extend(masked(OP_TEXT, false, b"0123456789"));
        bytes.extend(masked(OP_CONTINUATION, true, b"!"));
        let err = decode_all(&mut Decoder::new(10), bytes).unwrap_err();
        assert_eq!(err, DecodeError::TooBig);
    }

    #[test]
    fn close_frames_carry_their_code() {
        let mut payload = 4000u16.to_be_bytes().to_vec();
        payload.extend_from_slice(b"bye");
        let got = decode_all(&mut Decoder::new(100), masked(OP_CLOSE, true, &payload)).unwrap();
        assert_eq!(got, vec![Inbound::Close(Some(4000))]);
        let mut out = Vec::new();
        close(4201, &"x".repeat(200), &mut out);
        assert_eq!(out.len(), 2 + 125);
    }
}

#[cfg(test)]
mod proptests;
