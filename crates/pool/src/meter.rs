//! A pool's traffic meter: answered requests, server errors and a latency
//! histogram, kept in atomics so that recording costs a few relaxed adds
//! and readers (the dashboard, once a second) never take a lock.
//!
//! Hand-written rather than `hdrhistogram`: that crate's histogram needs
//! `&mut` to record (a mutex on the hot path, or one per thread plus a
//! merge), while fixed log-linear buckets in atomics are a few lines and
//! precise enough for p50/p99 on an operator's page (within 1/8 of the
//! value).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Sub-buckets per power of two (relative error at most 1/8).
const SUB: u64 = 8;
/// Buckets: values 0..8 µs exactly, then 8 per power of two up to ~2^33 µs
/// (2.4 hours); longer requests land in the last bucket.
pub const BUCKETS: usize = 256;

/// Counters one pool's callers record into (see [`crate::Pool::meter`]).
#[derive(Debug)]
pub struct Meter {
    requests: AtomicU64,
    errors: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

impl Default for Meter {
    fn default() -> Self {
        Self {
            requests: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            latency: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The bucket of a latency in microseconds.
fn bucket(micros: u64) -> usize {
    if micros < SUB {
        return micros as usize;
    }
    let exp = u64::from(63 - micros.leading_zeros());
    let sub = (micros >> (exp - 3)) & (SUB - 1);
    usize::try_from((exp - 2) * SUB + sub).map_or(BUCKETS - 1, |i| i.min(BUCKETS - 1))
}

/// The smallest latency (µs) of bucket `index`, and its width.
fn bounds(index: usize) -> (u64, u64) {
    let index = index as u64;
    if index < SUB {
        return (index, 1);
    }
    let exp = index / SUB + 2;
    let sub = index % SUB;
    let width = 1u64 << (exp - 3);
    ((SUB + sub) * width, width)
}

impl Meter {
    /// One answered request that took `elapsed`; `error` when it failed on
    /// the server's side (an HTTP 5xx, a worker error).
    pub fn record(&self, elapsed: Duration, error: bool) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if error {
            self.errors.fetch_add(1, Ordering::Relaxed);
        }
        let micros = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.latency[bucket(micros)].fetch_add(1, Ordering::Relaxed);
    }

    /// The counters since the pool started.
    pub fn read(&self) -> Reading {
        Reading {
            requests: self.requests.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            latency: std::array::from_fn(|i| self.latency[i].load(Ordering::Relaxed)),
        }
    }
}

/// A copy of a [`Meter`]'s counters; two readings give the traffic between
/// them ([`Reading::since`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reading {
    /// Requests recorded.
    pub requests: u64,
    /// Of which server errors.
    pub errors: u64,
    latency: [u64; BUCKETS],
}

impl Default for Reading {
    fn default() -> Self {
        Self {
            requests: 0,
            errors: 0,
            latency: [0; BUCKETS],
        }
    }
}

impl Reading {
    /// What was recorded after `earlier` (saturating: a reading is never
    /// older than the one before it, but no panic if it were).
    pub fn since(&self, earlier: &Reading) -> Reading {
        Reading {
            requests: self.requests.saturating_sub(earlier.requests),
            errors: self.errors.saturating_sub(earlier.errors),
            latency: std::array::from_fn(|i| self.latency[i].saturating_sub(earlier.latency[i])),
        }
    }

    /// The latency at quantile `q` (0..=1): the middle of the bucket that
    /// holds it; `None` when nothing was recorded.
    pub fn quantile(&self, q: f64) -> Option<Duration> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        // The rank of the q-quantile, 1-based (nearest-rank method).
        let rank = ((q.clamp(0.0, 1.0) * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (index, count) in self.latency.iter().enumerate() {
            seen += count;
            if seen >= rank {
                let (low, width) = bounds(index);
                return Some(Duration::from_nanos(
                    low.saturating_mul(1000)
                        .saturating_add(width.saturating_mul(500)),
                ));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_monotonic() {
        let mut previous = 0;
        for micros in 0..200_000u64 {
            let b = bucket(micros);
            assert!(
                b == previous || b == previous + 1,
                "{micros}: {b} after {previous}"
            );
            let (low, width) = bounds(b);
            assert!(
                low <= micros && micros < low + width,
                "{micros} not in {low}+{width}"
            );
            previous = b;
        }
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn quantiles_of_a_known_spread() {
        let meter = Meter::default();
        let before = meter.read();
        assert_eq!(before.quantile(0.5), None);
        // 98 fast requests (1 ms), 2 slow ones (200 ms), one a 5xx.
        for _ in 0..98 {
            meter.record(Duration::from_millis(1), false);
        }
        meter.record(Duration::from_millis(200), true);
        meter.record(Duration::from_millis(200), false);
        let window = meter.read().since(&before);
        assert_eq!((window.requests, window.errors), (100, 1));
        let p50 = window.quantile(0.5).unwrap();
        let p99 = window.quantile(0.99).unwrap();
        assert!(
            p50 >= Duration::from_micros(900) && p50 <= Duration::from_micros(1130),
            "{p50:?}"
        );
        assert!(
            p99 >= Duration::from_millis(180) && p99 <= Duration::from_millis(226),
            "{p99:?}"
        );
        // A later window sees only what came after.
        let mark = meter.read();
        meter.record(Duration::from_micros(3), false);
        let later = meter.read().since(&mark);
        assert_eq!(later.requests, 1);
        assert_eq!(later.quantile(0.99), Some(Duration::from_nanos(3500)));
    }
}
