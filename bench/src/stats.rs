//! Latency histograms and delivery integrity checks.

use hdrhistogram::Histogram;
use serde::Serialize;

use super::payload::Stamp;

/// A latency histogram in nanoseconds (1 µs … 100 s, 3 significant digits).
pub fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1_000, 100_000_000_000, 3)
        .expect("constant histogram bounds are valid")
}

/// Records a duration in nanoseconds, clamping to the histogram's range.
pub fn record(histogram: &mut Histogram<u64>, nanos: u64) {
    let value = nanos.clamp(histogram.low(), histogram.high());
    let _ = histogram.record(value);
}

/// Latency percentiles in microseconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Latency {
    pub count: u64,
    pub min_us: f64,
    pub p50_us: f64,
    pub p90_us: f64,
    pub p99_us: f64,
    pub p999_us: f64,
    pub max_us: f64,
    pub mean_us: f64,
}

impl Latency {
    pub fn from_histogram(h: &Histogram<u64>) -> Latency {
        if h.is_empty() {
            return Latency::default();
        }
        let us = |ns: u64| ns as f64 / 1_000.0;
        Latency {
            count: h.len(),
            min_us: us(h.min()),
            p50_us: us(h.value_at_quantile(0.5)),
            p90_us: us(h.value_at_quantile(0.9)),
            p99_us: us(h.value_at_quantile(0.99)),
            p999_us: us(h.value_at_quantile(0.999)),
            max_us: us(h.max()),
            mean_us: h.mean() / 1_000.0,
        }
    }
}

/// Counts of what one or more subscribers received against what they should have.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Integrity {
    pub expected: u64,
    pub received: u64,
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    /// Events whose payload the bench did not write.
    pub foreign: u64,
}

impl Integrity {
    pub fn add(&mut self, other: &Integrity) {
        self.expected += other.expected;
        self.received += other.received;
        self.lost += other.lost;
        self.duplicates += other.duplicates;
        self.out_of_order += other.out_of_order;
        self.foreign += other.foreign;
    }

    /// No loss, no duplicate, no reordering.
    pub fn is_exact(&self) -> bool {
        self.lost == 0 && self.duplicates == 0 && self.out_of_order == 0
    }
}

/// Tracks the stamped events one subscriber received, without allocating per event.
#[derive(Debug)]
pub struct Tracker {
    seen: Vec<u64>,
    last_by_publisher: Vec<u64>,
    unique: u64,
    counts: Integrity,
}

const NONE: u64 = u64::MAX;

impl Tracker {
    /// For sequence numbers below `events`, from `publishers` ordered publishers.
    pub fn new(events: u64, publishers: u32) -> Tracker {
        Tracker {
            seen: vec![0; events.div_ceil(64) as usize],
            last_by_publisher: vec![NONE; publishers.max(1) as usize],
            unique: 0,
            counts: Integrity::default(),
        }
    }

    /// Records one received payload stamp (or `None` for a foreign payload).
    pub fn record(&mut self, stamp: Option<Stamp>) {
        self.counts.received += 1;
        let Some(stamp) = stamp else {
            self.counts.foreign += 1;
            return;
        };
        let (word, bit) = ((stamp.seq / 64) as usize, 1u64 << (stamp.seq % 64));
        let Some(slot) = self.seen.get_mut(word) else {
            self.counts.foreign += 1;
            return;
        };
        if *slot & bit != 0 {
            self.counts.duplicates += 1;
            return;
        }
        *slot |= bit;
        self.unique += 1;
        if let Some(last) = self.last_by_publisher.get_mut(stamp.publisher as usize) {
            if *last != NONE && stamp.seq < *last {
                self.counts.out_of_order += 1;
            } else {
                *last = stamp.seq;
            }
        }
    }

    /// Distinct stamped events received so far.
    pub fn unique(&self) -> u64 {
        self.unique
    }

    /// Final counts given how many distinct events were expected.
    pub fn finish(&self, expected: u64) -> Integrity {
        Integrity {
            expected,
            lost: expected.saturating_sub(self.unique),
            ..self.counts
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(seq: u64, publisher: u32) -> Option<Stamp> {
        Some(Stamp {
            seq,
            publisher,
            sent_ns: 0,
        })
    }

    #[test]
    fn counts_loss_duplicates_and_reordering() {
        let mut t = Tracker::new(10, 2);
        for (seq, p) in [(0, 0), (1, 1), (2, 0), (2, 0), (3, 1), (6, 0), (4, 0)] {
            t.record(stamp(seq, p));
        }
        t.record(None);
        let c = t.finish(8);
        assert_eq!(c.received, 8);
        assert_eq!(c.duplicates, 1);
        assert_eq!(c.out_of_order, 1);
        assert_eq!(c.foreign, 1);
        assert_eq!(c.lost, 2);
    }

    #[test]
    fn latency_summary() {
        let mut h = histogram();
        for us in 1..=100u64 {
            record(&mut h, us * 1_000);
        }
        let l = Latency::from_histogram(&h);
        assert_eq!(l.count, 100);
        assert!((l.p50_us - 50.0).abs() < 0.5);
        assert!((l.max_us - 100.0).abs() < 0.5);
    }
}
