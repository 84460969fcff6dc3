//! Reading a socket: one read into the thread's scratch buffer, since when
//! what is unfinished has been waiting, and the close code echoed to a client's Close.

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

/// The frames one pass over the buffered bytes decoded, to tell since when
/// what is left unfinished (a frame, or a fragmented message) has been waiting.
#[derive(Default)]
pub(super) struct Progress {
    frames: usize,
    /// The index of the frame that started a fragmented message, if one did.
    began: Option<usize>,
}

impl Progress {
    /// One more frame decoded; whether a fragmented message was under way before it and after.
    pub(super) fn decoded(&mut self, was_in_message: bool, in_message: bool) {
        if in_message && !was_in_message {
            self.began = Some(self.frames);
        }
        self.frames += 1;
    }

    /// Whether what is unfinished after this pass started in it, after a frame
    /// that completed. An unfinished fragmented message runs from its first
    /// frame: the control frames and fragments since do not restart it.
    pub(super) fn restarted(&self, in_message: bool) -> bool {
        match (in_message, self.began) {
            (true, Some(first)) => first > 0,
            (true, None) => false,
            (false, _) => self.frames > 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Progress;

    #[test]
    fn pings_between_fragments_do_not_restart_the_message() {
        let mut p = Progress::default();
        p.decoded(true, true); // a ping
        p.decoded(true, true); // a fragment
        assert!(!p.restarted(true));
        let mut p = Progress::default();
        p.decoded(false, false); // a whole message
        p.decoded(false, true); // the first fragment of the next
        assert!(p.restarted(true));
        let mut p = Progress::default();
        p.decoded(false, true); // the first fragment, its head read before
        assert!(!p.restarted(true));
        assert!(
            p.restarted(false),
            "a frame completed before the partial one"
        );
        assert!(!Progress::default().restarted(false));
    }
}
