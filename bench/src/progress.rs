//! A progress line on stderr during long runs.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;

const EVERY: Duration = Duration::from_secs(2);

/// Prints `label: N unit (R/s)` every two seconds until dropped.
pub(super) struct Progress {
    task: Option<JoinHandle<()>>,
}

impl Progress {
    pub(super) fn start(
        enabled: bool,
        label: &'static str,
        unit: &'static str,
        counter: Rc<Cell<u64>>,
    ) -> Progress {
        if !enabled {
            return Progress { task: None };
        }
        let task = tokio::task::spawn_local(async move {
            let start = Instant::now();
            let mut last = counter.get();
            let mut tick = tokio::time::interval_at((start + EVERY).into(), EVERY);
            loop {
                tick.tick().await;
                let now = counter.get();
                let rate = (now - last) as f64 / EVERY.as_secs_f64();
                last = now;
                eprintln!(
                    "[{label} {:>5.1}s] {now} {unit} ({rate:.0}/s)",
                    start.elapsed().as_secs_f64()
                );
            }
        });
        Progress { task: Some(task) }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
