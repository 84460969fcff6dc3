//! Reading a socket: one read into the thread's scratch buffer, and the close
//! code echoed to a client's Close.

use super::SCRATCH;
use std::future::poll_fn;
use std::pin::Pin;
use std::task::Poll;
use tokio::io::{AsyncRead, ReadBuf};

/// The code to answer a client's Close with: its own if a peer may send it
/// (RFC 6455 7.4), else 1002: 1004-1006, 1015, unassigned and sub-1000 codes
/// are a protocol error.
pub(super) fn echo_code(code: u16) -> u16 {
    match code {
        1000..=1003 | 1007..=1014 | 3000..=4999 => code,
        _ => 1002,
    }
}

/// Read once into the thread's scratch buffer and append what came to `inbuf`.
pub(super) async fn read_some<S: AsyncRead + Unpin>(
    io: &mut S,
    inbuf: &mut Vec<u8>,
) -> std::io::Result<usize> {
    poll_fn(|cx| {
        SCRATCH.with_borrow_mut(|scratch| {
            let mut buf = ReadBuf::new(scratch);
            match Pin::new(&mut *io).poll_read(cx, &mut buf) {
                Poll::Ready(Ok(())) => {
                    inbuf.extend_from_slice(buf.filled());
                    Poll::Ready(Ok(buf.filled().len()))
                }
                Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                Poll::Pending => Poll::Pending,
            }
        })
    })
    .await
}
