//! The crate's one socket writer: the direct stream's own writes and those of publishers the
//! socket is lent to (as the hub's `Sink`) are the same `send`/`sendmsg` call.

use std::io::{self, IoSlice, Read};
use std::net::{Shutdown, TcpStream};
use std::os::fd::AsRawFd;
use std::task::{Context, Poll};

use super::readiness::{Direction, Registration};
use crate::hub::Sink;

/// A subscriber's connection after the takeover; shared with the hub while lent, so that it
/// stays open for as long as a publisher may write to it. Its readiness is watched by its
/// thread's set (`readiness`), not by tokio.
pub(super) struct Socket {
    stream: TcpStream,
    registration: Registration,
}

impl Socket {
    /// Takes `stream` out of tokio's reactor into this thread's set.
    pub(super) fn take(stream: actix_web::rt::net::TcpStream) -> io::Result<Self> {
        let stream = stream.into_std()?;
        let registration = Registration::add(stream.as_raw_fd())?;
        Ok(Self {
            stream,
            registration,
        })
    }

    /// Whether the client closed its side (or the connection broke). Anything it sends after
    /// its request is read and dropped, so that the socket never reports stale readiness.
    pub(super) fn client_gone(&self, cx: &mut Context<'_>) -> bool {
        let mut scratch = [0u8; 256];
        loop {
            if self
                .registration
                .poll_ready(Direction::Read, cx)
                .is_pending()
            {
                return false;
            }
            match (&self.stream).read(&mut scratch) {
                Ok(0) => return true,
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    self.registration.clear(Direction::Read);
                }
                Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return true,
            }
        }
    }

    /// `Ready` once the socket may take more, after a write that would have blocked (which
    /// `write_now` reported to its caller, the owner of the registration).
    pub(super) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.registration.clear(Direction::Write);
        self.registration.poll_ready(Direction::Write, cx)
    }

    /// A clean end: the peer reads everything written, then the end of the stream.
    pub(super) fn shut_down_writes(&self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Leaves this thread's set; on the thread that took the socket over, before the last
    /// reference (perhaps a publisher's, on another thread) closes it.
    pub(super) fn release(&self) {
        self.registration.release();
    }
}

impl Sink for Socket {
    fn write_now(&self, slices: &[IoSlice<'_>]) -> io::Result<usize> {
        let socket = socket2::SockRef::from(&self.stream);
        match slices {
            // The common case of a fan-out: one event, and `send` costs less than `sendmsg`.
            [one] => socket.send_with_flags(one, libc::MSG_NOSIGNAL),
            _ => socket.send_vectored_with_flags(slices, libc::MSG_NOSIGNAL),
        }
    }
}
