//! Group commit: one thread fsyncs whatever was appended since its last flush, and every
//! publisher waiting for a position at or below it is answered at once.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use parking_lot::{Condvar, Mutex};
use tokio::sync::watch;

use super::LogError;

/// The shortest time between two flushes: it bounds the flush rate under load, while a lone
/// publish waits at most this much longer.
const MIN_FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(2);

#[derive(Debug, Clone, Default)]
struct Durable {
    /// Everything at or below this position is on disk.
    flushed: u64,
    /// Positions at or below this one were in a flush that failed.
    failed_upto: u64,
}

pub struct Flusher {
    appended: Mutex<u64>,
    wake: Condvar,
    stopping: AtomicBool,
    durable: watch::Sender<Durable>,
}

impl Flusher {
    /// Starts the flushing thread; `recovered` is already on disk.
    pub fn start(db: sled::Db, recovered: u64) -> Result<(Arc<Self>, JoinHandle<()>), LogError> {
        let flusher = Arc::new(Self {
            appended: Mutex::new(recovered),
            wake: Condvar::new(),
            stopping: AtomicBool::new(false),
            durable: watch::Sender::new(Durable {
                flushed: recovered,
                failed_upto: 0,
            }),
        });
        let worker = flusher.clone();
        let thread = std::thread::Builder::new()
            .name("quicksilver-flush".into())
            .spawn(move || worker.run(&db))
            .map_err(|e| LogError::Storage(format!("cannot start the flush thread: {e}")))?;
        Ok((flusher, thread))
    }

    pub fn appended(&self, position: u64) {
        let mut appended = self.appended.lock();
        *appended = (*appended).max(position);
        self.wake.notify_one();
    }

    pub fn stop(&self) {
        self.stopping.store(true, Ordering::Release);
        let _guard = self.appended.lock();
        self.wake.notify_one();
    }

    pub async fn wait(self: Arc<Self>, position: u64) -> Result<(), LogError> {
        let mut receiver = self.durable.subscribe();
        let state = receiver
            .wait_for(|d| d.flushed >= position || d.failed_upto >= position)
            .await
            .map_err(|_| LogError::Storage("the flush thread stopped".into()))?;
        if state.flushed >= position {
            Ok(())
        } else {
            Err(LogError::Storage(
                "flushing the history to disk failed".into(),
            ))
        }
    }

    fn run(&self, db: &sled::Db) {
        let mut flushed = self.durable.borrow().flushed;
        let mut last_flush = std::time::Instant::now();
        loop {
            // Group commit: give concurrent publishers a moment to join the next flush instead
            // of paying one flush each.
            let since = last_flush.elapsed();
            if since < MIN_FLUSH_INTERVAL {
                std::thread::sleep(MIN_FLUSH_INTERVAL - since);
            }
            let target = {
                let mut appended = self.appended.lock();
                while *appended <= flushed && !self.stopping.load(Ordering::Acquire) {
                    self.wake.wait(&mut appended);
                }
                if *appended <= flushed {
                    return;
                }
                *appended
            };
            last_flush = std::time::Instant::now();
            match db.flush() {
                Ok(_) => {
                    flushed = target;
                    self.durable.send_modify(|d| d.flushed = target);
                }
                Err(error) => {
                    tracing::error!(%error, "flushing the history to disk failed");
                    self.durable.send_modify(|d| d.failed_upto = target);
                    // Later appends get their own attempt; don't spin on a broken disk.
                    flushed = target;
                    std::thread::sleep(std::time::Duration::from_millis(100));
                }
            }
        }
    }
}
