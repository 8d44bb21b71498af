//! Idle workers and waiting callers, grouped by home shard so a caller
//! gets a worker of its own event loop whenever one is free (see
//! `shards.rs`). Unsharded pools have one home and behave as a plain
//! LIFO idle list with FIFO waiters.

use std::collections::VecDeque;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::worker::Worker;

/// How much longer than the local one a waiter of another shard may have
/// waited before a released worker goes to it instead: locality first,
/// but a shard without free workers (one crashed, or fewer workers than
/// shards) is never starved.
const LOCALITY_PATIENCE: Duration = Duration::from_millis(1);

pub(crate) struct Queue {
    pub(crate) idle: IdleWorkers,
    pub(crate) waiters: Waiters,
    pub(crate) closed: bool,
}

impl Queue {
    pub(crate) fn new(homes: usize, capacity: usize) -> Self {
        Self {
            idle: IdleWorkers::new(homes, capacity),
            waiters: Waiters::new(homes),
            closed: false,
        }
    }
}

/// Idle workers by home; within a home the most recently used is at the
/// back and goes first, which keeps hot workers hot and lets extras idle
/// out.
pub(crate) struct IdleWorkers {
    by_home: Vec<VecDeque<Worker>>,
}

impl IdleWorkers {
    fn new(homes: usize, capacity: usize) -> Self {
        Self {
            by_home: (0..homes.max(1))
                .map(|_| VecDeque::with_capacity(capacity))
                .collect(),
        }
    }

    pub(crate) fn push(&mut self, worker: Worker) {
        let home = worker.state.home.min(self.by_home.len() - 1);
        self.by_home[home].push_back(worker);
    }

    /// The most recently used worker of `home`; else one of the home with
    /// the most idle workers.
    pub(crate) fn pop(&mut self, home: Option<usize>) -> Option<Worker> {
        if let Some(worker) = home
            .and_then(|h| self.by_home.get_mut(h))
            .and_then(VecDeque::pop_back)
        {
            return Some(worker);
        }
        self.by_home
            .iter_mut()
            .max_by_key(|q| q.len())
            .and_then(VecDeque::pop_back)
    }

    /// Takes out the workers matching `pred`, keeping the others in order.
    pub(crate) fn take_where(&mut self, mut pred: impl FnMut(&Worker) -> bool) -> Vec<Worker> {
        let mut taken = Vec::new();
        for q in &mut self.by_home {
            for worker in std::mem::take(q) {
                if pred(&worker) {
                    taken.push(worker);
                } else {
                    q.push_back(worker);
                }
            }
        }
        taken
    }

    /// Takes out up to `n` least recently used workers, from the homes
    /// with the most idle workers first (so the homes stay balanced).
    pub(crate) fn take_least_recent(&mut self, n: usize) -> Vec<Worker> {
        let mut taken = Vec::new();
        while taken.len() < n {
            let Some(worker) = self
                .by_home
                .iter_mut()
                .max_by_key(|q| q.len())
                .and_then(VecDeque::pop_front)
            else {
                break;
            };
            taken.push(worker);
        }
        taken
    }

    pub(crate) fn drain(&mut self) -> Vec<Worker> {
        self.take_where(|_| true)
    }

    pub(crate) fn iter(&self) -> impl Iterator<Item = &Worker> {
        self.by_home.iter().flatten()
    }
}

struct Waiter {
    since: Instant,
    tx: oneshot::Sender<Worker>,
}

/// Callers waiting for a worker, oldest first, by the home of the caller
/// (the last queue holds callers from outside every shard).
pub(crate) struct Waiters {
    by_home: Vec<VecDeque<Waiter>>,
}

impl Waiters {
    fn new(homes: usize) -> Self {
        Self {
            by_home: (0..=homes.max(1)).map(|_| VecDeque::new()).collect(),
        }
    }

    pub(crate) fn push(&mut self, home: Option<usize>, tx: oneshot::Sender<Worker>) {
        self.push_at(home, tx, Instant::now());
    }

    fn push_at(&mut self, home: Option<usize>, tx: oneshot::Sender<Worker>, since: Instant) {
        let anywhere = self.by_home.len() - 1;
        let q = home.filter(|h| *h < anywhere).unwrap_or(anywhere);
        self.by_home[q].push_back(Waiter { since, tx });
    }

    /// Waiters, including ones that gave up but are not yet removed.
    pub(crate) fn len(&self) -> usize {
        self.by_home.iter().map(VecDeque::len).sum()
    }

    /// Waiters still waiting.
    pub(crate) fn open(&self) -> usize {
        self.by_home
            .iter()
            .flatten()
            .filter(|w| !w.tx.is_closed())
            .count()
    }

    pub(crate) fn remove_closed(&mut self) {
        for q in &mut self.by_home {
            q.retain(|w| !w.tx.is_closed());
        }
    }

    pub(crate) fn clear(&mut self) {
        self.by_home.iter_mut().for_each(VecDeque::clear);
    }

    /// The waiter a released worker of `home` goes to: the older of the
    /// first local caller and the first caller from outside the shards,
    /// unless a caller of another shard has waited `LOCALITY_PATIENCE`
    /// longer.
    pub(crate) fn pop_for(&mut self, home: usize) -> Option<oneshot::Sender<Worker>> {
        let anywhere = self.by_home.len() - 1;
        let front = |q: usize| self.by_home[q].front().map(|w| w.since);
        let mut best: Option<(usize, Instant)> = None;
        for q in [home.min(anywhere), anywhere] {
            if let Some(since) = front(q) {
                if best.is_none_or(|(_, b)| since < b) {
                    best = Some((q, since));
                }
            }
        }
        for q in 0..anywhere {
            if q == home {
                continue;
            }
            if let Some(since) = front(q) {
                let overdue = best.is_none_or(|(_, b)| since + LOCALITY_PATIENCE < b);
                if overdue {
                    best = Some((q, since));
                }
            }
        }
        let (q, _) = best?;
        self.by_home[q].pop_front().map(|w| w.tx)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// Queues callers (home, microseconds after t0) and returns which of
    /// them (by position) released workers of `homes` go to, in order.
    fn order(shards: usize, callers: &[(Option<usize>, u64)], homes: &[usize]) -> Vec<usize> {
        let t0 = Instant::now();
        let mut q = Waiters::new(shards);
        let mut rxs: Vec<_> = callers
            .iter()
            .map(|&(home, us)| {
                let (tx, rx) = oneshot::channel();
                q.push_at(home, tx, t0 + Duration::from_micros(us));
                rx
            })
            .collect();
        let mut served = vec![false; rxs.len()];
        homes
            .iter()
            .map(|&home| {
                drop(q.pop_for(home).unwrap());
                // The chosen caller's receiver sees its sender gone.
                let i = (0..rxs.len())
                    .find(|&i| {
                        !served[i]
                            && matches!(
                                rxs[i].try_recv(),
                                Err(oneshot::error::TryRecvError::Closed)
                            )
                    })
                    .unwrap();
                served[i] = true;
                i
            })
            .collect()
    }

    #[test]
    fn released_workers_serve_their_own_shard_first() {
        // Shard 1's caller is older, but by less than the patience.
        assert_eq!(order(2, &[(Some(1), 0), (Some(0), 500)], &[0, 0]), [1, 0]);
    }

    #[test]
    fn a_caller_of_another_shard_that_waited_much_longer_goes_first() {
        assert_eq!(order(2, &[(Some(1), 0), (Some(0), 2_000)], &[0, 0]), [0, 1]);
    }

    #[test]
    fn callers_from_outside_the_shards_compete_by_age() {
        assert_eq!(
            order(2, &[(None, 0), (Some(1), 10), (None, 20)], &[1, 1, 0]),
            [0, 1, 2]
        );
    }

    #[test]
    fn unsharded_pools_are_fifo() {
        assert_eq!(
            order(1, &[(Some(0), 0), (None, 5), (Some(0), 9_000)], &[0, 0, 0]),
            [0, 1, 2]
        );
    }
}
