//! The crate's one socket writer: the direct stream's own writes and those of publishers the
//! socket is lent to (as the hub's `Sink`) are the same `send`/`sendmsg` call.

use std::io::{self, IoSlice};
use std::net::Shutdown;
use std::task::{Context, Poll};

use actix_web::rt::net::TcpStream;
use tokio::io::Interest;

use crate::hub::Sink;

/// A subscriber's connection after the takeover; shared with the hub while lent, so that it
/// stays open for as long as a publisher may write to it.
pub(super) struct Socket(TcpStream);

impl Socket {
    pub(super) fn new(stream: TcpStream) -> Self {
        Self(stream)
    }

    /// Whether the client closed its side (or the connection broke). Anything it sends after
    /// its request is read and dropped, so that the socket never reports stale readiness.
    pub(super) fn client_gone(&self, cx: &mut Context<'_>) -> bool {
        let mut scratch = [0u8; 256];
        loop {
            match self.0.poll_read_ready(cx) {
                Poll::Pending => return false,
                Poll::Ready(Err(_)) => return true,
                Poll::Ready(Ok(())) => match self.0.try_read(&mut scratch) {
                    Ok(0) => return true,
                    Ok(_) => {}
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return true,
                },
            }
        }
    }

    /// `Ready` once the socket may take more (after a write that would have blocked).
    pub(super) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.0.poll_write_ready(cx)
    }

    /// A clean end: the peer reads everything written, then the end of the stream.
    pub(super) fn shut_down_writes(&self) {
        let _ = socket2::SockRef::from(&self.0).shutdown(Shutdown::Write);
    }
}

impl Sink for Socket {
    fn write_now(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        // Through tokio's readiness, so that a write that would block clears it and the owner's
        // `poll_writable` waits for the socket rather than spinning.
        self.0.try_io(Interest::WRITABLE, || {
            let socket = socket2::SockRef::from(&self.0);
            match slices {
                // The common case of a fan-out: one event, and `send` costs less than `sendmsg`.
                [one] => socket.send_with_flags(one, libc::MSG_NOSIGNAL),
                _ => socket.send_vectored_with_flags(slices, libc::MSG_NOSIGNAL),
            }
        })
    }
}
