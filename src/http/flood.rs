//! Connection floods (docs/reliability.md, R-FLOOD). A connection that has not completed a
//! request head yet ("incomplete") costs a descriptor and proves nothing, so thousands of silent
//! connections could take every descriptor the process has and lock real clients out until
//! `request_timeout` closes them. Incomplete connections are therefore kept in the order they
//! were admitted, and when the open descriptors come near `RLIMIT_NOFILE` (checked as each
//! connection is accepted, and every `SWEEP`), some are closed early (shed) so that accepting
//! goes on: silent ones before talking ones, oldest first, none younger than its grace time. A
//! connection whose head is complete (a stream, a publish) is never shed.
//!
//! Descriptors belong to the process, so there is one guard per process (actix-http's
//! connection watch, which sees a connection before its first byte, is process-wide too).

use std::any::Any;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use tokio::net::TcpStream;

/// The most descriptors kept in reserve below the limit: shedding starts that close to it.
const MAX_MARGIN: u64 = 256;

/// The most connections shed when one connection is accepted.
const SHED_BATCH: usize = 16;

/// The most connections one sweep sheds (it holds the queue's lock meanwhile).
const SWEEP_BATCH: usize = 512;

/// How often the queue is swept for connections to shed.
const SWEEP: Duration = Duration::from_millis(100);

/// How many of the oldest connections are looked at to find silent ones to shed first.
const SHED_SCAN: usize = 4 * SHED_BATCH;

/// How long a silent connection is safe from shedding: a real client's first bytes come
/// within a round trip or so of its connection.
const SILENT_GRACE: Duration = Duration::from_millis(200);

/// How long a connection that sent something is safe from shedding: time for a TLS handshake
/// (a few round trips) and a request head.
const TALKING_GRACE: Duration = Duration::from_secs(1);

/// The longest the estimate of open descriptors goes without a recount once near the limit.
const RECOUNT: Duration = Duration::from_millis(100);

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
    /// Each with when it was admitted.
    waiting: BTreeMap<u64, (Socket, Instant)>,
    /// Connections shed whose descriptors are not given back yet: their tasks have yet to run.
    releasing: usize,
    /// The process's open descriptors, as last counted, plus the connections accepted since,
    /// minus the shed ones given back since. Other closes are not seen, so it only errs high,
    /// and is counted again (at most every `RECOUNT`) before it makes anything be shed.
    open: usize,
    counted_at: Option<Instant>,
}

impl Incomplete {
    fn admit(&mut self, socket: Socket, now: Instant) -> u64 {
        let id = self.next_id;
        // 2^64 admissions never happen; wrapping keeps this free of overflow checks.
        self.next_id = self.next_id.wrapping_add(1);
        self.waiting.insert(id, (socket, now));
        id
    }

    /// The connection completed its head or ended; false when it had been shed (its descriptor
    /// is then being given back).
    fn leave(&mut self, id: u64) -> bool {
        let waiting = self.waiting.remove(&id).is_some();
        if !waiting {
            self.releasing = self.releasing.saturating_sub(1);
            self.open = self.open.saturating_sub(1);
        }
        waiting
    }

    /// Removes and returns up to `count` connections to shed, from the `SHED_SCAN` oldest:
    /// silent ones first, then those that sent something (a TLS client in its handshake, a
    /// partial head), each group oldest first. A connection gets a grace time before it may be
    /// shed (`SILENT_GRACE`, or `TALKING_GRACE` when it is talking): a real client's first
    /// bytes may still be on their way, and its TLS handshake takes a few round trips. Under a
    /// flood the oldest connections are the flood's, far older than that; when they are not
    /// (its connections are accepted but not admitted yet, waiting for their worker), nothing
    /// is shed for now and they are shed once admitted and old enough.
    fn take_for_shedding(
        &mut self,
        count: usize,
        now: Instant,
        is_silent: impl Fn(&Socket) -> bool,
    ) -> Vec<Socket> {
        let mut candidates: Vec<(u64, bool)> = self
            .waiting
            .iter()
            .take(SHED_SCAN.max(count))
            .filter_map(|(id, (socket, since))| {
                let age = now.saturating_duration_since(*since);
                let silent = is_silent(socket);
                let grace = if silent { SILENT_GRACE } else { TALKING_GRACE };
                (age >= grace).then_some((*id, silent))
            })
            .collect();
        // Stable: each group stays oldest first.
        candidates.sort_by_key(|(_, silent)| !silent);
        candidates
            .iter()
            .take(count)
            .filter_map(|(id, _)| self.waiting.remove(id).map(|(socket, _)| socket))
            .collect()
    }

    fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Updates the estimate of open descriptors for a connection accepted as descriptor `fd`,
    /// counting them again when it is high and the last count is older than `RECOUNT`.
    fn accepted(&mut self, fd: RawFd, start: RawFd, count: impl FnOnce() -> Option<usize>) {
        // The kernel gives a new descriptor the lowest free number: every lower one is open.
        let at_least = usize::try_from(fd).unwrap_or(0).saturating_add(1);
        self.open = self.open.saturating_add(1).max(at_least);
        self.recount_near(start, at_least, count);
    }

    /// Counts the open descriptors again when the estimate is at `start` or more and the last
    /// count is older than `RECOUNT`; never below `at_least`.
    fn recount_near(
        &mut self,
        start: RawFd,
        at_least: usize,
        count: impl FnOnce() -> Option<usize>,
    ) {
        let recent = self.counted_at.is_some_and(|at| at.elapsed() < RECOUNT);
        if self.open >= usize::try_from(start).unwrap_or(0) && !recent {
            if let Some(counted) = count() {
                self.open = counted.max(at_least);
            }
            self.counted_at = Some(Instant::now());
        }
    }
}

/// Where shedding starts and how far down it brings the descriptors, in open descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Reserve {
    /// With this many open, an accepted connection sheds others: the last
    /// `margin = min(256, limit / 8)` below the limit.
    start: RawFd,
    /// Shedding aims for this many open (`2 × margin` below the limit), so that the connections
    /// accepted before the next ones are looked at still find descriptors free.
    target: RawFd,
}

/// `None` (never shed) when the limit is too large to be reached (unlimited).
fn reserve(limit: u64) -> Option<Reserve> {
    let margin = (limit / 8).min(MAX_MARGIN);
    Some(Reserve {
        start: RawFd::try_from(limit.checked_sub(margin)?).ok()?,
        target: RawFd::try_from(limit.checked_sub(margin.checked_mul(2)?)?).ok()?,
    })
}

/// How many incomplete connections to shed with `open` descriptors open, `releasing` of them
/// shed already but not given back yet: enough to come down to the target once they are.
/// (Shedding a batch per newcomer regardless would, in a burst of accepts, shed far more than
/// needed, and soon the clients that are still talking.)
fn to_shed(open: usize, reserve: Option<Reserve>, releasing: usize) -> usize {
    let Some(reserve) = reserve else {
        return 0;
    };
    let reached = |mark: RawFd| usize::try_from(mark).map_or(0, |mark| open.saturating_sub(mark));
    if open < usize::try_from(reserve.start).unwrap_or(usize::MAX) {
        return 0;
    }
    reached(reserve.target).saturating_sub(releasing)
}

/// Counts the process's open descriptors (an in-memory listing of `/proc/self/fd`, done at
/// most every `RECOUNT` and only near the limit).
fn count_open_descriptors() -> Option<usize> {
    let entries = std::fs::read_dir("/proc/self/fd").ok()?;
    // The listing itself holds one.
    Some(entries.count().saturating_sub(1))
}

/// Whether admitting a connection may shed others: only when it was just accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Admission {
    /// Seen at accept time (before its first byte or its TLS handshake).
    Accepted,
    /// Seen again later in its life (by the HTTP dispatcher, after its first bytes).
    Known,
}

/// Tracks incomplete connections and counts what happened to them.
#[derive(Debug)]
pub(super) struct FloodGuard {
    incomplete: Mutex<Incomplete>,
    reserve: Option<Reserve>,
    shed: AtomicU64,
    timed_out: AtomicU64,
}

impl FloodGuard {
    fn new(reserve: Option<Reserve>) -> Arc<Self> {
        Arc::new(Self {
            incomplete: Mutex::default(),
            reserve,
            shed: AtomicU64::new(0),
            timed_out: AtomicU64::new(0),
        })
    }

    /// Starts watching a connection until its head is complete or the ticket is dropped (which
    /// must happen before its socket is closed).
    pub(super) fn admit(self: &Arc<Self>, tcp: &TcpStream, admission: Admission) -> Ticket {
        let socket = Socket {
            fd: tcp.as_raw_fd(),
            peer: tcp.peer_addr().ok(),
        };
        let now = Instant::now();
        let mut incomplete = self.lock();
        let id = incomplete.admit(socket, now);
        if let (Admission::Accepted, Some(reserve)) = (admission, self.reserve) {
            incomplete.accepted(socket.fd, reserve.start, count_open_descriptors);
            let count = to_shed(incomplete.open, self.reserve, incomplete.releasing);
            let count = count.min(SHED_BATCH);
            if count > 0 {
                self.shed_oldest(&mut incomplete, count, now);
            }
        }
        Ticket {
            guard: self.clone(),
            id,
            waiting: AtomicBool::new(true),
        }
    }

    /// Sheds what `admit` could not: connections that were too young when their successors
    /// were accepted, or while nothing is accepted at all (the limit reached). Run every
    /// `SWEEP`; its recount (a listing of `/proc/self/fd`, in memory) happens near the limit
    /// only, at most every `RECOUNT`.
    pub(super) fn sweep(&self) {
        let Some(reserve) = self.reserve else {
            return;
        };
        let mut incomplete = self.lock();
        incomplete.recount_near(reserve.start, 0, count_open_descriptors);
        let count = to_shed(incomplete.open, self.reserve, incomplete.releasing);
        let count = count.min(SWEEP_BATCH);
        if count > 0 {
            self.shed_oldest(&mut incomplete, count, Instant::now());
        }
    }

    /// Sheds with the queue locked: a connection leaves the queue (its ticket's drop takes the
    /// lock) before its socket is closed, so every descriptor here is still that connection's.
    fn shed_oldest(&self, incomplete: &mut Incomplete, count: usize, now: Instant) {
        let mut shed: usize = 0;
        let silent = |socket: &Socket| bytes_received(socket.fd) == Some(0);
        for socket in incomplete.take_for_shedding(count, now, silent) {
            if shut_down(socket) {
                shed += 1;
            }
        }
        if shed > 0 {
            incomplete.releasing = incomplete.releasing.saturating_add(shed);
            self.shed
                .fetch_add(u64::try_from(shed).unwrap_or(u64::MAX), Ordering::Relaxed);
            tracing::debug!(
                shed,
                waiting = incomplete.len(),
                open = incomplete.open,
                "near the descriptor limit: closed the oldest connections without a request"
            );
        }
    }

    /// A connection was closed for not completing its head within `request_timeout`.
    pub(super) fn timed_out(&self) {
        self.timed_out.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn shed_total(&self) -> u64 {
        self.shed.load(Ordering::Relaxed)
    }

    pub(super) fn timed_out_total(&self) -> u64 {
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
pub(super) struct Ticket {
    guard: Arc<FloodGuard>,
    id: u64,
    waiting: AtomicBool,
}

impl Ticket {
    /// The connection completed a request head: it may no longer be shed.
    pub(super) fn head_complete(&self) {
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

/// Bytes the connection has received so far (`TCP_INFO`; 0 on kernels older than 4.1, so that
/// every connection then counts as silent and the oldest go first).
fn bytes_received(fd: RawFd) -> Option<u64> {
    // SAFETY: tcp_info is plain integers, for which all zeros is a valid value.
    let mut info: libc::tcp_info = unsafe { std::mem::zeroed() };
    let mut len = libc::socklen_t::try_from(std::mem::size_of::<libc::tcp_info>()).ok()?;
    // SAFETY: getsockopt writes at most `len` bytes into `info` and sets `len`; on a bad
    // descriptor it fails with an error code.
    let got = unsafe {
        libc::getsockopt(
            fd,
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            std::ptr::addr_of_mut!(info).cast(),
            &mut len,
        )
    };
    (got == 0).then_some(info.tcpi_bytes_received)
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

/// The process's guard; the first call (in a Tokio runtime) reads `RLIMIT_NOFILE`, installs
/// the watch that admits connections before their first byte or TLS handshake, and starts the
/// sweeper.
pub(super) fn guard() -> &'static Arc<FloodGuard> {
    static GUARD: OnceLock<Arc<FloodGuard>> = OnceLock::new();
    GUARD.get_or_init(|| {
        let limit = descriptor_limit();
        let guard = FloodGuard::new(limit.and_then(reserve));
        match limit {
            Some(limit) => tracing::debug!(limit, reserve = ?guard.reserve, "descriptor limit"),
            None => tracing::warn!("cannot read RLIMIT_NOFILE: connection floods are not shed"),
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(sweep_forever(guard.clone()));
            }
            Err(_) => tracing::warn!("no runtime: connections are shed only as others come"),
        }
        if actix_http::watch::install(Box::new(Watch(guard.clone()))).is_err() {
            tracing::warn!(
                "a connection watch was already installed: silent connections are not shed"
            );
        }
        guard
    })
}

async fn sweep_forever(guard: Arc<FloodGuard>) {
    let mut ticks = tokio::time::interval(SWEEP);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        guard.sweep();
    }
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
    fn accepted(&self, io: &TcpStream) -> Box<dyn Any> {
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

    fn all_silent(_: &Socket) -> bool {
        true
    }

    /// A start time, and a time long after it.
    fn times() -> (Instant, Instant) {
        let start = Instant::now();
        (start, start + Duration::from_secs(60))
    }

    #[test]
    fn the_oldest_are_shed_first() {
        let (start, later) = times();
        let mut incomplete = Incomplete::default();
        for fd in 10..15 {
            incomplete.admit(socket(fd), start);
        }
        let shed = incomplete.take_for_shedding(2, later, all_silent);
        assert_eq!(shed, vec![socket(10), socket(11)]);
        assert_eq!(incomplete.len(), 3);
        // Asked for more than there are: all.
        let shed = incomplete.take_for_shedding(10, later, all_silent);
        assert_eq!(shed, vec![socket(12), socket(13), socket(14)]);
        assert_eq!(incomplete.take_for_shedding(10, later, all_silent), vec![]);
    }

    #[test]
    fn silent_connections_are_shed_before_talking_ones() {
        let (start, later) = times();
        let mut incomplete = Incomplete::default();
        // Even descriptors are talking (a TLS handshake under way), odd ones silent.
        let silent = |socket: &Socket| socket.fd % 2 == 1;
        for fd in 10..16 {
            incomplete.admit(socket(fd), start);
        }
        assert_eq!(
            incomplete.take_for_shedding(4, later, silent),
            vec![socket(11), socket(13), socket(15), socket(10)]
        );
    }

    #[test]
    fn young_connections_are_not_shed() {
        let (start, _) = times();
        let mut incomplete = Incomplete::default();
        let silent = |socket: &Socket| socket.fd % 2 == 1;
        for fd in 10..14 {
            incomplete.admit(socket(fd), start);
        }
        let young = start + SILENT_GRACE / 2;
        assert_eq!(incomplete.take_for_shedding(4, young, silent), vec![]);
        let older = start + SILENT_GRACE;
        assert_eq!(
            incomplete.take_for_shedding(4, older, silent),
            vec![socket(11), socket(13)],
            "silent ones first; talking ones get longer"
        );
        let old = start + TALKING_GRACE;
        assert_eq!(
            incomplete.take_for_shedding(4, old, silent),
            vec![socket(10), socket(12)]
        );
    }

    #[test]
    fn only_the_oldest_few_are_looked_at() {
        let (start, later) = times();
        let mut incomplete = Incomplete::default();
        let silent_fd = 10_000;
        for fd in 0..SHED_SCAN {
            incomplete.admit(socket(RawFd::try_from(fd).unwrap()), start);
        }
        let beyond = incomplete.admit(socket(silent_fd), start);
        let silent = |socket: &Socket| socket.fd >= silent_fd;
        let shed = incomplete.take_for_shedding(1, later, silent);
        assert_eq!(
            shed,
            vec![socket(0)],
            "a silent one beyond the window is not searched for"
        );
        assert!(incomplete.leave(beyond));
    }

    #[test]
    fn open_descriptors_are_estimated_and_counted_again_near_the_limit() {
        let mut incomplete = Incomplete::default();
        let never = || -> Option<usize> { panic!("counted far from the limit") };
        incomplete.accepted(10, 100, never);
        assert_eq!(incomplete.open, 11, "every lower descriptor is open");
        incomplete.accepted(5, 100, never);
        assert_eq!(incomplete.open, 12, "a reused descriptor: one more open");
        // Holes below the limit hide how many are open: near it, they are counted.
        incomplete.open = 99;
        incomplete.accepted(7, 100, || Some(60));
        assert_eq!(incomplete.open, 60);
        // Not again so soon.
        incomplete.open = 150;
        incomplete.accepted(7, 100, never);
        assert_eq!(incomplete.open, 151);
        // A count that cannot be read keeps the estimate.
        incomplete.counted_at = None;
        incomplete.accepted(7, 100, || None);
        assert_eq!(incomplete.open, 152);
        assert!(count_open_descriptors().is_some_and(|open| open >= 3));
    }

    #[test]
    fn completed_connections_are_never_shed() {
        let (start, later) = times();
        let mut incomplete = Incomplete::default();
        let first = incomplete.admit(socket(3), start);
        let second = incomplete.admit(socket(4), start);
        assert!(incomplete.leave(first), "its head completed");
        assert!(!incomplete.leave(first), "leaving twice is harmless");
        assert_eq!(
            incomplete.take_for_shedding(5, later, all_silent),
            vec![socket(4)]
        );
        assert!(!incomplete.leave(second), "already shed");
    }

    #[test]
    fn shedding_starts_in_the_reserve_below_the_limit() {
        let at = |start, target| Some(Reserve { start, target });
        assert_eq!(reserve(20_000), at(20_000 - 256, 20_000 - 512));
        assert_eq!(reserve(2048), at(2048 - 256, 2048 - 512));
        assert_eq!(reserve(1024), at(1024 - 128, 1024 - 256));
        assert_eq!(reserve(u64::MAX), None, "unlimited: never");
        let reserve = reserve(2048);
        assert_eq!(to_shed(100, reserve, 0), 0);
        assert_eq!(to_shed(1791, reserve, 0), 0);
        assert_eq!(to_shed(1792, reserve, 0), 256, "down to the target");
        assert_eq!(to_shed(5000, None, 0), 0);
    }

    #[test]
    fn connections_already_shed_count_as_given_back() {
        let reserve = reserve(2048);
        // 1,792 open, 1,536 aimed for, 250 being given back: 6 more.
        assert_eq!(to_shed(1792, reserve, 250), 6);
        assert_eq!(to_shed(1792, reserve, 300), 0);
        let (start, later) = times();
        let mut incomplete = Incomplete::default();
        let first = incomplete.admit(socket(3), start);
        let newcomer = incomplete.admit(socket(4), start);
        assert_eq!(
            incomplete.take_for_shedding(1, later, all_silent),
            vec![socket(3)]
        );
        incomplete.releasing = 1;
        incomplete.open = 10;
        // The shed connection's ticket goes when its task has closed it.
        assert!(!incomplete.leave(first));
        assert_eq!((incomplete.releasing, incomplete.open), (0, 9));
        assert!(incomplete.leave(newcomer));
        assert_eq!(incomplete.releasing, 0);
    }

    #[tokio::test]
    async fn tickets_leave_the_queue_on_completion_or_drop_and_shedding_closes_incomplete_ones() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let mut clients = Vec::new();
        let mut accepted = Vec::new();
        for _ in 0..3 {
            clients.push(tokio::net::TcpStream::connect(address).await.unwrap());
            accepted.push(listener.accept().await.unwrap().0);
        }
        // Every descriptor is "near the limit": each accepted admission sheds.
        let guard = FloodGuard::new(Some(Reserve {
            start: 0,
            target: 0,
        }));
        clients[2].write_all(b"GET").await.unwrap();
        let talking = accepted[2].as_raw_fd();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while bytes_received(talking) != Some(3) && std::time::Instant::now() < deadline {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(bytes_received(talking), Some(3), "bytes received are seen");
        assert_eq!(bytes_received(accepted[0].as_raw_fd()), Some(0));
        let complete = guard.admit(&accepted[0], Admission::Known);
        complete.head_complete();
        let oldest = guard.admit(&accepted[1], Admission::Known);
        tokio::time::sleep(SILENT_GRACE).await;
        let newcomer = guard.admit(&accepted[2], Admission::Accepted);
        assert_eq!(
            guard.shed_total(),
            1,
            "the old silent one: not the complete one, nor the young newcomer"
        );
        assert_eq!(guard.lock().len(), 1);
        assert_eq!(guard.lock().releasing, 1);
        drop(oldest);
        assert_eq!(guard.lock().releasing, 0);
        drop(newcomer);
        assert_eq!(guard.lock().len(), 0);

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
