//! The plugin's priority queue: every pipeline feeds its ready jobs here
//! and the pollers take the one with the lowest priority number first
//! (first in, first out among equals).

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use std::sync::Mutex;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::driver::Delivery;

struct Entry {
    priority: i64,
    seq: u64,
    delivery: Delivery,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    // BinaryHeap is a max-heap: the "greatest" entry is the lowest
    // priority number, then the oldest.
    fn cmp(&self, other: &Self) -> Ordering {
        other
            .priority
            .cmp(&self.priority)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}

/// The shared priority queue.
#[derive(Default)]
pub struct JobQueue {
    heap: Mutex<BinaryHeap<Entry>>,
    seq: AtomicU64,
    ready: Notify,
}

impl JobQueue {
    /// An empty queue.
    pub fn new() -> Self {
        Self::default()
    }

    fn heap(&self) -> std::sync::MutexGuard<'_, BinaryHeap<Entry>> {
        self.heap
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Adds deliveries and wakes as many pollers.
    pub fn insert(&self, deliveries: impl IntoIterator<Item = Delivery>) {
        let mut n = 0;
        {
            let mut heap = self.heap();
            for delivery in deliveries {
                let seq = self.seq.fetch_add(1, AtomicOrdering::Relaxed);
                heap.push(Entry {
                    priority: delivery.job.priority,
                    seq,
                    delivery,
                });
                n += 1;
            }
        }
        for _ in 0..n {
            self.ready.notify_one();
        }
    }

    /// The next delivery, waiting for one; `None` once `stop` is cancelled.
    pub async fn pop(&self, stop: &CancellationToken) -> Option<Delivery> {
        loop {
            let notified = self.ready.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(entry) = self.heap().pop() {
                return Some(entry.delivery);
            }
            tokio::select! {
                () = &mut notified => {}
                () = stop.cancelled() => return None,
            }
        }
    }

    /// Takes out every delivery of `pipeline` (pause, stop, destroy).
    pub fn remove_pipeline(&self, pipeline: &str) -> Vec<Delivery> {
        let mut heap = self.heap();
        let (gone, kept): (Vec<Entry>, Vec<Entry>) = std::mem::take(&mut *heap)
            .into_vec()
            .into_iter()
            .partition(|e| e.delivery.job.pipeline == pipeline);
        *heap = BinaryHeap::from(kept);
        gone.into_iter().map(|e| e.delivery).collect()
    }

    /// Deliveries waiting for a poller.
    pub fn len(&self) -> usize {
        self.heap().len()
    }

    /// Whether no delivery is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
