//! Connection limits for subscriptions (protocol.md C-LIM-3, B-SUB-8): in total and per client
//! address, answered with 429. Off (0) by default.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use dashmap::DashMap;
use futures_core::Stream;

#[derive(Debug, Default)]
pub struct ConnectionLimiter {
    max_total: usize,
    max_per_ip: usize,
    total: AtomicUsize,
    per_ip: DashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
pub struct Permit {
    limiter: Arc<ConnectionLimiter>,
    ip: Option<IpAddr>,
    counted: bool,
}

impl ConnectionLimiter {
    pub fn new(max_total: usize, max_per_ip: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total,
            max_per_ip,
            ..Self::default()
        })
    }

    /// A place for a new subscription from `ip`, or `None` when a limit is reached.
    pub fn acquire(self: &Arc<Self>, ip: Option<IpAddr>) -> Option<Permit> {
        if self.max_total == 0 && self.max_per_ip == 0 {
            return Some(Permit {
                limiter: self.clone(),
                ip: None,
                counted: false,
            });
        }
        let total = self.total.fetch_add(1, Ordering::AcqRel) + 1;
        if self.max_total > 0 && total > self.max_total {
            self.total.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        let ip = ip.filter(|_| self.max_per_ip > 0);
        if let Some(ip) = ip {
            let mut count = self.per_ip.entry(ip).or_insert(0);
            if *count >= self.max_per_ip {
                drop(count);
                self.total.fetch_sub(1, Ordering::AcqRel);
                return None;
            }
            *count += 1;
        }
        Some(Permit {
            limiter: self.clone(),
            ip,
            counted: true,
        })
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if !self.counted {
            return;
        }
        self.limiter.total.fetch_sub(1, Ordering::AcqRel);
        if let Some(ip) = self.ip {
            let emptied = self.limiter.per_ip.get_mut(&ip).is_some_and(|mut count| {
                *count = count.saturating_sub(1);
                *count == 0
            });
            if emptied {
                self.limiter.per_ip.remove_if(&ip, |_, count| *count == 0);
            }
        }
    }
}

/// A response body that holds its connection's permit for as long as it streams.
pub(super) struct Limited<S> {
    pub inner: S,
    /// Held, never read: dropping the body frees the place.
    pub _permit: Permit,
}

impl<S: Stream + Unpin> Stream for Limited<S> {
    type Item = S::Item;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<S::Item>> {
        Pin::new(&mut self.inner).poll_next(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_total_and_per_ip_and_frees_on_drop() {
        let limiter = ConnectionLimiter::new(3, 2);
        let a: IpAddr = "127.0.0.1".parse().expect("ip");
        let b: IpAddr = "127.0.0.2".parse().expect("ip");
        let first = limiter.acquire(Some(a)).expect("1st");
        let _second = limiter.acquire(Some(a)).expect("2nd");
        assert!(limiter.acquire(Some(a)).is_none(), "per-ip limit");
        let _third = limiter.acquire(Some(b)).expect("other ip");
        assert!(limiter.acquire(Some(b)).is_none(), "total limit");
        drop(first);
        assert!(limiter.acquire(Some(a)).is_some());
    }

    #[test]
    fn unlimited_by_default() {
        let limiter = ConnectionLimiter::new(0, 0);
        let permits: Vec<_> = (0..100).map(|_| limiter.acquire(None)).collect();
        assert!(permits.iter().all(Option::is_some));
    }
}
