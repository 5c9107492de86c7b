//! `floor`: what one `write()` of SSE-sized events costs on loopback TCP on this machine, the
//! lower bound of a hub's CPU per delivery (issue 9). No hub is involved: a writer thread sends
//! pre-encoded frames round-robin over many connections, `events_per_write` at a time, as a hub
//! fanning out does (each write finds its socket idle, so it leaves as its own packet), and its
//! own CPU time is measured: user + system, which on loopback includes the receiving side's
//! kernel work, as it does for a hub. A reader thread drains every connection.
//!
//! Paced (`rate` > 0), it also measures the latency floor: from the start of a round (an event
//! published, for a hub) to the reading of each of its writes. A one-core hub that added nothing
//! to the writes would still show these percentiles of publish → receive latency.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;
use serde::Serialize;

use super::error::BenchError;
use super::procfs::thread_cpu_us;
use super::stats::{self, Latency};

/// Also the command line's options (`quicksilver-bench floor`).
#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Events written per batch size.
    #[arg(short = 'n', long, default_value_t = 400_000)]
    pub events: u64,
    /// Bytes of data per event.
    #[arg(short = 'b', long, default_value_t = 100)]
    pub payload: usize,
    /// Events per write() to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,4,16")]
    pub batches: Vec<usize>,
    /// Connections written round-robin, as a hub fans out.
    #[arg(short = 's', long, default_value_t = 1000)]
    pub connections: usize,
    /// Rounds (one write to every connection) per second, like events published at this rate;
    /// 0 writes back to back. Paced runs also report the latency floor.
    #[arg(short = 'r', long, default_value_t = 0)]
    pub rate: u32,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            events: 400_000,
            payload: 100,
            batches: vec![1, 4, 16],
            connections: 1000,
            rate: 0,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Bytes of one SSE frame (`id:` + `data:` lines).
    pub frame_bytes: usize,
    pub rows: Vec<Row>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub events_per_write: usize,
    pub writes: u64,
    /// The writer thread's CPU time per event: the floor of a hub's CPU per delivery.
    pub cpu_us_per_event: f64,
    pub cpu_us_per_write: f64,
    pub events_per_s: f64,
    /// Paced runs only: round start → each write read, over every write.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency: Option<Latency>,
}

/// When each round started, in ns after `origin`, shared by the writer and the reader: the
/// k-th write read from a connection belongs to round k.
struct Rounds {
    origin: Instant,
    started_ns: Vec<AtomicU64>,
}

impl Rounds {
    fn new(count: u64) -> Self {
        Self {
            origin: Instant::now(),
            started_ns: (0..count).map(|_| AtomicU64::new(0)).collect(),
        }
    }

    fn start(&self, round: u64) {
        if let Some(slot) = self.started_ns.get(round as usize) {
            slot.store(self.now_ns(), Ordering::Release);
        }
    }

    /// Time since `round` started, if it did.
    fn since_start_ns(&self, round: u64, now_ns: u64) -> Option<u64> {
        let started = self.started_ns.get(round as usize)?.load(Ordering::Acquire);
        (started > 0).then(|| now_ns.saturating_sub(started))
    }

    fn now_ns(&self) -> u64 {
        // At least 1: 0 means "not started".
        (self.origin.elapsed().as_nanos() as u64).max(1)
    }
}

pub fn run(options: &Options) -> Result<Report, BenchError> {
    let frame = sse_frame(options.payload);
    let rows = options
        .batches
        .iter()
        .map(|&batch| measure(&frame, batch.max(1), options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Report {
        frame_bytes: frame.len(),
        rows,
    })
}

/// A frame shaped like a hub's: a `urn:uuid:` id and one data line.
fn sse_frame(payload: usize) -> Vec<u8> {
    let mut frame = b"id: urn:uuid:0190d3a2-7b4c-7def-8a01-23456789abcd\ndata: ".to_vec();
    frame.resize(frame.len() + payload, b'x');
    frame.extend_from_slice(b"\n\n");
    frame
}

fn measure(frame: &[u8], batch: usize, options: &Options) -> Result<Row, BenchError> {
    let io = BenchError::io("floor measurement");
    let (writers, readers) = connect_pairs(options.connections.max(1)).map_err(io)?;
    let block: Vec<u8> = frame.repeat(batch);
    let writes = options.events.div_ceil(batch as u64);
    let count = writers.len() as u64;
    let rounds = Arc::new(Rounds::new(writes.div_ceil(count)));
    let cpus = allowed_cpus();
    let drain = {
        let reader = Drain {
            cpu: cpus.get(1).copied(),
            block_bytes: block.len() as u64,
            rounds: (options.rate > 0).then(|| rounds.clone()),
        };
        std::thread::spawn(move || reader.run(readers))
    };
    if let Some(&cpu) = cpus.first() {
        pin_to(cpu);
    }
    let start = Instant::now();
    let cpu_before = thread_cpu_us();
    for write in 0..writes {
        if write % count == 0 {
            let round = write / count;
            if options.rate > 0 && round > 0 {
                // The next round starts on the next tick, as the next published event would.
                let due = start + Duration::from_secs_f64(round as f64 / f64::from(options.rate));
                std::thread::sleep(due.saturating_duration_since(Instant::now()));
            }
            rounds.start(round);
        }
        // `&TcpStream` implements `Write`: no mutable borrow of the list is needed.
        let mut writer = &writers[(write % count) as usize];
        writer.write_all(&block).map_err(io)?;
    }
    let cpu = thread_cpu_us().saturating_sub(cpu_before) as f64;
    let elapsed = start.elapsed().as_secs_f64();
    drop(writers);
    let drained = drain.join().unwrap_or_default();
    if drained.bytes != writes * block.len() as u64 {
        return Err(BenchError::Protocol("the floor's reader lost bytes"));
    }
    let sent = writes * batch as u64;
    Ok(Row {
        events_per_write: batch,
        writes,
        cpu_us_per_event: cpu / sent as f64,
        cpu_us_per_write: cpu / writes as f64,
        events_per_s: sent as f64 / elapsed.max(f64::EPSILON),
        latency: drained.latency.as_ref().map(Latency::from_histogram),
    })
}

/// `count` connected loopback pairs: (writing ends, non-blocking reading ends).
fn connect_pairs(count: usize) -> std::io::Result<(Vec<TcpStream>, Vec<TcpStream>)> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    let mut writers = Vec::with_capacity(count);
    let mut readers = Vec::with_capacity(count);
    for _ in 0..count {
        writers.push(TcpStream::connect(address)?);
        let (reader, _) = listener.accept()?;
        reader.set_nonblocking(true)?;
        readers.push(reader);
    }
    Ok((writers, readers))
}

/// The reading side: every connection, until all are closed.
struct Drain {
    cpu: Option<usize>,
    /// Bytes of one write.
    block_bytes: u64,
    /// Paced runs: when each round started, to time each write read.
    rounds: Option<Arc<Rounds>>,
}

#[derive(Default)]
struct Drained {
    bytes: u64,
    latency: Option<Histogram<u64>>,
}

impl Drain {
    /// Reads until every connection is closed. It sleeps in `epoll_wait` like a real client, so
    /// each write pays for waking it, as a hub's writes do (on loopback the wake-up is charged
    /// to the writer).
    fn run(self, mut readers: Vec<TcpStream>) -> Drained {
        if let Some(cpu) = self.cpu {
            pin_to(cpu);
        }
        let mut drained = Drained {
            bytes: 0,
            latency: self.rounds.is_some().then(stats::histogram),
        };
        let Some(epoll) = Epoll::watching(&readers) else {
            return drained;
        };
        let mut received = vec![0u64; readers.len()];
        let mut buffer = vec![0u8; 1 << 16];
        let mut ready = vec![libc::epoll_event { events: 0, u64: 0 }; 1024];
        let mut open = readers.len();
        while open > 0 {
            for index in epoll.wait(&mut ready) {
                let Some(reader) = readers.get_mut(index) else {
                    continue;
                };
                let read = self.read_once(reader, &mut buffer, &mut received[index], &mut drained);
                if !read {
                    epoll.forget(reader);
                    open -= 1;
                }
            }
        }
        readers.clear();
        drained
    }

    /// One read of a ready connection (level-triggered epoll reports what is left); false once
    /// it is closed.
    fn read_once(
        &self,
        reader: &mut TcpStream,
        buffer: &mut [u8],
        received: &mut u64,
        drained: &mut Drained,
    ) -> bool {
        match reader.read(buffer) {
            Ok(0) => false,
            Ok(n) => {
                let before = *received;
                *received += n as u64;
                drained.bytes += n as u64;
                self.time_writes(before, *received, &mut drained.latency);
                true
            }
            Err(error) => error.kind() == std::io::ErrorKind::WouldBlock,
        }
    }

    /// Records the latency of each write completed by a read that took a connection from
    /// `before` to `after` bytes.
    fn time_writes(&self, before: u64, after: u64, latency: &mut Option<Histogram<u64>>) {
        let (Some(rounds), Some(histogram)) = (&self.rounds, latency.as_mut()) else {
            return;
        };
        let now = rounds.now_ns();
        for round in before / self.block_bytes..after / self.block_bytes {
            if let Some(ns) = rounds.since_start_ns(round, now) {
                let _ = histogram.record(ns.max(1_000));
            }
        }
    }
}

/// The reader's epoll instance (level-triggered), closed on drop.
struct Epoll(i32);

impl Epoll {
    /// Watches every reader for input; the event's data is the reader's index.
    fn watching(readers: &[TcpStream]) -> Option<Epoll> {
        use std::os::fd::AsRawFd;
        // SAFETY: epoll_create1 has no preconditions; the descriptor is closed on drop.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return None;
        }
        let epoll = Epoll(fd);
        for (index, reader) in readers.iter().enumerate() {
            let mut event = libc::epoll_event {
                events: libc::EPOLLIN as u32,
                u64: index as u64,
            };
            // SAFETY: both descriptors are open; `event` outlives the call.
            unsafe { libc::epoll_ctl(fd, libc::EPOLL_CTL_ADD, reader.as_raw_fd(), &mut event) };
        }
        Some(epoll)
    }

    /// Waits up to 1 s; the indexes of the ready readers.
    fn wait<'a>(&self, ready: &'a mut [libc::epoll_event]) -> impl Iterator<Item = usize> + 'a {
        let room = ready.len().min(i32::MAX as usize) as i32;
        // SAFETY: `ready` has room for the `room` events asked for.
        let count = unsafe { libc::epoll_wait(self.0, ready.as_mut_ptr(), room, 1000) };
        ready
            .iter()
            .take(count.max(0) as usize)
            .map(|event| event.u64 as usize)
    }

    fn forget(&self, reader: &TcpStream) {
        use std::os::fd::AsRawFd;
        // SAFETY: the descriptor is registered and still open.
        unsafe {
            libc::epoll_ctl(
                self.0,
                libc::EPOLL_CTL_DEL,
                reader.as_raw_fd(),
                std::ptr::null_mut(),
            )
        };
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: closing the descriptor this value owns.
        unsafe { libc::close(self.0) };
    }
}

/// The CPUs this process may run on (its `taskset`), in order.
fn allowed_cpus() -> Vec<usize> {
    // SAFETY: sched_getaffinity fills the zeroed set it is given.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::cpu_set_t>();
    if unsafe { libc::sched_getaffinity(0, size, &mut set) } != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below CPU_SETSIZE.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
}

/// Pins the calling thread, so the writer and the reader do not share a core when two are
/// allowed (as a hub and its clients would not).
fn pin_to(cpu: usize) {
    // SAFETY: CPU_SET on a zeroed set with cpu < CPU_SETSIZE; pid 0 is the calling thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_every_batch_size_and_delivers_every_byte() {
        let report = run(&Options {
            events: 2_000,
            payload: 100,
            batches: vec![1, 16],
            connections: 10,
            rate: 0,
        })
        .expect("floor");
        assert!(report.frame_bytes > 100);
        assert_eq!(report.rows.len(), 2);
        assert_eq!(report.rows[0].writes, 2_000);
        assert_eq!(report.rows[1].writes, 125);
        assert!(report.rows.iter().all(|row| row.latency.is_none()));
        assert!(report.rows.iter().all(|row| row.events_per_s > 0.0));
    }

    #[test]
    fn a_paced_floor_writes_one_round_per_tick() {
        let report = run(&Options {
            events: 200,
            payload: 100,
            batches: vec![1],
            connections: 10,
            rate: 1000,
        })
        .expect("floor");
        // 20 rounds at 1,000 rounds/s take at least 19 ms: at most about 10,500 events/s.
        assert!(
            report.rows[0].events_per_s < 12_000.0,
            "{:?}",
            report.rows[0]
        );
        assert_eq!(report.rows[0].writes, 200);
        let latency = report.rows[0]
            .latency
            .as_ref()
            .expect("a paced run is timed");
        assert_eq!(latency.count, 200, "every write is timed once");
        assert!(latency.min_us > 0.0 && latency.p99_us >= latency.p50_us);
    }
}
