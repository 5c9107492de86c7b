//! Connection floods (docs/reliability.md, R-FLOOD). A connection that has not completed a
//! request head yet ("incomplete") costs a descriptor and proves nothing, so thousands of silent
//! connections could take every descriptor the process has and lock real clients out until
//! `request_timeout` closes them. Incomplete connections are therefore kept in the order they
//! were admitted, and when a newly accepted connection comes near `RLIMIT_NOFILE` the oldest
//! ones are closed early (shed), so that accepting goes on. A connection whose head is complete
//! (a stream, a publish) is never shed.
//!
//! Descriptors belong to the process, so there is one guard per process (actix-http's
//! connection watch, which sees a connection before its first byte, is process-wide too).

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};

use tokio::net::TcpStream;

/// The most descriptors kept in reserve below the limit: shedding starts that close to it.
const MAX_MARGIN: u64 = 256;

/// Connections shed each time an accepted connection lands in the reserve. A shed connection
/// gives its descriptor back only once its task has run, so each newcomer frees a few.
const SHED_BATCH: usize = 16;

/// An accepted socket as the guard knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Socket {
    fd: RawFd,
    /// Checked again before shedding, so that a reused descriptor number is never shut down.
    peer: Option<SocketAddr>,
}

/// The shedding policy's state: incomplete connections, oldest first.
#[derive(Debug, Default)]
struct Incomplete {
    next_id: u64,
    waiting: BTreeMap<u64, Socket>,
}

impl Incomplete {
    fn admit(&mut self, socket: Socket) -> u64 {
        let id = self.next_id;
        // 2^64 admissions never happen; wrapping keeps this free of overflow checks.
        self.next_id = self.next_id.wrapping_add(1);
        self.waiting.insert(id, socket);
        id
    }

    fn leave(&mut self, id: u64) -> bool {
        self.waiting.remove(&id).is_some()
    }

    /// Removes and returns the `count` oldest, never `spare` (the connection being admitted:
    /// shedding it would free its descriptor but turn a likely client away).
    fn take_oldest(&mut self, count: usize, spare: u64) -> Vec<Socket> {
        let ids: Vec<u64> = self
            .waiting
            .keys()
            .copied()
            .filter(|id| *id != spare)
            .take(count)
            .collect();
        ids.iter()
            .filter_map(|id| self.waiting.remove(id))
            .collect()
    }

    fn len(&self) -> usize {
        self.waiting.len()
    }
}

/// The lowest descriptor number at which shedding starts: the last `min(256, limit / 8)` below
/// the limit. `None` (never shed) when the limit is too large to be reached (unlimited).
fn shedding_threshold(limit: u64) -> Option<RawFd> {
    let margin = (limit / 8).min(MAX_MARGIN);
    RawFd::try_from(limit.checked_sub(margin)?).ok()
}

/// How many incomplete connections to shed when a connection was accepted as descriptor `fd`.
/// The kernel gives a new descriptor the lowest free number, so descriptor `fd` being new means
/// every lower one is open: no descriptor count (or listing of /proc) is needed.
fn to_shed(fd: RawFd, threshold: Option<RawFd>) -> usize {
    match threshold {
        Some(threshold) if fd >= threshold => SHED_BATCH,
        _ => 0,
    }
}

/// Whether admitting a connection may shed others: only when it was just accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// Seen at accept time (before its first byte, or after its TLS handshake).
    Accepted,
    /// Seen again later in its life (by the HTTP dispatcher, after its first bytes).
    Known,
}

/// Tracks incomplete connections and counts what happened to them.
#[derive(Debug)]
pub struct FloodGuard {
    incomplete: Mutex<Incomplete>,
    threshold: Option<RawFd>,
    shed: AtomicU64,
    timed_out: AtomicU64,
}

impl FloodGuard {
    fn new(threshold: Option<RawFd>) -> Arc<Self> {
        Arc::new(Self {
            incomplete: Mutex::default(),
            threshold,
            shed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// Starts watching a connection until its head is complete or the ticket is dropped (which
    /// must happen before its socket is closed).
    pub fn admit(self: &Arc<Self>, tcp: &TcpStream, admission: Admission) -> Ticket {
        let socket = Socket {
            fd: tcp.as_raw_fd(),
            peer: tcp.peer_addr().ok(),
        };
        let mut incomplete = self.lock();
        let id = incomplete.admit(socket);
        if admission == Admission::Accepted {
            let count = to_shed(socket.fd, self.threshold);
            if count > 0 {
                self.shed_oldest(&mut incomplete, count, id);
            }
        }
        Ticket {
            guard: self.clone(),
            id,
            waiting: AtomicBool::new(true),
        }
    }

    /// Sheds with the queue locked: a connection leaves the queue (its ticket's drop takes the
    /// lock) before its socket is closed, so every descriptor here is still that connection's.
    fn shed_oldest(&self, incomplete: &mut Incomplete, count: usize, spare: u64) {
        let mut shed = 0;
        for socket in incomplete.take_oldest(count, spare) {
            if shut_down(socket) {
                shed += 1;
            }
        }
        if shed > 0 {
            self.shed.fetch_add(shed, Ordering::Relaxed);
            tracing::debug!(
                shed,
                waiting = incomplete.len(),
                "near the descriptor limit: closed the oldest connections without a request"
            );
        }
    }

    /// A connection was closed for not completing its head within `request_timeout`.
    pub fn timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    pub fn timed_out_total(&self) -> u64 {
        self.timed_out.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, Incomplete> {
        // The queue stays consistent even if a holder panicked: every change is one map call.
        self.incomplete
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// A watched connection; dropping it (or completing its head) ends the watch.
#[derive(Debug)]
pub struct Ticket {
    guard: Arc<FloodGuard>,
    id: u64,
    waiting: AtomicBool,
}

impl Ticket {
    /// The connection completed a request head: it may no longer be shed.
    pub fn head_complete(&self) {
        if self.waiting.swap(false, Ordering::Relaxed) {
            self.guard.lock().leave(self.id);
        }
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.head_complete();
    }
}

/// Shuts both directions of `socket` down: its task then reads end-of-stream and drops the
/// connection, which gives the descriptor back. The socket itself is not closed here: its
/// owner does that. False when the descriptor no longer holds the same peer.
fn shut_down(socket: Socket) -> bool {
    let Some(peer) = socket.peer else {
        return false;
    };
    if peer_of(socket.fd) != Some(peer) {
        return false;
    }
    // SAFETY: shutdown only reads its two integer arguments; on a descriptor that is not a
    // socket it fails with an error code.
    unsafe { libc::shutdown(socket.fd, libc::SHUT_RDWR) == 0 }
}

fn peer_of(fd: RawFd) -> Option<SocketAddr> {
    // SAFETY: getpeername writes at most `len` bytes into the storage socket2 provides and
    // sets `len`; on a bad descriptor it fails with an error code.
    let (result, address) = unsafe {
        socket2::SockAddr::try_init(|storage, len| Ok(libc::getpeername(fd, storage.cast(), len)))
    }
    .ok()?;
    (result == 0).then(|| address.as_socket()).flatten()
}

/// The process's guard; the first call reads `RLIMIT_NOFILE` and installs the watch that
/// admits plaintext connections before their first byte.
pub fn guard() -> &'static Arc<FloodGuard> {
    static GUARD: OnceLock<Arc<FloodGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let limit = descriptor_limit();
        let guard = FloodGuard::new(limit.and_then(shedding_threshold));
        match limit {
            Some(limit) => tracing::debug!(limit, threshold = ?guard.threshold, "descriptor limit"),
            None => tracing::warn!("cannot read RLIMIT_NOFILE: connection floods are not shed"),
        }
        if actix_http::watch::install(Box::new(Watch(guard.clone()))).is_err() {
            tracing::warn!(
                "a connection watch was already installed: silent connections are not shed"
            );
        }
        guard
    })
}

/// The soft `RLIMIT_NOFILE`: the number of descriptors the process may have open.
fn descriptor_limit() -> Option<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit only writes the struct passed by pointer.
    let got = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) };
    (got == 0).then_some(limit.rlim_cur)
}

/// actix-http's view of connections before they become HTTP connections.
struct Watch(Arc<FloodGuard>);

impl actix_http::watch::ConnectionWatch for Watch {
    fn awaiting_first_bytes(&self, io: &TcpStream) -> Box<dyn Any> {
        Box::new(self.0.admit(io, Admission::Accepted))
    }

    fn request_timed_out(&self) {
        self.0.timed_out();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket(fd: RawFd) -> Socket {
        Socket { fd, peer: None }
    }

    #[test]
    fn the_oldest_are_shed_first_and_never_the_newcomer() {
        let mut incomplete = Incomplete::default();
        let ids: Vec<u64> = (10..15).map(|fd| incomplete.admit(socket(fd))).collect();
        let shed = incomplete.take_oldest(2, ids[4]);
        assert_eq!(shed, vec![socket(10), socket(11)]);
        assert_eq!(incomplete.len(), 3);
        // Asked for more than there are: all but the newcomer.
        let shed = incomplete.take_oldest(10, ids[4]);
        assert_eq!(shed, vec![socket(12), socket(13)]);
        assert_eq!(incomplete.take_oldest(10, ids[4]), vec![]);
        assert_eq!(incomplete.len(), 1);
    }

    #[test]
    fn completed_connections_are_never_shed() {
        let mut incomplete = Incomplete::default();
        let first = incomplete.admit(socket(3));
        let second = incomplete.admit(socket(4));
        let newcomer = incomplete.admit(socket(5));
        assert!(incomplete.leave(first), "its head completed");
        assert!(!incomplete.leave(first), "leaving twice is harmless");
        assert_eq!(incomplete.take_oldest(5, newcomer), vec![socket(4)]);
        assert!(!incomplete.leave(second), "already shed");
    }

    #[test]
    fn shedding_starts_in_the_reserve_below_the_limit() {
        assert_eq!(shedding_threshold(20_000), Some(20_000 - 256));
        assert_eq!(shedding_threshold(2048), Some(2048 - 256));
        assert_eq!(shedding_threshold(1024), Some(1024 - 128));
        assert_eq!(shedding_threshold(u64::MAX), None, "unlimited: never");
        let threshold = shedding_threshold(2048);
        assert_eq!(to_shed(100, threshold), 0);
        assert_eq!(to_shed(1791, threshold), 0);
        assert_eq!(to_shed(1792, threshold), SHED_BATCH);
        assert_eq!(to_shed(2047, threshold), SHED_BATCH);
        assert_eq!(to_shed(5, None), 0);
    }

    #[tokio::test]
    async fn tickets_leave_the_queue_on_completion_or_drop_and_shedding_closes_the_oldest() {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..3 {
            clients.push(tokio::net::TcpStream::connect(address).await.unwrap());
            accepted.push(listener.accept().await.unwrap().0);
        }
        // Every descriptor is "near the limit": each accepted admission sheds.
        let guard = FloodGuard::new(Some(0));
        let complete = guard.admit(&accepted[0], Admission::Known);
        complete.head_complete();
        let oldest = guard.admit(&accepted[1], Admission::Known);
        let _newcomer = guard.admit(&accepted[2], Admission::Accepted);
        assert_eq!(guard.shed_total(), 1, "only the oldest incomplete one");
        assert_eq!(guard.lock().len(), 1, "the newcomer is left");
        drop(oldest);

        let mut byte = [0u8; 1];
        let read = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            clients[1].read(&mut byte),
        )
        .await
        .expect("the shed connection's client sees it end");
        assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
        let open = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            clients[0].read(&mut byte),
        )
        .await;
        assert!(open.is_err(), "the complete connection stays open");
    }
}
