//! Quicksilver patch: a response can take its HTTP/1 connection over once its head is encoded.
//!
//! A long-lived response (an event stream) that writes straight to the socket needs neither the
//! dispatcher's buffers nor its per-chunk body path. A handler puts a [`TakeOver`] in the
//! response's extensions; when the response has a streaming body, the dispatcher offers it the
//! connection. The hook either takes the I/O object out of the `Option` it is given (and with it
//! the response head, still unwritten) or leaves it there, and the body is sent as usual.

use std::any::Any;
use std::cell::Cell;
use std::fmt;

use bytes::BytesMut;

/// What a hook is offered.
pub struct Connection<'a> {
    /// `&mut Option<T>`, with `T` the dispatcher's I/O type (e.g. a plain `TcpStream`); a hook
    /// that keeps the connection `take()`s it.
    pub io: &'a mut dyn Any,
    /// Bytes the dispatcher encoded but has not written yet: the response head, possibly preceded
    /// by earlier pipelined responses. A hook that keeps the connection must write them first.
    pub unwritten: &'a mut BytesMut,
    /// Whether the body must be sent with chunked transfer encoding (HTTP/1.1), or is delimited
    /// by closing the connection (HTTP/1.0).
    pub chunked: bool,
}

type Hook = Box<dyn FnOnce(Connection<'_>)>;

/// A response extension: offers the connection to `hook` once the head is encoded.
pub struct TakeOver(Cell<Option<Hook>>);

impl TakeOver {
    pub fn new(hook: impl FnOnce(Connection<'_>) + 'static) -> Self {
        Self(Cell::new(Some(Box::new(hook))))
    }

    pub(crate) fn offer(&self, connection: Connection<'_>) {
        if let Some(hook) = self.0.take() {
            hook(connection);
        }
    }
}

impl fmt::Debug for TakeOver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TakeOver").finish_non_exhaustive()
    }
}
