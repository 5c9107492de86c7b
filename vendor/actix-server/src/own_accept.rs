//! Workers accept their own TCP connections (a Quicksilver patch).
//!
//! Upstream, one accept thread accepts every connection and hands it to a worker through a
//! channel, which wakes the worker's thread: every new connection costs a hop between threads
//! (two context switches and an eventfd write) before its first byte is read. Here each worker
//! watches a duplicate of every TCP listener (the same listening socket) in its own runtime and
//! accepts from it directly, as Nginx does. The accept thread keeps the other listeners (Unix
//! sockets) and the server's commands.
//!
//! Every worker is woken when a connection arrives and the first to accept takes it; the others
//! find nothing (`EAGAIN`) and go back to waiting. A worker that is stopping, paused, at its
//! connection limit, or whose services are not ready (e.g. `max_connection_rate`) does not
//! accept, so the others take its share; with none accepting, connections wait in the backlog.

use std::{
    future::Future,
    io,
    net::TcpListener as StdTcpListener,
    os::fd::OwnedFd,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use actix_rt::time::{sleep, Sleep};
use mio::net::{TcpListener as MioTcpListener, TcpStream as MioTcpStream};
use tokio::io::{unix::AsyncFd, Interest};
use tracing::error;

use crate::{accept::connection_error, socket::MioListener};

/// How long a listener is left alone after an accept error such as `EMFILE` (as upstream's
/// accept thread does).
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(500);

/// The server's TCP listeners by token, from which each worker gets duplicates.
pub(crate) type SharedListeners = Vec<(usize, StdTcpListener)>;

/// Splits the bound sockets: TCP listeners go to the workers, the others to the accept thread.
pub(crate) fn split(
    sockets: Vec<(usize, MioListener)>,
) -> (Vec<(usize, MioListener)>, SharedListeners) {
    let mut rest = Vec::new();
    let mut tcp = Vec::new();
    for (token, listener) in sockets {
        match listener {
            MioListener::Tcp(listener) => {
                tcp.push((token, StdTcpListener::from(OwnedFd::from(listener))))
            }
            other => rest.push((token, other)),
        }
    }
    (rest, tcp)
}

/// Duplicates of `listeners` (the same sockets, new descriptors), for one more worker.
pub(crate) fn duplicate(listeners: &SharedListeners) -> io::Result<SharedListeners> {
    listeners
        .iter()
        .map(|(token, listener)| Ok((*token, listener.try_clone()?)))
        .collect()
}

/// One worker's listeners, registered with its runtime.
#[derive(Default)]
pub(crate) struct OwnListeners {
    listeners: Box<[OwnListener]>,
    /// False while the server is paused.
    accepting: bool,
    /// Where the next scan starts, so that every listener gets its turn.
    next: usize,
}

struct OwnListener {
    token: usize,
    io: AsyncFd<MioTcpListener>,
    /// Set after an accept error: the listener is not polled again before it fires.
    backoff: Option<Pin<Box<Sleep>>>,
}

impl OwnListeners {
    /// Registers `listeners` with the current runtime (the worker's own).
    pub(crate) fn new(listeners: SharedListeners) -> io::Result<Self> {
        let listeners = listeners
            .into_iter()
            .map(|(token, listener)| {
                listener.set_nonblocking(true)?;
                // SAFETY: a `mio` listener owns its descriptor and returns that one from
                // `as_raw_fd` until it is dropped, with the `AsyncFd` that owns it.
                let io = unsafe {
                    AsyncFd::register_with_interest(
                        MioTcpListener::from_std(listener),
                        Interest::READABLE,
                    )
                };
                Ok(OwnListener {
                    token,
                    io: io.map_err(io::Error::from)?,
                    backoff: None,
                })
            })
            .collect::<io::Result<_>>()?;
        Ok(Self {
            listeners,
            accepting: true,
            next: 0,
        })
    }

    /// Pauses (false) or resumes (true) accepting, as the server's `pause` and `resume` ask.
    pub(crate) fn set_accepting(&mut self, accepting: bool) {
        self.accepting = accepting;
    }

    /// The next connection any listener has, with the listener's token. `Pending` means every
    /// listener will wake the task when it has one (or when its backoff ends).
    pub(crate) fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<(usize, MioTcpStream)> {
        if !self.accepting || self.listeners.is_empty() {
            return Poll::Pending;
        }
        let count = self.listeners.len();
        for offset in 0..count {
            let idx = (self.next + offset) % count;
            if let Poll::Ready(stream) = self.listeners[idx].poll_accept(cx) {
                self.next = (idx + 1) % count;
                return Poll::Ready((self.listeners[idx].token, stream));
            }
        }
        Poll::Pending
    }
}

impl OwnListener {
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<MioTcpStream> {
        if let Some(backoff) = &mut self.backoff {
            if backoff.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            self.backoff = None;
        }
        loop {
            let mut ready = match self.io.poll_read_ready(cx) {
                Poll::Ready(Ok(ready)) => ready,
                Poll::Ready(Err(err)) => return self.back_off(cx, &err),
                Poll::Pending => return Poll::Pending,
            };
            match ready.try_io(|io| io.get_ref().accept()) {
                Ok(Ok((stream, _))) => return Poll::Ready(stream),
                Ok(Err(ref err)) if connection_error(err) => continue,
                Ok(Err(err)) => return self.back_off(cx, &err),
                // Would block: the readiness is cleared, and polling it again registers the waker.
                Err(_) => continue,
            }
        }
    }

    fn back_off(&mut self, cx: &mut Context<'_>, err: &io::Error) -> Poll<MioTcpStream> {
        error!("Error accepting connection: {err}");
        let mut backoff = Box::pin(sleep(ACCEPT_ERROR_BACKOFF));
        // Registers the wake-up at the end of the backoff.
        let _ = backoff.as_mut().poll(cx);
        self.backoff = Some(backoff);
        Poll::Pending
    }
}
