//! The direct writer: once actix has encoded an event stream's response head on a plain
//! HTTP/1.x connection, the stream takes the socket over and writes straight to it, everything a
//! subscriber has queued in one `sendmsg`, with neither actix's per-chunk body path nor its
//! per-connection buffers (design.md, "Delivery, measured"). While the stream waits, it lends
//! the socket to the hub as a [`Sink`], so that publishers write events to it themselves. TLS
//! and HTTP/2 streams keep the portable path: an actix body over the same `EventStream`.

use std::cell::Cell;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use actix_web::rt::net::TcpStream;
use actix_web::{HttpResponse, HttpResponseBuilder};
use bytes::Bytes;
use futures_core::Stream;
use tokio::time::{Instant, Sleep};

use super::limits::Limited;
use crate::event::Framing;
use crate::hub::{EventStream, Sink};

mod outgoing;
mod readiness;
mod socket;
use outgoing::Outgoing;
use socket::Socket;

/// Most frames per write; their slices live on the stack.
const MAX_FRAMES: usize = 64;

type Slot = Rc<Cell<Option<Limited<EventStream>>>>;

/// The streaming response for `stream`: taken over by the direct writer where it can be,
/// otherwise sent as an actix body.
pub(super) fn respond(mut head: HttpResponseBuilder, stream: Limited<EventStream>) -> HttpResponse {
    let slot: Slot = Rc::new(Cell::new(Some(stream)));
    let hook_slot = slot.clone();
    let mut response = head.streaming(Portable { slot, stream: None });
    response
        .extensions_mut()
        .insert(actix_http::takeover::TakeOver::new(move |connection| {
            take_over(connection, &hook_slot)
        }));
    response
}

fn take_over(connection: actix_http::takeover::Connection<'_>, slot: &Slot) {
    let Some(io) = connection.io.downcast_mut::<Option<TcpStream>>() else {
        return; // TLS: the portable path.
    };
    let Some(mut stream) = slot.take() else {
        return;
    };
    let Some(socket) = io.take() else {
        slot.set(Some(stream));
        return;
    };
    if connection.chunked {
        stream.inner.set_framing(Framing::Chunk);
    }
    let head = connection.unwritten.split().freeze();
    let socket = match Socket::take(socket) {
        Ok(socket) => socket,
        // Out of kernel memory or descriptors: the client sees the connection close, and
        // resumes from the last id it received.
        Err(error) => {
            tracing::warn!(%error, "could not watch a subscriber's connection; closing it");
            return;
        }
    };
    // Publishers on this thread may gather events for the socket this stream lends.
    crate::hub::start_gathering_here();
    actix_web::rt::spawn(DirectStream::new(Arc::new(socket), head, stream));
}

/// The portable path: the stream as an actix response body.
struct Portable {
    slot: Slot,
    stream: Option<Limited<EventStream>>,
}

impl Stream for Portable {
    type Item = Result<Bytes, std::convert::Infallible>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.stream.is_none() {
            self.stream = self.slot.take();
        }
        match self.stream.as_mut() {
            Some(stream) => Pin::new(stream).poll_next(cx),
            None => Poll::Ready(None),
        }
    }
}

/// One subscriber's connection after the takeover.
struct DirectStream {
    /// Shared with the hub while lent (see `Sink`).
    socket: Arc<Socket>,
    stream: Limited<EventStream>,
    outgoing: Outgoing,
    ending: bool,
    /// When the socket was last written to, by this task or by publishers.
    last_write: Option<Instant>,
    /// Events come from another thread closer than `batch_window` apart: they are gathered,
    /// and written a window apart for as long as some keep coming, without waking this task
    /// for each.
    hot: bool,
    /// Events are being gathered until the deadline of `hold` (its timer, kept once made: a
    /// stream that was hot once is likely to be again).
    held: bool,
    hold: Option<Pin<Box<Sleep>>>,
}

impl DirectStream {
    fn new(socket: Arc<Socket>, head: Bytes, stream: Limited<EventStream>) -> Self {
        Self {
            socket,
            stream,
            outgoing: Outgoing::new(head),
            ending: false,
            last_write: None,
            hot: false,
            held: false,
            hold: None,
        }
    }

    /// Writes what is outgoing; `Ready(Ok)` once all of it is written.
    fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.outgoing.is_written() {
            let result = {
                let mut slices = [io::IoSlice::new(&[]); outgoing::MAX_SLICES];
                let count = self.outgoing.slices(&mut slices);
                self.socket.write_now(&slices[..count])
            };
            match result {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(written) => self.outgoing.advance(written),
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {
                    // Registers for writability; loops if it came back meanwhile.
                    if let Err(error) = ready!(self.socket.poll_writable(cx)) {
                        return Poll::Ready(Err(error));
                    }
                }
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        Poll::Ready(Ok(()))
    }

    /// Gathers events until `until` (see `hot`).
    fn hold_until(&mut self, until: Instant) {
        match self.hold.as_mut() {
            Some(hold) => hold.as_mut().reset(until),
            None => self.hold = Some(Box::pin(tokio::time::sleep_until(until))),
        }
        self.held = true;
    }

    /// Whether events are being gathered (see `hot`): the task sleeps until the hold's
    /// deadline, and pushes meanwhile only queue.
    fn holding(&mut self, now: Instant, cx: &mut Context<'_>) -> bool {
        if !self.held {
            return false;
        }
        let Some(hold) = self.hold.as_mut() else {
            self.held = false;
            return false;
        };
        if now >= hold.deadline() || hold.as_mut().poll(cx).is_ready() {
            self.held = false;
            return false;
        }
        true
    }

    fn close(&mut self) -> Poll<()> {
        self.socket.shut_down_writes();
        Poll::Ready(())
    }
}

impl Drop for DirectStream {
    fn drop(&mut self) {
        // Before the socket closes: no publisher may write to its descriptor once it is reused.
        self.stream.inner.reclaim_socket();
        self.socket.release();
    }
}

impl Future for DirectStream {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        let now = Instant::now();
        let reclaimed = this.stream.inner.reclaim_socket();
        this.last_write = this.last_write.max(reclaimed.last_write);
        if let Some(until) = reclaimed.hold_until {
            this.hot = true;
            this.hold_until(until);
        }
        if this.socket.client_gone(cx) {
            return Poll::Ready(());
        }
        loop {
            // The first batch (the opening comment, and a resuming client's first events) goes
            // in the write that carries the response head.
            let first = this.outgoing.head_only() && !this.ending;
            if this.outgoing.is_written() || first {
                if this.ending {
                    return this.close();
                }
                if this.holding(now, cx) {
                    return Poll::Pending;
                }
                let events = &mut this.stream.inner;
                match events.poll_batch(cx, now, this.outgoing.frames(), MAX_FRAMES) {
                    Poll::Ready(true) => {
                        // Still gathering: the next events wait for the next round, unless
                        // this one could not take everything queued.
                        if this.hot && this.outgoing.frames().len() < MAX_FRAMES {
                            let until = now + events.batch_window();
                            this.hold_until(until);
                        }
                        this.outgoing.batched();
                        this.last_write = Some(now);
                    }
                    Poll::Ready(false) => {
                        this.outgoing.finish(events.framing() == Framing::Chunk);
                        this.ending = true;
                    }
                    // Nothing to join the response head after all: it is written alone.
                    Poll::Pending if first => {}
                    // Quiet again: publishers write the next events themselves (to a chunked
                    // body, as before frames had a bare view too). If one was queued
                    // meanwhile, its push woke this task.
                    Poll::Pending => {
                        this.hot = false;
                        this.outgoing.release();
                        if events.framing() == Framing::Chunk {
                            events.lend_socket(this.socket.clone(), this.last_write);
                        }
                        return Poll::Pending;
                    }
                }
            }
            match this.poll_flush(cx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending if this.stream.inner.overflowed() => {
                    this.stream.inner.disconnect_slow_consumer();
                    return Poll::Ready(());
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}
