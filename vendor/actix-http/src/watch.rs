//! Quicksilver patch: the application can watch connections that have not completed a request
//! head yet.
//!
//! A server under a flood of connections that never send a byte has to know which connections are
//! still silent (to close the oldest when descriptors run short) and how many were closed for
//! not completing their head in time. actix-web builds the HTTP service itself, so there is no
//! per-server place to hand such an observer to; it is installed once per process instead.

use std::any::Any;
use std::sync::OnceLock;

use tokio::net::TcpStream;

/// An observer of connections that have not sent a request head yet.
pub trait ConnectionWatch: Send + Sync + 'static {
    /// A TCP connection was accepted. The returned token is dropped once the connection goes to
    /// the HTTP dispatcher: on plaintext, when its first bytes arrive (they tell HTTP/1 from
    /// HTTP/2 with prior knowledge) or the wait for them ends, before the socket is closed; on
    /// TLS (rustls 0.23), when its handshake ends, which may be just after a failed handshake
    /// closed the socket.
    fn accepted(&self, io: &TcpStream) -> Box<dyn Any>;

    /// A connection is being closed because it did not complete a request head within
    /// `client_request_timeout` (having sent part of one, or nothing), or its TLS handshake
    /// within the handshake timeout.
    fn request_timed_out(&self);
}

static WATCH: OnceLock<Box<dyn ConnectionWatch>> = OnceLock::new();

/// Installs the process's observer; fails (returning it) when one is already installed.
pub fn install(watch: Box<dyn ConnectionWatch>) -> Result<(), Box<dyn ConnectionWatch>> {
    WATCH.set(watch)
}

pub(crate) fn accepted(io: &TcpStream) -> Option<Box<dyn Any>> {
    WATCH.get().map(|watch| watch.accepted(io))
}

pub(crate) fn request_timed_out() {
    if let Some(watch) = WATCH.get() {
        watch.request_timed_out();
    }
}
