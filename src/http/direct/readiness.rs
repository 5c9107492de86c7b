//! Readiness of taken-over sockets: one epoll set per worker thread instead of tokio's
//! registration per socket (issue 21, idle connections).
//!
//! tokio keeps a 128-byte-aligned `ScheduledIo` (256 bytes of heap) for every socket it
//! watches. A direct stream needs much less: one waker and two bits. Its socket is therefore
//! taken out of tokio's reactor at the takeover and added to its thread's own set, watched by
//! one task per thread (the poller) through one tokio registration; a slot here costs 24 bytes.
//!
//! Everything but the socket's writes stays on the stream's thread (direct streams are local
//! tasks): the poller sets a slot's bits and wakes its waker, the stream clears a bit when the
//! socket said `WouldBlock` and waits for the next edge. Edges are never missed: the set is
//! edge-triggered, a bit is only cleared right after a call that would have blocked, and the
//! kernel reports every later change.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::io;
use std::os::fd::RawFd;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};

use mio::unix::SourceFd;
use mio::{Events, Interest, Token};
use tokio::io::unix::AsyncFd;

/// Events taken from the set per system call.
const EVENTS_PER_POLL: usize = 256;

/// The directions a stream waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Direction {
    /// Data or the end of the stream from the client.
    Read,
    /// Room in the socket's send buffer.
    Write,
}

impl Direction {
    fn bit(self) -> u8 {
        match self {
            Direction::Read => 1,
            Direction::Write => 2,
        }
    }
}

/// A socket's place in its thread's set. Made, used and released on that thread only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Registration {
    slot: u32,
    /// Tells a reused slot (or one of a newer set, after a runtime restart) from this one.
    generation: u32,
}

impl Registration {
    /// Adds `fd` to this thread's set (made, with its poller, on first use; inside a
    /// `LocalSet`). Ready for writes until a write says otherwise; for reads once the set
    /// reports it.
    pub(super) fn add(fd: RawFd) -> io::Result<Self> {
        HERE.with(|here| {
            let mut here = here.borrow_mut();
            let set = match &mut *here {
                Some(set) => set,
                none => none.insert(Set::start()?),
            };
            let registration = set.slots.borrow_mut().allocate();
            let token = Token(registration.token());
            let interest = Interest::READABLE | Interest::WRITABLE;
            if let Err(error) = set.registry.register(&mut SourceFd(&fd), token, interest) {
                set.slots.borrow_mut().release(registration);
                return Err(error);
            }
            Ok(registration)
        })
    }

    /// `Ready(Ok)` while the socket may be ready for `direction`; otherwise `Pending`, the task
    /// is woken by the socket's next event. `Ready(Err)` when the registration is gone (its
    /// set failed, or its runtime shut down): nothing would wake the task, so the stream ends
    /// and its client resumes elsewhere.
    pub(super) fn poll_ready(
        self,
        direction: Direction,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        let polled = Set::with_slot(self, |slot| {
            if slot.ready & direction.bit() != 0 {
                return Poll::Ready(Ok(()));
            }
            match &mut slot.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                waker => *waker = Some(cx.waker().clone()),
            }
            Poll::Pending
        });
        polled.unwrap_or_else(|| {
            Poll::Ready(Err(io::Error::other(
                "the socket's readiness is no longer watched",
            )))
        })
    }

    /// The socket said `WouldBlock` for `direction`: wait for its next edge.
    pub(super) fn clear(self, direction: Direction) {
        Set::with_slot(self, |slot| slot.ready &= !direction.bit());
    }

    /// Frees the slot. The socket leaves the kernel's set when it is closed, possibly later
    /// (a publisher may still hold it): its events until then find the slot gone.
    pub(super) fn release(self) {
        let _ = HERE.try_with(|here| {
            if let Some(set) = here.borrow().as_ref() {
                set.slots.borrow_mut().release(self);
            }
        });
    }

    fn token(self) -> usize {
        // Tokens are 64-bit: the crate builds for 64-bit Linux only (epoll, `sendmsg` flags).
        (u64::from(self.generation) << 32 | u64::from(self.slot)) as usize
    }

    fn of_token(token: Token) -> Self {
        let token = token.0 as u64;
        Self {
            slot: token as u32,
            generation: (token >> 32) as u32,
        }
    }
}

#[derive(Default)]
struct Slot {
    generation: u32,
    ready: u8,
    waker: Option<Waker>,
}

#[derive(Default)]
struct Slots {
    slots: Vec<Slot>,
    free: Vec<u32>,
}

impl Slots {
    fn allocate(&mut self) -> Registration {
        let generation = NEXT_GENERATION.with(|next| {
            let generation = next.get();
            next.set(generation.wrapping_add(1));
            generation
        });
        let slot = self.free.pop().unwrap_or_else(|| {
            self.slots.push(Slot::default());
            // 4 billion sockets on one thread are beyond its descriptors anyway.
            u32::try_from(self.slots.len() - 1).unwrap_or(u32::MAX)
        });
        if let Some(entry) = self.slots.get_mut(slot as usize) {
            *entry = Slot {
                generation,
                // Writable until a write says otherwise. Readable only once the set says so: a
                // subscriber sends nothing after its request, and adding the socket to the
                // edge-triggered set reports anything already there (data, its end).
                ready: Direction::Write.bit(),
                waker: None,
            };
        }
        Registration { slot, generation }
    }

    fn get(&mut self, registration: Registration) -> Option<&mut Slot> {
        self.slots
            .get_mut(registration.slot as usize)
            .filter(|slot| slot.generation == registration.generation)
    }

    fn release(&mut self, registration: Registration) {
        if let Some(slot) = self.get(registration) {
            // Another generation than the registration's: an event that comes for the socket
            // before it is closed finds no slot (the next registration sets its own).
            *slot = Slot {
                generation: slot.generation.wrapping_sub(1),
                ..Slot::default()
            };
            self.free.push(registration.slot);
        }
    }

    /// Records an event of the set; the waker to wake, if any.
    fn record(&mut self, registration: Registration, ready: u8) -> Option<Waker> {
        let slot = self.get(registration)?;
        slot.ready |= ready;
        slot.waker.take()
    }
}

/// One thread's set: the kernel's epoll set (through mio) and the slots, shared with the
/// poller task.
struct Set {
    registry: mio::Registry,
    slots: Rc<RefCell<Slots>>,
    /// Lets a test end the poller as a failure would.
    #[cfg(test)]
    poller: tokio::task::AbortHandle,
}

thread_local! {
    static HERE: RefCell<Option<Set>> = const { RefCell::new(None) };
    /// Never reset, so that a set made after a runtime restart gives different generations.
    static NEXT_GENERATION: Cell<u32> = const { Cell::new(0) };
}

impl Set {
    /// A new set for this thread, and its poller.
    fn start() -> io::Result<Self> {
        let poll = mio::Poll::new()?;
        let registry = poll.registry().try_clone()?;
        let slots = Rc::new(RefCell::new(Slots::default()));
        // SAFETY: a `mio::Poll` owns its epoll descriptor and returns that one from
        // `as_raw_fd` until it is dropped, with the `AsyncFd` that owns it.
        let poll = unsafe { AsyncFd::register_with_interest(poll, tokio::io::Interest::READABLE) };
        let poller = Poller {
            poll: poll.map_err(io::Error::from)?,
            events: Events::with_capacity(EVENTS_PER_POLL),
            slots: Rc::clone(&slots),
            wake: Vec::new(),
        };
        let _poller = tokio::task::spawn_local(poller);
        Ok(Set {
            registry,
            slots,
            #[cfg(test)]
            poller: _poller.abort_handle(),
        })
    }

    /// `f` of the registration's slot; `None` when it is gone.
    fn with_slot<T>(registration: Registration, f: impl FnOnce(&mut Slot) -> T) -> Option<T> {
        let found = HERE.try_with(|here| {
            let here = here.borrow();
            let mut slots = here.as_ref()?.slots.borrow_mut();
            slots.get(registration).map(f)
        });
        found.ok().flatten()
    }
}

/// The task that waits for this thread's set and wakes the streams whose sockets had events.
struct Poller {
    poll: AsyncFd<mio::Poll>,
    events: Events,
    slots: Rc<RefCell<Slots>>,
    /// Wakers taken under the slots' borrow, woken after it; kept for the next round.
    wake: Vec<Waker>,
}

impl Poller {
    /// Takes what the set has ready without waiting; how many events there were.
    fn take_events(&mut self) -> io::Result<usize> {
        let Self { poll, events, .. } = self;
        match poll.get_mut().poll(events, Some(std::time::Duration::ZERO)) {
            Err(error) if error.kind() == io::ErrorKind::Interrupted => return Ok(0),
            other => other?,
        }
        let mut slots = self.slots.borrow_mut();
        let mut count = 0;
        for event in self.events.iter() {
            count += 1;
            let mut ready = 0;
            if event.is_readable() || event.is_read_closed() || event.is_error() {
                ready |= Direction::Read.bit();
            }
            if event.is_writable() || event.is_write_closed() || event.is_error() {
                ready |= Direction::Write.bit();
            }
            let registration = Registration::of_token(event.token());
            self.wake.extend(slots.record(registration, ready));
        }
        Ok(count)
    }

    /// Ends the set: its streams find their registrations gone and end (see `poll_ready`).
    fn fail(&self, error: &io::Error) -> Poll<()> {
        tracing::warn!(%error, "the epoll set of this thread's subscriber connections failed; they are closed");
        Poll::Ready(())
    }
}

impl Future for Poller {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            let mut guard = match ready!(this.poll.poll_read_ready_mut(cx)) {
                Ok(guard) => guard,
                Err(error) => return this.fail(&error),
            };
            guard.clear_ready();
            drop(guard);
            // Until the set is empty: it only reports readable again on a new edge.
            loop {
                let taken = this.take_events();
                this.wake.drain(..).for_each(Waker::wake);
                match taken {
                    Ok(count) if count == EVENTS_PER_POLL => {}
                    Ok(_) => break,
                    Err(error) => return this.fail(&error),
                }
            }
        }
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // Its runtime is shutting down, or the set failed: the next socket taken over on this
        // thread starts a new set, and the streams of this one are woken to find their
        // registrations gone (they end; nothing else would wake a quiet one).
        let _ = HERE.try_with(|here| {
            if let Ok(mut here) = here.try_borrow_mut() {
                if here
                    .as_ref()
                    .is_some_and(|set| Rc::ptr_eq(&set.slots, &self.slots))
                {
                    *here = None;
                }
            }
        });
        let waiting: Vec<Waker> = match self.slots.try_borrow_mut() {
            Ok(mut slots) => {
                let slots = std::mem::take(&mut *slots);
                slots
                    .slots
                    .into_iter()
                    .filter_map(|slot| slot.waker)
                    .collect()
            }
            Err(_) => Vec::new(),
        };
        waiting.into_iter().for_each(Waker::wake);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::os::fd::AsRawFd;
    use std::time::Duration;

    use super::*;

    /// A connected pair on loopback: (the taken-over side, non-blocking; the client).
    fn pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let client =
            TcpStream::connect(listener.local_addr().expect("its address")).expect("connect to it");
        let (server, _) = listener.accept().expect("accept the connection");
        server.set_nonblocking(true).expect("non-blocking");
        (server, client)
    }

    /// Polls `direction` once in a task, as a stream does: `None` while it waits, else whether
    /// the socket is ready (`false`: the registration is gone).
    async fn ready_now(registration: Registration, direction: Direction) -> Option<bool> {
        std::future::poll_fn(|cx| {
            Poll::Ready(match registration.poll_ready(direction, cx) {
                Poll::Ready(result) => Some(result.is_ok()),
                Poll::Pending => None,
            })
        })
        .await
    }

    /// Whether the task polling `direction` is woken and finds the socket ready within 10 s.
    async fn woken(registration: Registration, direction: Direction) -> bool {
        let ready = std::future::poll_fn(|cx| registration.poll_ready(direction, cx));
        matches!(
            tokio::time::timeout(Duration::from_secs(10), ready).await,
            Ok(Ok(()))
        )
    }

    /// Runs `test` on a current-thread runtime inside a `LocalSet`, as actix runs its workers.
    fn run_local(test: impl Future<Output = ()>) {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        tokio::task::LocalSet::new().block_on(&runtime, test);
    }

    /// A pair whose taken-over side is in this thread's set.
    fn registered_pair() -> (TcpStream, TcpStream, Registration) {
        let (server, client) = pair();
        let registration = Registration::add(server.as_raw_fd()).expect("registered");
        (server, client, registration)
    }

    #[test]
    fn a_full_socket_wakes_its_task_once_the_client_reads() {
        run_local(async {
            let (server, mut client, registration) = registered_pair();
            assert_eq!(ready_now(registration, Direction::Write).await, Some(true));
            let chunk = [b'x'; 65_536];
            while (&server).write(&chunk).is_ok() {}
            registration.clear(Direction::Write);
            assert_eq!(ready_now(registration, Direction::Write).await, None);
            let reader = std::thread::spawn(move || {
                let mut buffer = vec![0; 1 << 20];
                let mut total = 0;
                while total < 4 << 20 {
                    match client.read(&mut buffer) {
                        Ok(0) | Err(_) => break,
                        Ok(read) => total += read,
                    }
                }
                client
            });
            assert!(
                woken(registration, Direction::Write).await,
                "no wake-up after the client read"
            );
            registration.release();
            drop(server);
            drop(reader.join());
        });
    }

    #[test]
    fn what_the_client_did_before_the_takeover_is_reported() {
        run_local(async {
            let (server, mut client) = pair();
            client.write_all(b"late bytes").expect("the client writes");
            drop(client);
            let registration = Registration::add(server.as_raw_fd()).expect("registered");
            assert!(
                woken(registration, Direction::Read).await,
                "the pending bytes and the end were not reported"
            );
            let mut buffer = [0; 64];
            assert_eq!((&server).read(&mut buffer).ok(), Some(10));
            assert_eq!((&server).read(&mut buffer).ok(), Some(0));
            registration.release();
        });
    }

    #[test]
    fn a_stream_waiting_when_its_set_ends_is_woken_and_told() {
        run_local(async {
            let (_server, _client, registration) = registered_pair();
            let waiting = tokio::task::spawn_local(async move {
                std::future::poll_fn(|cx| registration.poll_ready(Direction::Read, cx)).await
            });
            tokio::task::yield_now().await;
            HERE.with(|here| here.borrow().as_ref().map(|set| set.poller.abort()));
            let told = tokio::time::timeout(Duration::from_secs(10), waiting).await;
            assert!(
                matches!(told, Ok(Ok(Err(_)))),
                "the waiting stream was not told its set ended"
            );
            // The next socket gets a new set.
            let (_again, _client, next) = registered_pair();
            assert_eq!(ready_now(next, Direction::Write).await, Some(true));
            next.release();
        });
    }

    #[test]
    fn the_client_closing_wakes_its_task_and_released_slots_are_reused() {
        run_local(async {
            let (server, client, registration) = registered_pair();
            assert_eq!(ready_now(registration, Direction::Read).await, None);
            drop(client);
            assert!(
                woken(registration, Direction::Read).await,
                "no wake-up after the client closed"
            );
            assert_eq!((&server).read(&mut [0; 16]).ok(), Some(0));
            registration.release();
            // A released registration is gone: it clears nothing and reads as an error, which
            // ends its stream (nothing would wake it).
            registration.clear(Direction::Read);
            assert_eq!(ready_now(registration, Direction::Read).await, Some(false));
            let (_again, _client, next) = registered_pair();
            assert_eq!(next.slot, registration.slot);
            assert_ne!(next.generation, registration.generation);
            next.release();
        });
    }
}
