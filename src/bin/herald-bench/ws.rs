//! A minimal WebSocket client for the Pusher protocol: HTTP upgrade, masked
//! client frames, unmasked server frames, one scratch buffer per connection.

use std::io;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

pub struct Ws {
    pub stream: TcpStream,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    mask_state: u32,
    pub socket_id: String,
}

/// One server frame (borrowed from the scratch buffer until the next read).
pub enum Frame<'a> {
    Text(&'a [u8]),
    Close(u16),
    Other,
}

pub struct ConnOpts {
    pub addr: SocketAddr,
    pub src: Option<IpAddr>,
    pub rcvbuf: Option<u32>,
    pub host_header: String,
    pub key: String,
}

fn bad(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

pub fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || hay.len() < needle.len() {
        return None;
    }
    let first = needle[0];
    let mut i = 0;
    while i + needle.len() <= hay.len() {
        match hay[i..=hay.len() - needle.len()]
            .iter()
            .position(|&b| b == first)
        {
            None => return None,
            Some(p) => {
                let j = i + p;
                if &hay[j..j + needle.len()] == needle {
                    return Some(j);
                }
                i = j + 1;
            }
        }
    }
    None
}

/// Parse the decimal number right after `marker` in `hay`.
pub fn num_after(hay: &[u8], marker: &[u8]) -> Option<u64> {
    let p = find(hay, marker)? + marker.len();
    let mut v: u64 = 0;
    let mut any = false;
    for &b in &hay[p..] {
        if b.is_ascii_digit() {
            v = v.wrapping_mul(10).wrapping_add((b - b'0') as u64);
            any = true;
        } else {
            break;
        }
    }
    any.then_some(v)
}

impl Ws {
    pub async fn connect(o: &ConnOpts, seed: u32) -> io::Result<Ws> {
        let sock = if o.addr.is_ipv4() {
            TcpSocket::new_v4()?
        } else {
            TcpSocket::new_v6()?
        };
        if let Some(r) = o.rcvbuf {
            sock.set_recv_buffer_size(r)?;
        }
        if let Some(src) = o.src {
            sock.bind(SocketAddr::new(src, 0))?;
        }
        let mut stream = sock.connect(o.addr).await?;
        stream.set_nodelay(true)?;
        let req = format!(
            "GET /app/{}?protocol=7&client=herald-bench&version=0.1.0&flash=false HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
            o.key, o.host_header
        );
        stream.write_all(req.as_bytes()).await?;
        let mut buf = vec![0u8; 4096];
        let mut end = 0;
        let hdr_end = loop {
            if end == buf.len() {
                return Err(bad("upgrade response too large"));
            }
            let n = stream.read(&mut buf[end..]).await?;
            if n == 0 {
                return Err(bad("eof during upgrade"));
            }
            end += n;
            if let Some(p) = find(&buf[..end], b"\r\n\r\n") {
                break p + 4;
            }
        };
        if !buf.starts_with(b"HTTP/1.1 101") {
            let line = String::from_utf8_lossy(&buf[..hdr_end.min(80)]).to_string();
            return Err(bad(format!("upgrade refused: {line}")));
        }
        Ok(Ws {
            stream,
            buf,
            start: hdr_end,
            end,
            mask_state: seed | 1,
            socket_id: String::new(),
        })
    }

    fn next_mask(&mut self) -> [u8; 4] {
        // xorshift32
        let mut x = self.mask_state;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        self.mask_state = x;
        x.to_le_bytes()
    }

    pub fn encode(&mut self, opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
        out.push(0x80 | opcode);
        let n = payload.len();
        if n < 126 {
            out.push(0x80 | n as u8);
        } else if n < 65536 {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        } else {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
        let m = self.next_mask();
        out.extend_from_slice(&m);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ m[i & 3]));
    }

    pub async fn send_text(&mut self, text: &str) -> io::Result<()> {
        let mut out = Vec::with_capacity(text.len() + 14);
        self.encode(1, text.as_bytes(), &mut out);
        self.stream.write_all(&out).await
    }

    /// Several text messages in one write.
    pub async fn send_texts(&mut self, texts: &[&str]) -> io::Result<()> {
        let mut out = Vec::with_capacity(texts.iter().map(|t| t.len() + 14).sum());
        for t in texts {
            self.encode(1, t.as_bytes(), &mut out);
        }
        self.stream.write_all(&out).await
    }

    /// Try to cut one complete frame out of the buffer: (opcode, payload range).
    fn parse(&self) -> Option<(u8, usize, usize)> {
        let b = &self.buf[self.start..self.end];
        if b.len() < 2 {
            return None;
        }
        let opcode = b[0] & 0x0f;
        let masked = b[1] & 0x80 != 0;
        let mut len = (b[1] & 0x7f) as usize;
        let mut p = 2;
        if len == 126 {
            if b.len() < 4 {
                return None;
            }
            len = u16::from_be_bytes([b[2], b[3]]) as usize;
            p = 4;
        } else if len == 127 {
            if b.len() < 10 {
                return None;
            }
            len = u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize;
            p = 10;
        }
        if masked {
            p += 4; // servers must not mask; tolerate by skipping the key (payload stays masked)
        }
        if b.len() < p + len {
            return None;
        }
        Some((opcode, self.start + p, self.start + p + len))
    }

    /// Read the next frame. Pings are answered here.
    pub async fn next(&mut self) -> io::Result<Frame<'_>> {
        loop {
            if let Some((op, a, z)) = self.parse() {
                self.start = z;
                match op {
                    0..=2 => return Ok(Frame::Text(&self.buf[a..z])),
                    8 => {
                        let code = if z - a >= 2 {
                            u16::from_be_bytes([self.buf[a], self.buf[a + 1]])
                        } else {
                            1005
                        };
                        return Ok(Frame::Close(code));
                    }
                    9 => {
                        let payload = self.buf[a..z].to_vec();
                        let mut out = Vec::with_capacity(payload.len() + 8);
                        self.encode(10, &payload, &mut out);
                        self.stream.write_all(&out).await?;
                        continue;
                    }
                    _ => return Ok(Frame::Other),
                }
            }
            // need more bytes: compact, grow if needed, read
            if self.start == self.end {
                self.start = 0;
                self.end = 0;
            } else if self.start > 0 && (self.buf.len() - self.end) < 1024 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            }
            if self.end == self.buf.len() {
                let n = self.buf.len() * 2;
                self.buf.resize(n, 0);
            }
            let n = self.stream.read(&mut self.buf[self.end..]).await?;
            if n == 0 {
                return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof"));
            }
            self.end += n;
        }
    }

    /// Read until `pusher:connection_established`; remembers the socket id.
    pub async fn established(&mut self) -> io::Result<()> {
        loop {
            match self.next().await? {
                Frame::Text(t) => {
                    if find(t, b"pusher:connection_established").is_some() {
                        // data is a JSON string: ...\"socket_id\":\"123.456\"...
                        let p = find(t, b"socket_id").ok_or_else(|| bad("no socket_id"))? + 9;
                        let rest = &t[p..];
                        let s = rest
                            .iter()
                            .position(|b| b.is_ascii_digit())
                            .ok_or_else(|| bad("socket_id"))?;
                        let e = rest[s..]
                            .iter()
                            .position(|b| !(b.is_ascii_digit() || *b == b'.'))
                            .map(|e| s + e)
                            .unwrap_or(rest.len());
                        self.socket_id = String::from_utf8_lossy(&rest[s..e]).into_owned();
                        return Ok(());
                    }
                    if find(t, b"pusher:error").is_some() {
                        return Err(bad(String::from_utf8_lossy(t).into_owned()));
                    }
                }
                Frame::Close(c) => return Err(bad(format!("closed {c} before established"))),
                Frame::Other => {}
            }
        }
    }

    /// Wait for `subscription_succeeded` (other frames are skipped; errors fail).
    pub async fn wait_subscribed(&mut self) -> io::Result<()> {
        loop {
            match self.next().await? {
                Frame::Text(t) => {
                    if find(t, b"subscription_succeeded").is_some() {
                        return Ok(());
                    }
                    if find(t, b"pusher:error").is_some()
                        || find(t, b"subscription_error").is_some()
                    {
                        return Err(bad(String::from_utf8_lossy(t).into_owned()));
                    }
                }
                Frame::Close(c) => return Err(bad(format!("closed {c} while subscribing"))),
                Frame::Other => {}
            }
        }
    }
}

pub fn subscribe_msg(channel: &str) -> String {
    format!(r#"{{"event":"pusher:subscribe","data":{{"auth":"","channel":"{channel}"}}}}"#)
}

pub fn unsubscribe_msg(channel: &str) -> String {
    format!(r#"{{"event":"pusher:unsubscribe","data":{{"channel":"{channel}"}}}}"#)
}
